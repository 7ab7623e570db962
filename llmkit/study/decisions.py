"""Decisions from probabilities (the finance case study): what a threshold costs (:func:`decision_cost`), the
cheapest threshold on validation rows (:func:`cost_threshold`), what it saves against 0.5 (:func:`saving`), and whether the probabilities mean what they
say (:func:`calibration`). A row is flagged (a loan declined) when its probability is >= the threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd


def _counts(y: np.ndarray, p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per threshold in ``t``: tn, fp, fn, tp when rows with ``p >= t`` are flagged."""
    pos_sorted, neg_sorted = np.sort(p[y == 1]), np.sort(p[y == 0])
    fn = np.searchsorted(pos_sorted, t, side="left")  # positives with p < t
    tn = np.searchsorted(neg_sorted, t, side="left")
    return tn, neg_sorted.size - tn, fn, pos_sorted.size - fn


def decision_cost(
    y_true: ArrayLike,  # [n] 0/1, 1 = the event (a default)
    p_positive: ArrayLike,  # [n] predicted probability of class 1
    threshold: float | ArrayLike,  # one threshold, or an array of them
    cost_fn: float,  # cost of a missed event (a default approved)
    cost_fp: float,  # cost of a false alarm (a good customer declined)
) -> float | np.ndarray:
    """Cost per row of flagging every row with ``p >= threshold``: (cost_fn * missed + cost_fp * false alarms) / n."""
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    p = np.asarray(p_positive, dtype=np.float64).reshape(-1)
    t = np.asarray(threshold, dtype=np.float64)
    if p.size != y.size or y.size == 0:
        raise LlmkitError(
            f"decision_cost: expected y_true and p_positive of one length n > 0, got {y.size}, {p.size}"
        )
    _, fp, fn, _ = _counts(y, p, t.reshape(-1))
    cost = (cost_fn * fn + cost_fp * fp) / y.size
    return float(cost[0]) if t.ndim == 0 else cost


def cost_threshold(
    y_true: ArrayLike,  # [n] 0/1, 1 = the event (a default)
    p_positive: ArrayLike,  # [n] predicted probability of class 1, on validation rows
    cost_fn: float,  # cost of a missed event (a default approved)
    cost_fp: float,  # cost of a false alarm (a good customer declined)
) -> dict[str, Any]:
    """The threshold ``t`` (flag a row when ``p >= t``) with the least cost per row on these rows.

    Candidates are 0 and the midpoints between consecutive distinct probabilities (and one above the
    largest); ties in cost go to the candidate nearest the Bayes threshold ``cost_fp / (cost_fp + cost_fn)``,
    which is the best one when the probabilities are calibrated and is reported beside it.
    Returns threshold, cost_per_row, bayes_threshold, cost_per_row_at_bayes, cost_per_row_at_0.5, and the
    confusion counts tn, fp, fn, tp at the threshold.
    """
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    p = np.asarray(p_positive, dtype=np.float64).reshape(-1)
    if p.size != y.size or y.size == 0 or not np.isin(y, (0, 1)).all():
        raise LlmkitError(
            f"cost_threshold: expected y_true of 0/1 and p_positive of the same length n > 0, got "
            f"{y.size} labels (values {np.unique(y)[:4].tolist()}) and {p.size} probabilities"
        )
    if cost_fn < 0 or cost_fp < 0 or cost_fn + cost_fp == 0:
        raise LlmkitError(
            f"cost_fn, cost_fp: expected non-negative costs, not both 0, got {cost_fn}, {cost_fp}"
        )
    distinct = np.unique(p)
    above = np.nextafter(distinct[-1], np.inf)
    candidates = np.r_[0.0, (distinct[1:] + distinct[:-1]) / 2, above]
    bayes = cost_fp / (cost_fp + cost_fn)

    def cost(t: np.ndarray) -> np.ndarray:
        return np.asarray(decision_cost(y, p, t, cost_fn, cost_fp))

    costs = cost(candidates)
    best = np.flatnonzero(np.isclose(costs, costs.min(), rtol=0, atol=1e-12))
    t = float(candidates[best[np.argmin(np.abs(candidates[best] - bayes))]])
    tn, fp, fn, tp = (int(c[0]) for c in _counts(y, p, np.array([t])))
    return {
        "threshold": t,
        "cost_per_row": float(cost(np.array([t]))[0]),
        "bayes_threshold": float(bayes),
        "cost_per_row_at_bayes": float(cost(np.array([bayes]))[0]),
        "cost_per_row_at_0.5": float(cost(np.array([0.5]))[0]),
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
    }


def saving(
    y_true: ArrayLike,  # [n] 0/1 test rows
    p_positive: ArrayLike,  # [n] predicted probability of class 1
    threshold: float,  # the threshold to judge (e.g. cost_threshold's, chosen on validation rows)
    cost_fn: float,
    cost_fp: float,
    *,
    baseline: float = 0.5,  # the threshold it is compared with
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Cost per row at ``baseline`` minus cost per row at ``threshold`` (> 0: ``threshold`` is cheaper), with a
    95% bootstrap interval over the rows (:func:`llmkit.core.evaluate.bootstrap_interval`): (saving, lo, hi)."""
    from llmkit.core.evaluate import bootstrap_interval

    def gain(y: np.ndarray, p: np.ndarray) -> float:
        return float(
            decision_cost(y, p, baseline, cost_fn, cost_fp) - decision_cost(y, p, threshold, cost_fn, cost_fp)
        )

    low, high = bootstrap_interval(gain, y_true, p_positive, n_resamples=n_resamples, seed=seed)
    return gain(np.asarray(y_true), np.asarray(p_positive)), low, high


def calibration(y_true: ArrayLike, p_positive: ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Per equal-width bin of the predicted probability of class 1: its mean, the observed rate, the rows.

    Not :func:`llmkit.core.evaluate.reliability_curve`, which bins the top-class confidence (it folds 0.1 and
    0.9 together); a lender needs "of the customers given 10%, how many defaulted". Bin b holds (b/bins,
    (b+1)/bins] (0 in the first); empty bins show 0 rows and NaN.
    """
    import pandas as pd

    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(p_positive, dtype=np.float64).reshape(-1)
    if p.size != y.size or y.size == 0:
        raise LlmkitError(
            f"calibration: expected y_true and p_positive of one length n > 0, got {y.size}, {p.size}"
        )
    b = np.clip(np.ceil(p * bins).astype(int) - 1, 0, bins - 1)
    rows = np.bincount(b, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(b, weights=p, minlength=bins) / rows
        observed = np.bincount(b, weights=y, minlength=bins) / rows
    edges = np.linspace(0, 1, bins + 1)
    return pd.DataFrame(
        {
            "bin": [f"{a:.2f}-{z:.2f}" for a, z in zip(edges[:-1], edges[1:], strict=True)],
            "mean predicted": mean_p,
            "observed": observed,
            "rows": rows,
        }
    )
