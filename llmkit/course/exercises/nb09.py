"""Exercises of notebook 09 (ids "09.*"); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _rms_norm(x: Any, weight: Any, eps: float) -> np.ndarray:
    x, weight = np.asarray(x, dtype=np.float64), np.asarray(weight, dtype=np.float64)
    return weight * x / np.sqrt((x**2).mean(axis=-1, keepdims=True) + eps)


def _top_p_keep(probs: Any, p: float) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]  # probability of the tokens ranked above
    keep = np.zeros(len(probs), dtype=bool)
    keep[order[before < p]] = True
    return keep


def _decode_bound(bandwidth_gbs: float, params: float, bytes_per_param: float) -> float:
    return bandwidth_gbs * 1e9 / (params * bytes_per_param)


@register(
    "09.rms_norm",
    prompt="Write rms_norm(x, weight, eps): Llama's RMSNorm over the last axis of x.",
    reference=_rms_norm,
    wrong=lambda x, weight, eps: (
        np.asarray(weight)
        * (np.asarray(x) - np.asarray(x).mean(-1, keepdims=True))
        / np.sqrt(np.asarray(x).var(-1, keepdims=True) + eps)
    ),
    hint="RMSNorm subtracts no mean: divide x by sqrt(mean(x**2) + eps) over the last axis, then scale by weight.",
)
def _check_rms(answer: Any) -> None:
    rng = np.random.default_rng(0)
    for shape in ((5,), (3, 8)):
        x, w = rng.normal(1.0, 2.0, size=shape), rng.normal(size=shape[-1])
        expect_close(call(answer, x.copy(), w.copy(), 1e-5), _rms_norm(x, w, 1e-5), on=f"x of shape {shape}")


@register(
    "09.top_p_keep",
    prompt="Write top_p_keep(probs, p): a boolean mask of the nucleus -- the fewest most likely tokens whose "
    "probabilities sum to at least p.",
    reference=_top_p_keep,
    wrong=lambda probs, p: np.asarray(probs) >= p,
    hint="Sort the probabilities from the largest; keep a token while the probability of the tokens ranked above "
    "it is still below p (so the token that crosses p is kept too).",
)
def _check_top_p(answer: Any) -> None:
    probs = np.array([0.05, 0.4, 0.1, 0.3, 0.15])
    for p in (0.3, 0.5, 0.9, 1.0):
        got = np.asarray(call(answer, probs.copy(), p), dtype=bool)
        expect_close(got, _top_p_keep(probs, p), on=f"p = {p}")


@register(
    "09.decode_bound",
    prompt="Write decode_bound(bandwidth_gbs, params, bytes_per_param): the most tokens/s batch-1 decoding can "
    "reach when every weight is read once per token.",
    reference=_decode_bound,
    wrong=lambda bandwidth_gbs, params, bytes_per_param: bandwidth_gbs * 1e9 / params,
    hint="Bytes read per token = params x bytes_per_param; tokens/s = bytes per second / bytes per token.",
)
def _check_bound(answer: Any) -> None:
    for args in ((20.0, 134.5e6, 4), (20.0, 134.5e6, 1), (3000.0, 7e9, 2)):
        expect_close(call(answer, *args), _decode_bound(*args), on=f"{args}", rtol=1e-9)


def _answer_labels(input_ids: Any, prompt_length: int) -> np.ndarray:
    labels = np.array(input_ids, dtype=np.int64).copy()
    labels[:prompt_length] = -100
    return labels


@register(
    "09.answer_labels",
    prompt="Write answer_labels(input_ids, prompt_length): the labels of one SFT example -- the loss must count "
    "only the answer, so every prompt token is labelled -100 and every answer token keeps its id.",
    reference=_answer_labels,
    wrong=lambda input_ids, prompt_length: np.array(input_ids, dtype=np.int64),
    hint="Copy input_ids and set the first prompt_length labels to -100 (the value cross-entropy ignores); "
    "the model shifts labels by one itself, so do not shift them.",
)
def _check_answer_labels(answer: Any) -> None:
    rng = np.random.default_rng(0)
    for length, prompt_length in ((8, 5), (12, 11), (4, 0)):
        ids = rng.integers(0, 49152, size=length)
        got = call(answer, ids.copy(), prompt_length)
        expect_close(
            got, _answer_labels(ids, prompt_length), on=f"{length} tokens, prompt of {prompt_length}"
        )
