"""The shared plots: they draw, label their axes and survive diverged (non-finite) curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from llmkit import evaluate  # noqa: E402


def test_plot_loss_curves_drops_non_finite_points_and_labels_axes():
    fig = evaluate.plot_loss_curves(
        {"ok": [1.0, 0.5, 0.25], "diverged": [1.0, 10.0, np.inf]},
        title="t",
        ylabel="loss (nats)",
        logy=True,
        reference=0.2,
    )
    ax = fig.axes[0]
    assert ax.get_title() == "t" and ax.get_xlabel() == "step" and ax.get_ylabel() == "loss (nats)"
    assert ax.get_yscale() == "log"
    assert len(ax.lines[1].get_xdata()) == 2  # the inf point is dropped
    plt.close(fig)


def test_plot_landscape_draws_contours_and_paths():
    a = b = np.linspace(-1, 1, 11)
    grid = np.add.outer(b**2, 2 * a**2)
    fig = evaluate.plot_landscape(
        a, b, grid, title="bowl", xlabel="x", ylabel="y", paths={"gd": [[1, 1], [0, 0]]}
    )
    ax = fig.axes[0]
    assert ax.get_title() == "bowl" and len(ax.lines) == 1
    plt.close(fig)
