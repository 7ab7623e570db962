"""The analyst engine's scores: every metric with a 95% bootstrap interval, the stage table, a cost-weighted
threshold and a calibration table (:mod:`llmkit.study.engine`, the case studies).

:func:`score` takes the task, the true targets and a model's predictions -- class probabilities ``[n, k]``
(binary, multiclass) or values ``[n]`` (regression) -- and gives

==================  ====================================================================================
accuracy            share of rows whose most probable class is the true one
balanced accuracy   recall averaged over the classes present in ``y_true`` (the majority class gets 1/k)
macro F1            F1 averaged over all k classes (:func:`llmkit.core.evaluate.macro_f1`)
ROC-AUC             binary: of class 1; multiclass: one-vs-rest, macro; NaN when a class is absent
PR-AUC              average precision of class 1 (binary; the metric for rare events), macro over classes
                    for multiclass (NaN when a class is absent, like ROC-AUC)
ECE                 calibration error, 10 bins on the top-class confidence (lower is better)
MAE, RMSE, R²       regression (R² is NaN when the true values are all equal)
==================  ====================================================================================

The point estimates come from :mod:`llmkit.core.evaluate` and scikit-learn. The intervals are percentile
bootstrap intervals over the test rows, like :func:`llmkit.core.evaluate.bootstrap_interval`, but computed
for all metrics at once: one seeded draw of ``n_resamples`` resamples of the row indices, shared by every
metric, each resample held as a row of counts (how often each test row was drawn) so that every metric is a
weighted sum -- a matrix product, or a weighted pass over the rows sorted once by score for the AUCs. On
10,000 rows x 200 resamples that took 0.15 s for all six metrics, where ROC-AUC alone through
``bootstrap_interval`` (scikit-learn once per resample) took 3.2 s. A resample where a metric is undefined
(one class only: an AUC) gives NaN there and is left out of the percentiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd

CLASSIFICATION = ("accuracy", "balanced accuracy", "macro F1", "ROC-AUC", "PR-AUC", "ECE")
REGRESSION = ("MAE", "RMSE", "R²")
LOWER_IS_BETTER = ("ECE", "MAE", "RMSE")  # the others: higher is better
TASKS = ("binary", "multiclass", "regression")
ECE_BINS = 10
_CHUNK = 1 << 17  # counts held at once (resamples x rows): 1 MB of float64, ~2x faster than 16 MB


def score(
    task: str,  # "binary" | "multiclass" | "regression"
    y_true: ArrayLike,  # [n] classes 0..k-1, or values
    pred: ArrayLike,  # [n, k] class probabilities (binary also takes [n] of class 1), or [n] values
    *,
    seed: int = 0,
    n_resamples: int = 200,
    intervals: bool = True,  # also f"{m} lo" and f"{m} hi": the 95% bootstrap interval of each metric
    level: float = 0.95,
) -> dict[str, float]:
    """Every metric of ``task`` (:data:`CLASSIFICATION` or :data:`REGRESSION`) and its bootstrap interval."""
    y, p = _checked(task, y_true, pred)
    point = _regression_point(y, p) if task == "regression" else _classification_point(y, p)
    if not intervals:
        return point
    draws = resampled(task, y, p, n_resamples=n_resamples, seed=seed)
    out: dict[str, float] = {}
    for name, value in point.items():
        finite = draws[name][np.isfinite(draws[name])]
        lo, hi = (
            np.percentile(finite, [50 * (1 - level), 50 * (1 + level)]) if finite.size else (np.nan, np.nan)
        )
        out.update({name: value, f"{name} lo": float(lo), f"{name} hi": float(hi)})
    return out


def difference(
    task: str, y_true: ArrayLike, pred_a: ArrayLike, pred_b: ArrayLike, metric: str, *,
    seed: int = 0, n_resamples: int = 200, level: float = 0.95,
) -> tuple[float, float, float]:  # fmt: skip
    """``metric(a) - metric(b)`` on the same rows and its *paired* bootstrap interval: (difference, lo, hi).
    Paired because :func:`resampled` draws the same resamples for both (they depend on seed and n only)."""
    return _paired(np.subtract, task, y_true, pred_a, pred_b, metric, seed, n_resamples, level)


def ratio(
    task: str, y_true: ArrayLike, pred_a: ArrayLike, pred_b: ArrayLike, metric: str, *,
    seed: int = 0, n_resamples: int = 200, level: float = 0.95,
) -> tuple[float, float, float]:  # fmt: skip
    """``metric(a) / metric(b)`` (e.g. a student's retention of its teacher) and its paired interval."""
    return _paired(np.divide, task, y_true, pred_a, pred_b, metric, seed, n_resamples, level)


def _paired(combine: Any, task: str, y_true: ArrayLike, pred_a: ArrayLike, pred_b: ArrayLike, metric: str,
            seed: int, n_resamples: int, level: float) -> tuple[float, float, float]:  # fmt: skip
    a, b = score(task, y_true, pred_a, intervals=False), score(task, y_true, pred_b, intervals=False)
    if metric not in a:
        raise LlmkitError(f"metric {metric!r}: expected one of {', '.join(a)}")
    draws = (resampled(task, y_true, x, n_resamples=n_resamples, seed=seed)[metric] for x in (pred_a, pred_b))
    with np.errstate(invalid="ignore", divide="ignore"):
        both = combine(*draws)
    finite = both[np.isfinite(both)]
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)]) if finite.size else (np.nan, np.nan)
    return float(combine(a[metric], b[metric])), float(lo), float(hi)


def _checked(task: str, y_true: ArrayLike, pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    if task not in TASKS:
        raise LlmkitError(f"task: expected one of {list(TASKS)}, got {task!r}")
    p = np.asarray(pred, dtype=np.float64)
    if task == "regression":
        y = np.asarray(y_true, dtype=np.float64).reshape(-1)
        if p.ndim != 1 or p.size != y.size or y.size == 0:
            raise LlmkitError(f"pred: expected [n] values with n = {y.size} targets, got {list(p.shape)}")
        return y, p
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    if task == "binary" and p.ndim == 1:
        p = np.stack([1 - p, p], axis=1)  # [n] of class 1 -> [n, 2]
    k = 2 if task == "binary" else (p.shape[1] if p.ndim == 2 else 0)
    if p.ndim != 2 or p.shape[0] != y.size or p.shape[1] != k or y.size == 0 or k < 2:
        raise LlmkitError(
            f"pred: expected {task} probabilities [n, k] with n = {y.size} labels"
            f"{' and k = 2' if task == 'binary' else ''}, got {list(p.shape)}"
        )
    if y.min() < 0 or y.max() >= k:
        raise LlmkitError(
            f"y_true: expected classes 0..{k - 1} (one per pred column), got {y.min()}..{y.max()}"
        )
    return y, p


def _classification_point(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    import warnings

    from sklearn.metrics import average_precision_score, balanced_accuracy_score

    from llmkit.core import evaluate

    k = p.shape[1]
    labels = p.argmax(axis=1)
    present = np.bincount(y, minlength=k) > 0
    if k == 2:
        pr_auc = float(average_precision_score(y, p[:, 1])) if present[1] else np.nan
    else:
        pr_auc = (
            float(np.mean([average_precision_score(y == c, p[:, c]) for c in range(k)]))
            if present.all()
            else np.nan
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "y_pred contains classes not in y_true": left out
        balanced = float(balanced_accuracy_score(y, labels))
    return {
        "accuracy": evaluate.accuracy(y, labels),
        "balanced accuracy": balanced,
        "macro F1": evaluate.macro_f1(y, labels, k),
        "ROC-AUC": evaluate.roc_auc(y, p),
        "PR-AUC": pr_auc,
        "ECE": evaluate.expected_calibration_error(y, p, ECE_BINS),
    }


def _regression_point(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    r2 = float(r2_score(y, p, force_finite=False)) if np.ptp(y) > 0 else np.nan
    return {"MAE": float(mean_absolute_error(y, p)), "RMSE": float(root_mean_squared_error(y, p)), "R²": r2}


# ----------------------------------------------------------------------------------------------- bootstrap


def resample_counts(n: int, n_resamples: int, seed: int) -> Any:
    """The shared resampling, in chunks: ``[resamples, n]`` counts of each row in each resample (sum n).

    One generator draws the row indices of every resample in order, so the same seed and n give the same
    resamples whatever the metrics or the model. Chunks keep the arrays in cache (10,000 rows: 13 resamples
    at a time; 200,000 rows: one).
    """
    rng = np.random.default_rng(seed)
    per_chunk = max(1, min(n_resamples, _CHUNK // max(n, 1)))
    for start in range(0, n_resamples, per_chunk):
        idx = rng.integers(0, n, size=(min(per_chunk, n_resamples - start), n), dtype=np.int32)
        yield np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float64)


def resampled(
    task: str, y_true: ArrayLike, pred: ArrayLike, *, n_resamples: int = 200, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each metric on each resample of :func:`resample_counts`, ``{metric: [n_resamples]}`` (NaN where it is
    undefined): what :func:`score`'s intervals are the percentiles of.

    The resamples depend only on ``seed`` and the number of rows, so every model of a stage table scored with
    one seed is resampled on the same rows. The sums are one matrix product per chunk, on one BLAS thread
    (OpenBLAS's two threads ran it 40x slower, and erratically, with another program on one of 2 cores).
    """
    from threadpoolctl import threadpool_limits

    y, p = _checked(task, y_true, pred)
    if n_resamples < 1:
        raise LlmkitError(f"n_resamples: expected at least 1, got {n_resamples}")
    parts: list[dict[str, np.ndarray]] = []
    with threadpool_limits(1, user_api="blas"):
        if task == "regression":
            error = p - y
            yc = y - y.mean()  # centred: the sums of squares stay accurate
            features = np.stack([np.abs(error), error**2, yc, yc**2])  # [4, n]
            for w in resample_counts(y.size, n_resamples, seed):
                parts.append(_regression_sums((features @ w.T).T, y.size))
            return {m: np.concatenate([part[m] for part in parts]) for m in parts[0]}
        features, k = _classification_features(y, p)
        rankings = [_ranking(p[:, c], y == c) for c in ([1] if p.shape[1] == 2 else range(p.shape[1]))]
        for w in resample_counts(y.size, n_resamples, seed):
            part = _classification_sums((features @ w.T).T, k, y.size)
            curves = [_weighted_curves(w, *r) for r in rankings]  # per class: (ROC-AUC, PR-AUC) [c]
            part["ROC-AUC"] = np.mean([roc for roc, _ in curves], axis=0)  # NaN if any class is absent
            part["PR-AUC"] = np.mean([pr for _, pr in curves], axis=0)
            parts.append(part)
    return {m: np.concatenate([part[m] for part in parts]) for m in parts[0]}


def _regression_sums(s: np.ndarray, n: int) -> dict[str, np.ndarray]:
    abs_err, sq_err, yc, yc2 = s.T  # each [c]
    ss_tot = yc2 - yc**2 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(ss_tot > 0, 1 - sq_err / ss_tot, np.nan)
    return {"MAE": abs_err / n, "RMSE": np.sqrt(sq_err / n), "R²": r2}


def _classification_features(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, int]:
    """What the count-weighted sums need, one row per quantity ``[f, n]``: correct, true one-hot (k), hit
    one-hot (k), predicted one-hot (k), (correct - confidence) in its ECE bin (10); each chunk's sums are
    then one product ``features @ w.T``."""
    k = p.shape[1]
    labels = p.argmax(axis=1)
    confidence = p.max(axis=1)
    correct = (labels == y).astype(np.float64)
    true_1h = np.eye(k)[y]
    bins = np.clip(np.ceil(confidence * ECE_BINS).astype(int) - 1, 0, ECE_BINS - 1)  # as core.evaluate
    gap = np.eye(ECE_BINS)[bins] * (correct - confidence)[:, None]
    columns = [correct[:, None], true_1h, true_1h * correct[:, None], np.eye(k)[labels], gap]
    return np.ascontiguousarray(np.concatenate(columns, axis=1).T), k  # [f, n]


def _classification_sums(s: np.ndarray, k: int, n: int) -> dict[str, np.ndarray]:
    correct, true, hits, predicted = (
        s[:, 0],
        s[:, 1 : 1 + k],
        s[:, 1 + k : 1 + 2 * k],
        s[:, 1 + 2 * k : 1 + 3 * k],
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(true > 0, hits / true, np.nan)
        f1 = np.where(
            true + predicted > 0, 2 * hits / (true + predicted), 0.0
        )  # zero_division=0, as macro_f1
        balanced = np.nanmean(recall, axis=1)
    return {
        "accuracy": correct / n,
        "balanced accuracy": balanced,
        "macro F1": f1.mean(axis=1),
        "ECE": np.abs(s[:, 1 + 3 * k :]).sum(axis=1) / n,
    }


def _ranking(
    scores: np.ndarray, positive: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Rows by descending score (None: already so), the first row of each run of tied scores (None: no ties),
    and which of them are positive."""
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    identity = bool((order == np.arange(order.size)).all())
    return (None if identity else order), (None if starts.size == s.size else starts), positive[order] * 1.0


def _weighted_curves(
    w: np.ndarray, order: np.ndarray | None, starts: np.ndarray | None, positive: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision of each resample ``[c]``, rows weighted by their counts ``w`` ``[c, n]``.

    Tied scores form one threshold, as in scikit-learn: a tied (positive, negative) pair counts 1/2.
    """
    ws = w if order is None else w[:, order]
    pos = ws * positive  # [c, n] positives at each score, in descending order
    neg = ws - pos
    if starts is not None:  # one threshold per run of tied scores: [c, groups]
        pos, neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)  # above or at each threshold
    n_pos, n_neg = tp[:, -1], fp[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        below = n_neg[:, None] - fp  # negatives scored strictly lower
        roc = (pos * (below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (pos * precision).sum(axis=1) / n_pos
    defined = (n_pos > 0) & (n_neg > 0)
    return np.where(defined, roc, np.nan), np.where(n_pos > 0, ap, np.nan)


# ------------------------------------------------------------------------------------------------ tables


def stage_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per model: the floor rows (``kind == "floor"``) first, then the others in the order given.

    Columns: stage, model, kind, ran, why, then each metric with its ``lo`` and ``hi``, then anything else
    (seconds, size). A stage that did not run keeps its reason in ``why`` and blank (NaN) metrics.
    """
    import pandas as pd

    ordered = [r for r in rows if r.get("kind") == "floor"] + [r for r in rows if r.get("kind") != "floor"]
    df = pd.DataFrame([dict(r) for r in ordered])
    for column, default in (("stage", ""), ("model", ""), ("kind", ""), ("ran", True), ("why", "")):
        df[column] = df[column].fillna(default) if column in df else default
    df["ran"] = df["ran"].astype(bool)
    metrics = [m for m in (*CLASSIFICATION, *REGRESSION) if m in df]
    scored = [c for m in metrics for c in (m, f"{m} lo", f"{m} hi") if c in df]
    for column in scored:
        df[column] = pd.to_numeric(df[column], errors="coerce").astype(np.float64).where(df["ran"])
    head = ["stage", "model", "kind", "ran", "why", *scored]
    return df[head + [c for c in df.columns if c not in head]].reset_index(drop=True)


def format_table(df: pd.DataFrame) -> pd.DataFrame:
    """The stage table for display: each metric one string "0.812 [0.79, 0.83]", blank where missing."""
    out = df.copy()
    for m in (*CLASSIFICATION, *REGRESSION):
        if m not in out:
            continue
        blank = [np.nan] * len(out)
        lo = out.get(f"{m} lo", blank)
        hi = out.get(f"{m} hi", blank)
        out[m] = [_interval_text(v, a, b) for v, a, b in zip(out[m], lo, hi, strict=True)]
        out = out.drop(columns=[c for c in (f"{m} lo", f"{m} hi") if c in out])
    return out.astype(object).where(out.notna(), "")


def _decimals(x: float) -> int:
    """3 decimals below 1, then fewer as the number grows (12.3, 1234)."""
    magnitude = int(np.floor(np.log10(abs(x)))) if x else -1
    return int(np.clip(2 - magnitude, 0, 3))


def _fixed(x: float, decimals: int) -> str:
    text = f"{x:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text  # no "-0.00"


def _interval_text(value: float, lo: float, hi: float) -> str:
    """Text like "0.812 [0.79, 0.83]" or "22.1 [19.8, 24.6]": the interval one decimal shorter below 1."""
    if value is None or not np.isfinite(value):
        return ""
    d = _decimals(value)
    text = _fixed(value, d)
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        e = d - 1 if d == 3 else d
        text += f" [{_fixed(lo, e)}, {_fixed(hi, e)}]"
    return text


# ------------------------------------------------------------------------------- decisions, calibration
