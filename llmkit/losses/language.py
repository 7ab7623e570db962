"""The language-model loss: next-token negative log-likelihood and perplexity, with uniform and unigram
baselines (notebooks 01 and 02)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from llmkit.losses.arrays import Array, as_float

# ---------------------------------------------------------------------- next-token loss and perplexity


def next_token_nll(log_probs: ArrayLike, targets: ArrayLike) -> float:
    """Mean negative log-likelihood (nats per token) of ``targets`` [T] under ``log_probs``.

    ``log_probs`` is [T, V] (one next-token distribution per position) or [V] (the same distribution at
    every position, as for a unigram model).
    """
    logp, targets = as_float(log_probs), np.asarray(targets)
    picked = logp[targets] if logp.ndim == 1 else logp[np.arange(targets.shape[0]), targets]  # [T]
    return float(-picked.mean())


def perplexity(mean_nll: float) -> float:
    """exp(mean NLL): the number of equally likely tokens the model is as unsure as."""
    return float(np.exp(mean_nll))


def uniform_log_probs(vocab_size: int) -> Array:
    """The know-nothing model: log(1/V) for every token.   # [V]"""
    return np.full(vocab_size, -np.log(vocab_size))


def unigram_log_probs(token_ids: ArrayLike, vocab_size: int, smoothing: float = 1.0) -> Array:
    """Token frequencies with add-``smoothing`` (Laplace) counts, as log-probabilities.   # [V]"""
    counts = np.bincount(np.asarray(token_ids), minlength=vocab_size).astype(np.float64) + smoothing
    return np.log(counts / counts.sum())
