"""Exercises of notebook 10 (ids "10.*"); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _dp_difference(y_pred: Any, groups: Any) -> float:
    y_pred, groups = np.asarray(y_pred), np.asarray(groups)
    rates = [y_pred[groups == g].mean() for g in np.unique(groups)]
    return float(max(rates) - min(rates))


def _tpr_gap(y: Any, y_pred: Any, groups: Any, a: str, b: str) -> float:
    y, y_pred, groups = np.asarray(y), np.asarray(y_pred), np.asarray(groups)
    return float(y_pred[(groups == a) & (y == 1)].mean() - y_pred[(groups == b) & (y == 1)].mean())


def _ig(grads: Any, x: Any, baseline: Any) -> np.ndarray:
    grads, x, baseline = (np.asarray(v, dtype=np.float64) for v in (grads, x, baseline))
    return ((x - baseline) * grads.mean(axis=0)).sum(axis=-1)


GROUPS = np.array(["a", "a", "a", "b", "b", "b", "b", "c"])
Y = np.array([1, 0, 1, 1, 1, 0, 0, 1])
PRED = np.array([1, 0, 0, 1, 1, 1, 0, 0])


@register(
    "10.dp_difference",
    prompt="Write dp_difference(y_pred, groups): the largest minus the smallest selection rate (share predicted "
    "1) over the groups.",
    reference=_dp_difference,
    wrong=lambda y_pred, groups: float(
        np.asarray(y_pred)[np.asarray(groups) == np.unique(groups)[0]].mean()
        - np.asarray(y_pred)[np.asarray(groups) == np.unique(groups)[1]].mean()
    ),
    hint="Compute each group's mean prediction, then max minus min over all groups (not only the first two).",
)
def _check_dp(answer: Any) -> None:
    for pred in (PRED, 1 - PRED, np.ones_like(PRED)):
        expect_close(
            call(answer, pred.copy(), GROUPS.copy()), _dp_difference(pred, GROUPS), on=f"y_pred {pred}"
        )


@register(
    "10.tpr_gap",
    prompt="Write tpr_gap(y, y_pred, groups, a, b): group a's true positive rate minus group b's (signed).",
    reference=_tpr_gap,
    wrong=lambda y, y_pred, groups, a, b: float(
        np.asarray(y_pred)[np.asarray(groups) == a].mean()
        - np.asarray(y_pred)[np.asarray(groups) == b].mean()
    ),
    hint="The TPR counts only the group's positives (y == 1): of those, the share predicted 1.",
)
def _check_tpr_gap(answer: Any) -> None:
    for a, b in (("a", "b"), ("b", "a"), ("a", "c")):
        expect_close(call(answer, Y.copy(), PRED.copy(), GROUPS.copy(), a, b), _tpr_gap(Y, PRED, GROUPS, a, b),
                     on=f"groups {a} - {b}")  # fmt: skip


@register(
    "10.integrated_gradients",
    prompt="Write integrated_gradients(grads, x, baseline): per-token IG from the gradients [steps, T, d] taken "
    "along the straight path, the input x [T, d] and the baseline [T, d].",
    reference=_ig,
    wrong=lambda grads, x, baseline: (np.asarray(x) * np.asarray(grads).mean(axis=0)).sum(axis=-1),
    hint="Average the gradients over the steps, multiply by (x - baseline), and sum over the embedding dimension.",
)
def _check_ig(answer: Any) -> None:
    rng = np.random.default_rng(0)
    for steps in (1, 4):
        grads, x, base = rng.normal(size=(steps, 3, 5)), rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
        expect_close(
            call(answer, grads.copy(), x.copy(), base.copy()), _ig(grads, x, base), on=f"{steps} steps"
        )
