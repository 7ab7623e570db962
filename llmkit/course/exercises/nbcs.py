"""Exercises of the healthcare case study (ids "cs.*"); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _record_text(row: dict[str, Any]) -> str:
    return " ".join(
        f"The {k} is {v:g}." if isinstance(v, float) else f"The {k} is {v}." for k, v in row.items()
    )


@register(
    "cs.record_text",
    prompt="Write record_text(row): 'The <key> is <value>.' for each key of the dict, in order, joined by spaces.",
    reference=_record_text,
    wrong=lambda row: ", ".join(f"{k}: {v}" for k, v in row.items()),
    hint="One sentence per column, as TabLLM serializes a row: f'The {key} is {value}.' (floats with :g), "
    "joined with ' '.",
)
def _check_record_text(answer: Any) -> None:
    for row in ({"age": 50, "bmi": 31.2}, {"glucose": 148.0, "pregnancies": 6, "sex": "F"}):
        got, want = call(answer, dict(row)), _record_text(row)
        if got != want:
            raise AssertionError(f"on {row}: expected {want!r}, got {got!r}")


@register(
    "cs.best_accuracy",
    prompt="Write best_accuracy(noise): the accuracy of the true rule when a fraction noise of labels is flipped.",
    reference=lambda noise: 1.0 - noise,
    wrong=lambda noise: 1.0,
    hint="The rule is right on every unflipped label and wrong on every flipped one, and no model can know "
    "which were flipped: 1 - noise.",
)
def _check_best_accuracy(answer: Any) -> None:
    for noise in (0.05, 0.0, 0.2):
        expect_close(call(answer, noise), 1.0 - noise, on=f"noise = {noise}")


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.log(p[:, 1]) - np.log(p[:, 0])


@register(
    "cs.log_odds",
    prompt="Write log_odds(p): log p[:, 1] - log p[:, 0] for probabilities p of shape [n, 2].",
    reference=_log_odds,
    wrong=lambda p: np.asarray(p)[:, 1] - np.asarray(p)[:, 0],
    hint="Take logs first: log(p1 / p0) = log p1 - log p0; the difference of the probabilities is not it.",
)
def _check_log_odds(answer: Any) -> None:
    p = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    got = np.asarray(call(answer, p.copy()), dtype=np.float64).reshape(-1)
    expect_close(got, _log_odds(p), on="[[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]")
