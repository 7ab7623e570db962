"""The shared plots: they draw, label their axes and survive diverged (non-finite) curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from llmkit.core import evaluate  # noqa: E402


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


# ------------------------------------------------------------------------------ classification metrics


def test_accuracy_and_macro_f1_by_hand():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    assert evaluate.accuracy(y_true, y_pred) == 4 / 6
    # class 0: P 1, R 2/3 -> F1 0.8; class 1: P 1/2, R 1/2 -> 0.5; class 2: P 1/2, R 1 -> 2/3
    assert evaluate.macro_f1(y_true, y_pred) == np.float64((0.8 + 0.5 + 2 / 3) / 3)
    assert evaluate.macro_f1([0, 0], [0, 0], num_labels=2) == 0.5  # a class never seen counts as F1 0


def test_roc_auc_binary_is_the_share_of_correctly_ordered_pairs():
    y = np.array([0, 0, 1, 1, 1])
    p1 = np.array([0.1, 0.6, 0.4, 0.8, 0.9])
    proba = np.stack([1 - p1, p1], axis=1)
    # 6 (negative, positive) pairs; only (0.6, 0.4) is ordered wrongly
    assert evaluate.roc_auc(y, proba) == pytest.approx(5 / 6)
    assert np.isnan(evaluate.roc_auc([1, 1], [[0.2, 0.8], [0.4, 0.6]]))  # one class: undefined


def test_roc_auc_multiclass_is_one_vs_rest_macro():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], size=30)
    y = rng.integers(0, 3, size=30)
    by_class = [roc_auc_score(y == k, proba[:, k]) for k in range(3)]
    assert evaluate.roc_auc(y, proba) == pytest.approx(np.mean(by_class))


def test_reliability_curve_and_ece_by_hand():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8]])
    # confidences 0.9 (right), 0.7 (right), 0.55 (right), 0.8 (wrong); 5 bins of width 0.2
    conf, acc, count = evaluate.reliability_curve(y, proba, n_bins=5)
    assert count.tolist() == [0, 0, 1, 2, 1]
    assert np.allclose(conf[2:], [0.55, 0.75, 0.9]) and np.allclose(acc[2:], [1.0, 0.5, 1.0])
    expected = (1 * 0.45 + 2 * 0.25 + 1 * 0.1) / 4
    assert evaluate.expected_calibration_error(y, proba, n_bins=5) == pytest.approx(expected)
    assert evaluate.expected_calibration_error([0, 1], np.eye(2)) == 0.0  # confident and right


def test_confusion_and_per_class_report():
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 2, 0]
    matrix = evaluate.confusion(y_true, y_pred, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    report = evaluate.per_class_report(y_true, y_pred, ["a", "b", "c"])
    assert list(report.index) == ["a", "b", "c"] and report.loc["c", "support"] == 3
    assert report.loc["c", "recall"] == pytest.approx(2 / 3) and report.loc["b", "precision"] == 0.5


def test_classification_metrics_checks_shapes():
    from llmkit.core.errors import LlmkitError

    metrics = evaluate.classification_metrics([0, 1], [[0.8, 0.2], [0.1, 0.9]])
    assert metrics == {"accuracy": 1.0, "macro_f1": 1.0, "roc_auc": 1.0, "ece": pytest.approx(0.15)}
    with pytest.raises(LlmkitError, match=r"expected shape \[n, k\] with n = 3"):
        evaluate.classification_metrics([0, 1, 1], [[0.8, 0.2], [0.1, 0.9]])
    with pytest.raises(LlmkitError, match="expected labels in 0..1"):
        evaluate.classification_metrics([0, 2], [[0.8, 0.2], [0.1, 0.9]])


def test_confusion_and_reliability_plots_are_labeled():
    fig = evaluate.plot_confusion_matrix([[5, 1], [2, 7]], ["neg", "pos"], title="cm")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert [t.get_text() for t in ax.texts] == ["5", "1", "2", "7"]
    plt.close(fig)
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8]])
    fig = evaluate.plot_reliability({"model": (y, proba)}, title="rel", n_bins=5)
    ax = fig.axes[0]
    assert ax.get_title() == "rel" and "ECE 0.26" in ax.get_legend().get_texts()[1].get_text()
    plt.close(fig)


def test_bootstrap_intervals_cover_the_estimate_and_are_deterministic():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    a = np.where(rng.random(400) < 0.9, y, 1 - y)
    b = np.where(rng.random(400) < 0.8, y, 1 - y)
    low, high = evaluate.bootstrap_interval(lambda y, p: (y == p).mean(), y, a, seed=1)
    assert low < (a == y).mean() < high and high - low < 0.08
    assert evaluate.bootstrap_interval(lambda y, p: (y == p).mean(), y, a, seed=1) == (low, high)
    cmp = evaluate.compare_accuracy(y, a, b, seed=1)
    assert cmp["difference"] == pytest.approx((a == y).mean() - (b == y).mean())
    assert cmp["difference_interval"][0] > 0  # a 10-point gap on 400 rows is outside the noise
    assert cmp["ratio_interval"][0] < cmp["ratio"] < cmp["ratio_interval"][1]
    with pytest.raises(ValueError, match="one length"):
        evaluate.bootstrap_interval(lambda y, p: 0.0, y, a[:10])


def test_seed_interval():
    low, high = evaluate.seed_interval([0.80, 0.82, 0.81])
    assert low < 0.81 < high
    assert evaluate.seed_interval([0.8]) == (0.8, 0.8)


def test_tensorboard_scalars_read_back(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "run_a"))
    for step, loss in enumerate([1.0, 0.5, 0.25]):
        writer.add_scalar("train/loss", loss, step)
    writer.close()
    scalars = evaluate.read_scalars(tmp_path)
    assert scalars == {"run_a/train/loss": ([0, 1, 2], [1.0, 0.5, 0.25])}
    fig = evaluate.plot_scalars(scalars)
    assert fig.axes[0].get_xlabel() == "step"
