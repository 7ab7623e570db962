"""Exercises of the finance case study (ids "fin.*"); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _expected_cost(y: Any, p: Any, threshold: float, cost_fn: float, cost_fp: float) -> float:
    y, p = np.asarray(y), np.asarray(p, dtype=np.float64)
    declined = p >= threshold
    missed = (~declined) & (y == 1)
    refused = declined & (y == 0)
    return float((cost_fn * missed.sum() + cost_fp * refused.sum()) / len(y))


@register(
    "fin.expected_cost",
    prompt="Write expected_cost(y, p, threshold, cost_fn, cost_fp): the cost per applicant of declining every "
    "applicant whose default probability p is >= threshold (y = 1: defaulted).",
    reference=_expected_cost,
    wrong=lambda y, p, threshold, cost_fn, cost_fp: float(
        np.mean((np.asarray(p) >= threshold) != (np.asarray(y) == 1))
    ),
    hint="A missed default (not declined, y = 1) costs cost_fn; a declined good customer (declined, y = 0) costs "
    "cost_fp; add them up and divide by the number of applicants.",
)
def _check_expected_cost(answer: Any) -> None:
    y = np.array([1, 0, 0, 1, 0, 0])
    p = np.array([0.9, 0.6, 0.1, 0.2, 0.3, 0.05])
    for threshold, fn, fp in ((0.5, 5.0, 1.0), (0.25, 5.0, 1.0), (0.95, 10.0, 1.0)):
        expect_close(call(answer, y.copy(), p.copy(), threshold, fn, fp), _expected_cost(y, p, threshold, fn, fp),
                     on=f"threshold {threshold}, cost_fn {fn}, cost_fp {fp}")  # fmt: skip


@register(
    "fin.bayes_threshold",
    prompt="Write bayes_threshold(cost_fn, cost_fp): the default probability above which declining costs less "
    "than lending, for calibrated probabilities.",
    reference=lambda cost_fn, cost_fp: cost_fp / (cost_fp + cost_fn),
    wrong=lambda cost_fn, cost_fp: cost_fn / (cost_fp + cost_fn),
    hint="Decline when p * cost_fn (lending to a defaulter) exceeds (1 - p) * cost_fp (declining a good "
    "customer): solve p * cost_fn = (1 - p) * cost_fp for p.",
)
def _check_bayes_threshold(answer: Any) -> None:
    for fn, fp in ((5.0, 1.0), (1.0, 1.0), (20.0, 2.0)):
        expect_close(call(answer, fn, fp), fp / (fp + fn), on=f"cost_fn {fn}, cost_fp {fp}")


@register(
    "fin.floor_pr_auc",
    prompt="Write floor_pr_auc(y): the PR-AUC (average precision) of a model that gives every applicant the "
    "same score, for labels y (1 = defaulted).",
    reference=lambda y: float(np.mean(np.asarray(y) == 1)),
    wrong=lambda y: 0.5,
    hint="With one score for all, every threshold declines everyone or no one: precision is the default rate "
    "at every recall, so the area is the default rate, not 0.5 (that is ROC-AUC's floor).",
)
def _check_floor_pr_auc(answer: Any) -> None:
    for y in (np.array([1, 0, 0, 0]), np.array([0] * 97 + [1] * 3), np.array([1, 1, 0])):
        expect_close(
            call(answer, y.copy()), float(np.mean(y == 1)), on=f"{int(y.sum())} defaults in {len(y)}"
        )
