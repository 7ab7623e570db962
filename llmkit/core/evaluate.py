"""Metrics and the standard plots the notebooks share: loss curves and landscapes (notebook 01);
classification metrics, confusion matrix, reliability diagram and calibration error (notebook 03 on).

Classification metrics take the true labels ``y_true`` ``[n]`` and the predicted class probabilities
``proba`` ``[n, k]`` (a model's softmax, or a scikit-learn ``predict_proba``), so a fine-tuned model and
a baseline are scored by the same code; accuracy, macro-F1 and ROC-AUC are scikit-learn's.

Every plot function takes an optional matplotlib ``ax`` and returns the figure, so a notebook can pass
it straight to ``claims.figure(fig, name)``. matplotlib and scikit-learn are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def axes(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_loss_curves(
    curves: Mapping[str, ArrayLike],  # label -> losses per step
    *,
    title: str,
    ylabel: str = "loss (nats)",
    xlabel: str = "step",
    logy: bool = False,  # log scale, e.g. for loss minus the optimum
    reference: float | None = None,  # a horizontal line, e.g. scikit-learn's loss
    reference_label: str = "reference",
    ax: Any = None,
) -> Any:
    """One line per curve; non-finite points (a diverged run) are dropped."""
    fig, ax = axes(ax, (6.4, 4.0))
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        steps = np.arange(values.size)
        keep = np.isfinite(values) & ((values > 0) if logy else True)
        ax.plot(steps[keep], values[keep], label=label)
    if reference is not None:
        ax.axhline(reference, color="black", linestyle="--", linewidth=1, label=reference_label)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def plot_landscape(
    alphas: ArrayLike,  # [a] grid coordinates along the x direction
    betas: ArrayLike,  # [b] grid coordinates along the y direction
    grid: ArrayLike,  # [b, a] loss values
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    paths: Mapping[str, ArrayLike] | None = None,  # label -> [steps, 2] trajectories in grid coordinates
    levels: int = 30,
    ax: Any = None,
) -> Any:
    """Contours of a 2-D loss slice (log-spaced levels, so the valley floor shows), with optional paths."""
    fig, ax = axes(ax, (6.0, 5.0))
    grid = np.asarray(grid, dtype=np.float64)
    low, high = float(np.nanmin(grid)), float(np.nanmax(grid))
    level_values = low + (high - low) * np.geomspace(1e-3, 1.0, levels)  # geometric: dense near the minimum
    contour = ax.contour(alphas, betas, grid, levels=level_values, cmap="viridis", linewidths=0.8)
    fig.colorbar(contour, ax=ax, label="loss (nats)")
    for label, path in (paths or {}).items():
        path = np.asarray(path, dtype=np.float64)
        ax.plot(path[:, 0], path[:, 1], marker=".", markersize=3, linewidth=1, label=label)
    if paths:
        ax.legend(fontsize="small")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig


# ------------------------------------------------------------------------------ classification metrics


def _labels_and_proba(y_true: ArrayLike, proba: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    from llmkit.core.errors import LlmkitError

    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != y.size:
        raise LlmkitError(f"proba: expected shape [n, k] with n = {y.size} labels, got {list(p.shape)}")
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise LlmkitError(
            f"y_true: expected labels in 0..{p.shape[1] - 1} (one per proba column), got {y.min()}..{y.max()}"
        )
    return y, p


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of predictions equal to the label."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred))


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike, num_labels: int | None = None) -> float:
    """F1 averaged over classes with equal weight: a rare class counts as much as a common one."""
    from sklearn.metrics import f1_score

    labels = list(range(num_labels)) if num_labels else None
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def roc_auc(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Area under the ROC curve: binary from ``proba[:, 1]``; k > 2 one-vs-rest, macro-averaged.

    NaN when a class is missing from ``y_true`` (the curve is undefined).
    """
    from sklearn.metrics import roc_auc_score

    y, p = _labels_and_proba(y_true, proba)
    if len(np.unique(y)) < p.shape[1]:
        return float("nan")
    if p.shape[1] == 2:
        return float(roc_auc_score(y, p[:, 1]))
    return float(roc_auc_score(y, p, multi_class="ovr", average="macro", labels=list(range(p.shape[1]))))


def reliability_curve(
    y_true: ArrayLike, proba: ArrayLike, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence (top probability) binned into ``n_bins`` equal-width bins on [0, 1].

    Returns ``(mean confidence, accuracy, count)`` per bin, each ``[n_bins]``; empty bins hold NaN and 0.
    A calibrated model is right 80% of the time when it says 0.8: accuracy = confidence.
    """
    y, p = _labels_and_proba(y_true, proba)
    confidence = p.max(axis=1)  # [n]
    correct = (p.argmax(axis=1) == y).astype(np.float64)  # [n]
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)  # bin b holds (b/n, (b+1)/n]
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=confidence, minlength=n_bins) / count
        acc = np.bincount(bins, weights=correct, minlength=n_bins) / count
    return mean_conf, acc, count


def expected_calibration_error(y_true: ArrayLike, proba: ArrayLike, n_bins: int = 10) -> float:
    """ECE: the gap |accuracy - confidence| of each bin, weighted by the share of examples in it."""
    mean_conf, acc, count = reliability_curve(y_true, proba, n_bins)
    keep = count > 0
    return float(np.sum(count[keep] / count.sum() * np.abs(acc[keep] - mean_conf[keep])))


def confusion(y_true: ArrayLike, y_pred: ArrayLike, num_labels: int) -> np.ndarray:
    """Counts ``[num_labels, num_labels]``: row = true class, column = predicted class."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(num_labels)))


def per_class_report(y_true: ArrayLike, y_pred: ArrayLike, label_names: list[str] | tuple[str, ...]) -> Any:
    """A DataFrame with precision, recall, F1 and support of each class (one row per label name)."""
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(label_names))), zero_division=0
    )
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support}, index=list(label_names)
    )


def classification_metrics(y_true: ArrayLike, proba: ArrayLike, n_bins: int = 10) -> dict[str, float]:
    """``accuracy``, ``macro_f1``, ``roc_auc`` and ``ece`` of class probabilities ``proba`` ``[n, k]``."""
    y, p = _labels_and_proba(y_true, proba)
    predicted = p.argmax(axis=1)
    return {
        "accuracy": accuracy(y, predicted),
        "macro_f1": macro_f1(y, predicted, p.shape[1]),
        "roc_auc": roc_auc(y, p),
        "ece": expected_calibration_error(y, p, n_bins),
    }


def plot_confusion_matrix(
    matrix: ArrayLike,  # [k, k] counts, row = true, column = predicted
    label_names: list[str] | tuple[str, ...],
    *,
    title: str,
    ax: Any = None,
) -> Any:
    """Counts in each cell, shaded by the share of the true class (each row sums to 100%)."""
    m = np.asarray(matrix, dtype=np.float64)
    k = len(label_names)
    fig, ax = axes(ax, (1.2 * k + 2.6, 1.0 * k + 2.0))
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{int(m[i, j])}",
                ha="center",
                va="center",
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(k), label_names, rotation=30, ha="right")
    ax.set_yticks(range(k), label_names)
    ax.set(title=title, xlabel="predicted class", ylabel="true class")
    fig.colorbar(image, ax=ax, label="share of the true class")
    return fig


def plot_reliability(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],  # label -> (y_true [n], proba [n, k])
    *,
    title: str,
    n_bins: int = 10,
    ax: Any = None,
) -> Any:
    """Reliability diagram: accuracy against confidence per bin, one line per model, ECE in the legend."""
    fig, ax = axes(ax, (5.0, 5.0))
    ax.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1, label="perfect calibration")
    for label, (y_true, proba) in curves.items():
        conf, acc, count = reliability_curve(y_true, proba, n_bins)
        keep = count > 0
        ece = expected_calibration_error(y_true, proba, n_bins)
        ax.plot(conf[keep], acc[keep], marker="o", label=f"{label} (ECE {ece:.3f})")
    ax.set(title=title, xlabel="confidence (top predicted probability)", ylabel="accuracy in the bin")
    ax.set(xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------------------------------------- noise


def bootstrap_interval(
    statistic: Any,  # f(*arrays) -> float, computed on rows resampled jointly (paired)
    *arrays: ArrayLike,  # same length n: e.g. labels, one model's predictions, another's
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap interval of ``statistic`` over the test rows (scipy.stats.bootstrap, paired).

    Rows are resampled jointly, so a difference or a ratio of two models scored on the same rows gets
    the paired interval: ``bootstrap_interval(lambda y, a, b: acc(y, a) - acc(y, b), y, pred_a, pred_b)``.
    """
    from scipy.stats import bootstrap

    data = tuple(np.asarray(a) for a in arrays)
    n = {len(a) for a in data}
    if len(n) != 1 or n == {0}:
        raise ValueError(
            f"bootstrap_interval: expected non-empty arrays of one length, got lengths {sorted(n)}"
        )
    result = bootstrap(
        data,
        lambda *xs: float(statistic(*xs)),
        paired=True,
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def seed_interval(values: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """A t interval of the mean of per-seed measurements (needs ≥ 2 seeds; one value gives (v, v))."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return float(x.mean()), float(x.mean())
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


# ---------------------------------------------------------------------------------------------- TensorBoard


def read_scalars(log_dir: str | Any) -> dict[str, tuple[list[int], list[float]]]:
    """Every scalar TensorBoard logged under ``log_dir`` (all runs below it): ``{"run/tag": (steps, values)}``.

    Read with TensorBoard's own event reader, so the notebook shows exactly what ``tensorboard --logdir``
    would.
    """
    from pathlib import Path

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = Path(log_dir)
    scalars: dict[str, tuple[list[int], list[float]]] = {}
    for run in sorted({p.parent for p in root.rglob("events.out.tfevents.*")}):
        acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
        acc.Reload()
        prefix = str(run.relative_to(root)) if run != root else ""
        for tag in acc.Tags()["scalars"]:
            events = acc.Scalars(tag)
            name = f"{prefix}/{tag}" if prefix else tag
            scalars[name] = ([e.step for e in events], [float(e.value) for e in events])
    return scalars


def plot_scalars(
    scalars: Mapping[str, tuple[list[int], list[float]]],
    tags: list[str] | None = None,  # which "run/tag" keys to draw (default: every one)
    ax: Any = None,
    title: str = "TensorBoard scalars",
) -> Any:
    """Draw scalars read by :func:`read_scalars`, one line per key, against the training step."""
    fig, ax = axes(ax, (6.4, 3.6))
    for name in tags or list(scalars):
        steps, values = scalars[name]
        ax.plot(steps, values, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig


def compare_accuracy(
    y_true: ArrayLike, pred_a: ArrayLike, pred_b: ArrayLike, seed: int = 0, n_resamples: int = 2000
) -> dict[str, Any]:
    """Model A against model B on the same rows: accuracy difference and ratio, each with its paired interval.

    ``{"difference": a - b, "difference_interval": (low, high), "ratio": a / b, "ratio_interval": (low, high)}``
    (percentile bootstrap over the rows, scipy.stats.bootstrap, vectorized).
    """
    from scipy.stats import bootstrap

    y, a, b = (np.asarray(x) for x in (y_true, pred_a, pred_b))
    hits = ((a == y).astype(float), (b == y).astype(float))

    def diff(x: np.ndarray, z: np.ndarray, axis: int = -1) -> np.ndarray:
        return x.mean(axis=axis) - z.mean(axis=axis)

    def ratio(x: np.ndarray, z: np.ndarray, axis: int = -1) -> np.ndarray:
        return x.mean(axis=axis) / np.maximum(z.mean(axis=axis), 1e-12)

    def interval(statistic: Any) -> tuple[float, float]:
        ci = bootstrap(
            hits,
            statistic,
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        return float(ci.low), float(ci.high)

    return {
        "difference": float(diff(*hits)),
        "difference_interval": interval(diff),
        "ratio": float(ratio(*hits)),
        "ratio_interval": interval(ratio),
    }
