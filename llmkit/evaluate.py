"""Metrics and the standard plots the notebooks share (loss curves, loss landscapes; more join later).

Every plot function takes an optional matplotlib ``ax`` and returns the figure, so a notebook can pass
it straight to ``claims.figure(fig, name)``. matplotlib is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def _axes(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
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
    fig, ax = _axes(ax, (6.4, 4.0))
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
    fig, ax = _axes(ax, (6.0, 5.0))
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
