"""Scale and perplexity in bits per byte (notebook 09, section 4): models with different tokenizers, a unigram
and general-purpose compressors, all on one scale.

Perplexity per token depends on the tokenizer (a tokenizer with longer tokens has fewer, harder tokens), so
models are compared by **bits per byte**: the total negative log-likelihood of a text in bits divided by its
UTF-8 bytes. A compressor's output length is a code length in the same unit (Shannon: a model that gives the
text probability p can code it in about -log2 p bits), so gzip and lzma sit on the same axis.

* :func:`bits_per_byte` -- nats (or bits) and bytes to bits per byte;
* :func:`text_chunks` -- whole lines packed into chunks, the units a model scores and a bootstrap resamples;
* :func:`causal_lm_bits` -- a causal LM's bits on each chunk (each chunk read from a start token);
* :func:`unigram_bits` -- an order-0 byte model fitted on other text (add-one smoothing);
* :func:`compressed_bits` -- gzip or lzma, alone or after reading other text first (conditional code length).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from llmkit.core.errors import LlmkitError

LN2 = math.log(2.0)


def bits_per_byte(total: float, n_bytes: int, unit: Literal["nats", "bits"] = "nats") -> float:
    """``total`` negative log-likelihood (in ``unit``) of a text of ``n_bytes`` UTF-8 bytes, in bits per byte."""
    if n_bytes <= 0:
        raise LlmkitError(f"n_bytes: expected a positive byte count, got {n_bytes!r}")
    if unit not in ("nats", "bits"):
        raise LlmkitError(f"unit: expected 'nats' or 'bits', got {unit!r}")
    return float(total) / (LN2 if unit == "nats" else 1.0) / n_bytes


def text_chunks(text: str, chunk_bytes: int, max_bytes: int | None = None) -> list[str]:
    """Whole lines of ``text`` packed into chunks of about ``chunk_bytes`` UTF-8 bytes (a longer line is its own
    chunk), stopping before ``max_bytes`` in all. Each chunk keeps its line breaks, so the chunks joined by
    newlines are the slice scored."""
    if chunk_bytes < 1:
        raise LlmkitError(f"chunk_bytes: expected >= 1, got {chunk_bytes!r}")
    chunks: list[str] = []
    lines: list[str] = []
    size = total = 0
    for line in text.split("\n"):
        n = len(line.encode()) + 1
        if max_bytes is not None and total + n > max_bytes:
            break
        if lines and size + n > chunk_bytes:
            chunks.append("\n".join(lines))
            lines, size = [], 0
        lines.append(line)
        size, total = size + n, total + n
    if lines:
        chunks.append("\n".join(lines))
    return [c for c in chunks if c.strip()]


def causal_lm_bits(
    model: Any,
    tokenizer: Any,
    chunks: Sequence[str],
    start_id: int,  # the token each chunk is read after (SmolLM2's <|endoftext|>, its document separator)
) -> np.ndarray:
    """``[chunks]`` the model's negative log-likelihood of every token of each chunk, in bits: each chunk is
    tokenized alone and read after ``start_id``, so its first token is predicted too and the chunk's bits code
    all of its bytes (a byte-level BPE tokenizer round-trips any text)."""
    import torch

    out = np.empty(len(chunks))
    with torch.inference_mode():
        for i, chunk in enumerate(chunks):
            ids = tokenizer(chunk, add_special_tokens=False)["input_ids"]
            if tokenizer.decode(ids) != chunk:
                raise LlmkitError(
                    f"chunk {i}: the tokenizer does not round-trip it, so bits would not code its bytes"
                )
            x = torch.tensor([[start_id, *ids]])  # [1, 1 + tokens]
            logits = model(input_ids=x).logits[0, :-1].float()  # [tokens, vocab]: position t predicts t + 1
            nll = torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum")
            out[i] = float(nll) / LN2
    return out


def unigram_bits(train_text: str, chunks: Sequence[str]) -> np.ndarray:
    """``[chunks]`` bits of each chunk under an order-0 byte model: byte frequencies of ``train_text`` plus one
    (so no byte has probability 0). It knows which letters are common and nothing about words."""
    counts = np.bincount(np.frombuffer(train_text.encode(), dtype=np.uint8), minlength=256) + 1.0
    bits = -np.log2(counts / counts.sum())  # [256]
    return np.array([bits[np.frombuffer(c.encode(), dtype=np.uint8)].sum() for c in chunks])


def compressed_bits(text: str, method: Literal["gzip", "lzma"], context: str = "") -> float:
    """Bits ``method`` needs for ``text``: the compressed length of ``context + text`` minus that of ``context``
    (a compressor that has read ``context`` first, as a model has read its training data; gzip sees only the
    last 32 KB of it). Container headers count, which charges a short text a few dozen bytes."""
    import gzip
    import lzma

    if method not in ("gzip", "lzma"):
        raise LlmkitError(f"method: expected 'gzip' or 'lzma', got {method!r}")

    def size(data: bytes) -> int:
        if method == "gzip":
            return len(gzip.compress(data, compresslevel=9, mtime=0))
        return len(lzma.compress(data, preset=9))

    prior = size(context.encode()) if context else 0
    return 8.0 * (size((context + text).encode()) - prior)
