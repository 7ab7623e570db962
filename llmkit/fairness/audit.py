"""The fairness audit (notebook 10): per-group rates with fairlearn's ``MetricFrame``, and the disparities between
groups -- demographic parity and equalized odds, as differences and ratios -- each with a 95% bootstrap interval
over the test rows, so that a disparity inside its own noise is not reported as a finding.

The intervals reuse the analyst engine's shared resampling (:func:`llmkit.study.scoring.resample_counts`): each
resample is a row of counts ``w`` (how often each test row was drawn), and every group's rate is a ratio of two
count-weighted sums, so all resamples of all rates are two matrix products.

==========================  ==========================================================================
selection rate              share of the group predicted positive
TPR, FPR                    share of the group's positives (negatives) predicted positive
demographic parity diff.    max minus min selection rate over the groups (0 = parity)
demographic parity ratio    min over max selection rate (1 = parity)
equalized odds diff.        the larger of the TPR and the FPR differences (fairlearn's worst case)
equalized odds ratio        the smaller of the TPR and the FPR ratios
==========================  ==========================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd

RATES = ("selection rate", "TPR", "FPR", "accuracy")
DISPARITIES = (
    "demographic parity difference",
    "demographic parity ratio",
    "equalized odds difference",
    "equalized odds ratio",
)


def checked(
    y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``y_true`` and ``y_pred`` as 0/1 ints and ``groups`` as strings, all of one length (else one-line error)."""
    y, yhat, g = (
        np.asarray(y_true).reshape(-1),
        np.asarray(y_pred).reshape(-1),
        np.asarray(groups).reshape(-1),
    )
    if not y.size == yhat.size == g.size or y.size == 0:
        raise LlmkitError(
            f"y_true, y_pred, groups: expected one value per row each, got {y.size}, {yhat.size}, {g.size}"
        )
    for name, values in (("y_true", y), ("y_pred", yhat)):
        if not np.isin(values, (0, 1)).all():
            raise LlmkitError(f"{name}: expected 0/1 labels, got values {sorted(set(values.tolist()))[:5]}")
    if np.unique(g).size < 2:
        raise LlmkitError(f"groups: expected at least two groups, got {np.unique(g).tolist()}")
    return y.astype(np.int64), yhat.astype(np.int64), g.astype(str)


def group_table(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> pd.DataFrame:
    """One row per group: rows, base rate, selection rate, TPR, FPR and accuracy (fairlearn ``MetricFrame``)."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    y, yhat, g = checked(y_true, y_pred, groups)
    frame = MetricFrame(
        metrics={"rows": count, "base rate": lambda t, p: float(np.mean(t)), "selection rate": selection_rate,
                 "TPR": true_positive_rate, "FPR": false_positive_rate, "accuracy": accuracy_score},
        y_true=y, y_pred=yhat, sensitive_features=g,
    )  # fmt: skip
    table = frame.by_group
    table["rows"] = table["rows"].astype(int)
    return table


def _rate_features(y: np.ndarray, yhat: np.ndarray, g: np.ndarray, names: list[str]) -> np.ndarray:
    """``[4 x groups x 2, n]``: per rate and group, the numerator and denominator indicators of each row."""
    rows = []
    for name in names:
        member = (g == name).astype(np.float64)
        for condition in (
            np.ones_like(member),
            (y == 1) * 1.0,
            (y == 0) * 1.0,
        ):  # all rows, positives, negatives
            rows += [member * condition * yhat, member * condition]
        rows += [member * (y == yhat), member]
    return np.asarray(rows)  # order: (sel, tpr, fpr, acc) x (num, den) per group


def _rates(sums: np.ndarray, k: int) -> np.ndarray:
    """``[c, 4, k]`` rates from ``[c, 8k]`` sums (NaN where a group has no such rows)."""
    s = sums.reshape(sums.shape[0], k, 4, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s[..., 1] > 0, s[..., 0] / s[..., 1], np.nan).transpose(0, 2, 1)


def _disparities(rates: np.ndarray) -> dict[str, np.ndarray]:
    """The four disparities of each resample from its ``[c, 4, k]`` rates."""
    import warnings

    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without a group's positives: NaN there
        high, low = np.nanmax(rates, axis=2), np.nanmin(rates, axis=2)  # [c, 4]
        ratio = np.where(high > 0, low / high, np.nan)
    difference = high - low
    return {
        DISPARITIES[0]: difference[:, 0],
        DISPARITIES[1]: ratio[:, 0],
        DISPARITIES[2]: np.maximum(difference[:, 1], difference[:, 2]),
        DISPARITIES[3]: np.minimum(ratio[:, 1], ratio[:, 2]),
    }


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if not finite.size:
        return np.nan, np.nan
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def _resampled_rates(
    y: np.ndarray, yhat: np.ndarray, g: np.ndarray, names: list[str], seed: int, n_resamples: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``[1, 4, k]`` rates of the test rows and the ``[n_resamples, 4, k]`` rates of each resample."""
    from threadpoolctl import threadpool_limits

    from llmkit.study.scoring import resample_counts

    features = _rate_features(y, yhat, g, names)
    point = _rates(features.sum(axis=1)[None, :], len(names))
    with threadpool_limits(1, user_api="blas"):
        draws = np.concatenate(
            [_rates(w @ features.T, len(names)) for w in resample_counts(y.size, n_resamples, seed)]
        )
    return point, draws


def rate_intervals(
    y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike, *, seed: int = 0, n_resamples: int = 200,
    level: float = 0.95,
) -> pd.DataFrame:  # fmt: skip
    """Each group's rates (selection rate, TPR, FPR, accuracy) with their bootstrap intervals, on the same
    resamples as :func:`disparity_table` with the same seed: one row per group and rate, columns ``group``,
    ``rate``, ``value``, ``lo``, ``hi`` (NaN where the group has no such rows, e.g. no positives for TPR)."""
    import pandas as pd

    y, yhat, g = checked(y_true, y_pred, groups)
    names = sorted(set(g.tolist()))
    point, draws = _resampled_rates(y, yhat, g, names, seed, n_resamples)
    rows = []
    for j, group in enumerate(names):
        for r, rate in enumerate(RATES):
            lo, hi = _percentiles(draws[:, r, j], level)
            rows.append({"group": group, "rate": rate, "value": float(point[0, r, j]), "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


def disparity_table(
    y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike, *,
    gap: tuple[str, str] | None = None,  # also each rate of group a minus group b, signed, e.g. ("F", "M")
    seed: int = 0, n_resamples: int = 200, level: float = 0.95,
) -> pd.DataFrame:  # fmt: skip
    """Each disparity (and, with ``gap``, each signed rate difference a - b) with its bootstrap interval:
    columns ``value``, ``lo``, ``hi``, ``excludes 0`` (differences) or ``excludes 1`` (ratios)."""
    import pandas as pd

    y, yhat, g = checked(y_true, y_pred, groups)
    names = sorted(set(g.tolist()))
    if gap is not None and not set(gap) <= set(names):
        raise LlmkitError(f"gap: expected two of the groups {names}, got {list(gap)}")
    point, draws = _resampled_rates(y, yhat, g, names, seed, n_resamples)
    values, resampled = _disparities(point), _disparities(draws)
    if gap is not None:
        a, b = names.index(gap[0]), names.index(gap[1])
        for r, rate in enumerate(RATES):
            name = f"{rate} {gap[0]} - {gap[1]}"
            values[name], resampled[name] = point[:, r, a] - point[:, r, b], draws[:, r, a] - draws[:, r, b]
    rows = []
    for name, value in values.items():
        lo, hi = _percentiles(resampled[name], level)
        neutral = 1.0 if "ratio" in name else 0.0
        rows.append({"disparity": name, "value": float(value[0]), "lo": lo, "hi": hi,
                     "excludes parity": bool(lo > neutral or hi < neutral)})  # fmt: skip
    return pd.DataFrame(rows).set_index("disparity")


def fairlearn_disparities(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> dict[str, float]:
    """The four disparities as fairlearn computes them (what :func:`disparity_table`'s values must equal)."""
    from fairlearn.metrics import (
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        equalized_odds_ratio,
    )

    y, yhat, g = checked(y_true, y_pred, groups)
    functions: list[Any] = [demographic_parity_difference, demographic_parity_ratio, equalized_odds_difference,
                            equalized_odds_ratio]  # fmt: skip
    return {
        name: float(f(y, yhat, sensitive_features=g)) for name, f in zip(DISPARITIES, functions, strict=True)
    }


def calibration_by_group(
    y_true: ArrayLike, p_positive: ArrayLike, groups: ArrayLike, bins: int = 5
) -> pd.DataFrame:
    """Per group and probability bin (equal width): rows, mean predicted probability, observed positive rate.
    A model can be equally accurate for two groups and calibrated for only one."""
    import pandas as pd

    p = np.asarray(p_positive, dtype=np.float64).reshape(-1)
    y, _, g = checked(y_true, (p >= 0.5).astype(int), groups)
    if p.size != y.size or not ((p >= 0) & (p <= 1)).all():
        raise LlmkitError(f"p_positive: expected {y.size} probabilities in [0, 1], got {p.size} values")
    b = np.clip((p * bins).astype(int), 0, bins - 1)
    frame = pd.DataFrame({"group": g, "bin": b, "predicted": p, "observed": y})
    table = frame.groupby(["group", "bin"]).agg(rows=("observed", "size"), predicted=("predicted", "mean"),
                                                 observed=("observed", "mean"))  # fmt: skip
    return table.reset_index()


def calibration_error_by_group(
    y_true: ArrayLike, p_positive: ArrayLike, groups: ArrayLike, bins: int = 5
) -> dict[str, float]:
    """Each group's expected calibration error: the row-weighted mean |predicted - observed| over its bins."""
    table = calibration_by_group(y_true, p_positive, groups, bins)
    out = {}
    for group, part in table.groupby("group"):
        out[str(group)] = float(
            (part["rows"] * (part["predicted"] - part["observed"]).abs()).sum() / part["rows"].sum()
        )
    return out
