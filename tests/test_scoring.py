"""llmkit.study.scoring: each metric against a value worked by hand, the vectorized bootstrap against
scikit-learn on the same resamples, the stage table, the cost-weighted threshold and the calibration table."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from llmkit.core import evaluate
from llmkit.core.errors import LlmkitError
from llmkit.study import decisions, scoring

# y = [0, 0, 1, 1], p(class 1) = [0.1, 0.6, 0.4, 0.8]: predicted [0, 1, 0, 1]
TINY_Y = np.array([0, 0, 1, 1])
TINY_P1 = np.array([0.1, 0.6, 0.4, 0.8])


def two_columns(p1: np.ndarray) -> np.ndarray:
    return np.stack([1 - p1, p1], axis=1)


def synthetic(task: str, n: int = 600, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if task == "regression":
        y = rng.normal(size=n)
        return y, y + rng.normal(scale=0.7, size=n)
    k = 2 if task == "binary" else k
    y = rng.integers(0, k, n)
    logits = np.round(rng.normal(size=(n, k)) + 1.2 * np.eye(k)[y], 1)  # rounded: tied scores too
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


def test_binary_metrics_by_hand():
    s = scoring.score("binary", TINY_Y, two_columns(TINY_P1), intervals=False)
    assert s["accuracy"] == 0.5
    assert s["balanced accuracy"] == 0.5  # recall 1/2 in each class
    assert s["macro F1"] == pytest.approx(0.5)  # each class: tp 1, fp 1, fn 1 -> 2/4
    assert s["ROC-AUC"] == pytest.approx(0.75)  # 3 of the 4 (positive, negative) pairs ordered right
    # descending: 0.8 (+), 0.6 (-), 0.4 (+), 0.1 (-): precision 1 at recall 1/2, 2/3 at recall 1
    assert s["PR-AUC"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # confidence [0.9, 0.6, 0.6, 0.8], right [1, 0, 0, 1]: bins 0.9 (gap 0.1), 0.6 x2 (0.6), 0.8 (0.2)
    assert s["ECE"] == pytest.approx(0.25 * 0.1 + 0.5 * 0.6 + 0.25 * 0.2)
    assert set(s) == set(scoring.CLASSIFICATION)
    # the probability of class 1 alone gives the same scores
    assert scoring.score("binary", TINY_Y, TINY_P1, intervals=False) == s


def test_tied_scores_count_half():
    s = scoring.score("binary", [0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9], intervals=False)
    # pairs (pos, neg): (0.5, 0.5) tie -> 1/2, (0.5, 0.2) 1, (0.9, 0.5) 1, (0.9, 0.2) 1
    assert s["ROC-AUC"] == pytest.approx(3.5 / 4)


def test_multiclass_metrics_by_hand():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.1, 0.1, 0.8]])
    s = scoring.score("multiclass", y, p, intervals=False)
    assert s["accuracy"] == 0.75  # predicted [0, 1, 1, 2]
    assert s["balanced accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert s["macro F1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)  # class 1: tp 1 fp 1; class 2: tp 1 fn 1
    # one-vs-rest: class 0 ranks perfectly; class 1's positive (0.5) is below one negative (0.6);
    # class 2's positives (0.3, 0.8) against its negatives (0.1, 0.3): 1 + 1/2 (tie) + 1 + 1 of 4 pairs
    assert s["ROC-AUC"] == pytest.approx((1 + 2 / 3 + 3.5 / 4) / 3)
    # average precision: class 1 precision 1/2 at its positive; class 2 1 at recall 1/2, 2/3 at recall 1
    assert s["PR-AUC"] == pytest.approx((1 + 0.5 + (0.5 + 0.5 * 2 / 3)) / 3)


def test_multiclass_with_an_absent_class():
    y = np.array([0, 1, 0, 1, 0, 1])  # class 2 never occurs
    p = np.array(
        [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.3, 0.6, 0.1], [0.4, 0.5, 0.1], [0.1, 0.2, 0.7]]
    )
    s = scoring.score("multiclass", y, p, seed=0, n_resamples=50)
    assert math.isnan(s["ROC-AUC"]) and math.isnan(s["ROC-AUC lo"]) and math.isnan(s["ROC-AUC hi"])
    assert math.isnan(s["PR-AUC"])
    assert s["accuracy"] == pytest.approx(4 / 6)  # predicted [0, 1, 0, 1, 1, 2]
    assert s["balanced accuracy"] == pytest.approx((2 / 3 + 2 / 3) / 2)  # over the classes present
    # macro F1 over all 3 classes (core.evaluate.macro_f1): class 0 tp 2 fn 1; 1: tp 2 fp 1 fn 1; 2: fp 1
    assert s["macro F1"] == pytest.approx((2 * 2 / 5 + 2 * 2 / 6 + 0) / 3)
    assert s["accuracy lo"] <= s["accuracy"] <= s["accuracy hi"]


def test_regression_metrics_by_hand():
    s = scoring.score("regression", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0], intervals=False)
    assert s == pytest.approx({"MAE": 0.25, "RMSE": 0.5, "R²": 1 - 1 / 5})
    constant = scoring.score("regression", [2.0, 2.0, 2.0], [1.0, 2.0, 3.0], n_resamples=20)
    assert math.isnan(constant["R²"]) and math.isnan(constant["R² lo"])
    assert constant["MAE"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_each_resample_matches_scikit_learn_on_the_same_rows(task):
    y, p = synthetic(task, n=300)
    draws = scoring.resampled(task, y, p, n_resamples=12, seed=3)
    counts = np.concatenate(list(scoring.resample_counts(len(y), 12, seed=3)))
    assert counts.shape == (12, 300) and (counts.sum(axis=1) == 300).all()
    for b in range(12):
        rows = np.repeat(np.arange(len(y)), counts[b].astype(int))
        direct = scoring.score(task, y[rows], p[rows], intervals=False)
        for metric, value in direct.items():
            assert draws[metric][b] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), metric


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_intervals_contain_the_estimate_and_are_deterministic(task):
    y, p = synthetic(task)
    s = scoring.score(task, y, p, seed=1, n_resamples=200)
    names = scoring.REGRESSION if task == "regression" else scoring.CLASSIFICATION
    assert list(s) == [c for m in names for c in (m, f"{m} lo", f"{m} hi")]
    for m in names:
        assert s[f"{m} lo"] <= s[m] <= s[f"{m} hi"], m
        assert s[f"{m} hi"] - s[f"{m} lo"] > 0, m
    assert scoring.score(task, y, p, seed=1, n_resamples=200) == s
    assert scoring.score(task, y, p, seed=2, n_resamples=200) != s


def test_resamples_with_one_class_are_left_out():
    y = np.array([0] * 9 + [1])  # most resamples of 10 rows miss the positive
    draws = scoring.resampled("binary", y, np.linspace(0.05, 0.95, 10), n_resamples=100, seed=0)
    missing = np.isnan(draws["ROC-AUC"])
    assert 0 < missing.sum() < 100 and np.isnan(draws["PR-AUC"][missing]).all()
    s = scoring.score("binary", y, np.linspace(0.05, 0.95, 10), n_resamples=100)
    assert np.isfinite([s["ROC-AUC lo"], s["ROC-AUC hi"]]).all()


def test_bad_inputs_name_what_was_expected():
    with pytest.raises(LlmkitError, match="pred: expected binary probabilities"):
        scoring.score("binary", [0, 1], np.ones((3, 2)))
    with pytest.raises(LlmkitError, match="y_true: expected classes 0..1"):
        scoring.score("binary", [0, 2], np.ones((2, 2)) / 2)
    with pytest.raises(LlmkitError, match="task: expected one of"):
        scoring.score("ranking", [0, 1], [0.2, 0.8])


def test_score_is_fast_on_10000_rows():
    y, p = synthetic("binary", n=10_000, seed=5)
    scoring.score("binary", y[:50], p[:50], n_resamples=5)  # imports out of the timing
    start = time.perf_counter()
    s = scoring.score("binary", y, p, n_resamples=200)
    seconds = time.perf_counter() - start
    assert seconds < 3.0, f"score() with intervals on 10,000 rows took {seconds:.2f} s"
    assert s["accuracy lo"] < s["accuracy"] < s["accuracy hi"]


# ------------------------------------------------------------------------------------------------ tables


def test_stage_table_puts_floors_first_and_blanks_skipped_stages():
    metrics = scoring.score("binary", TINY_Y, TINY_P1, n_resamples=20)
    rows = [
        {
            "stage": "tabular",
            "model": "gradient boosting",
            "kind": "tabular",
            "ran": True,
            "why": "",
            **metrics,
            "seconds": 1.5,
        },
        {
            "stage": "text",
            "model": "TF-IDF + logistic regression",
            "kind": "text",
            "ran": False,
            "why": "no text column",
        },
        {
            "stage": "floor",
            "model": "majority class",
            "kind": "floor",
            "ran": True,
            "why": "always 0",
            **metrics,
        },
    ]
    table = scoring.stage_table(rows)
    assert table["model"].tolist() == ["majority class", "gradient boosting", "TF-IDF + logistic regression"]
    assert list(table.columns[:8]) == [
        "stage",
        "model",
        "kind",
        "ran",
        "why",
        "accuracy",
        "accuracy lo",
        "accuracy hi",
    ]
    skipped = table.iloc[2]
    assert not skipped["ran"] and skipped["why"] == "no text column"
    assert skipped[list(scoring.CLASSIFICATION)].isna().all()
    assert table["accuracy"].dtype == np.float64 and table.loc[1, "seconds"] == 1.5

    shown = scoring.format_table(table)
    assert "accuracy lo" not in shown.columns
    assert shown.loc[0, "accuracy"] == f"0.500 [{metrics['accuracy lo']:.2f}, {metrics['accuracy hi']:.2f}]"
    assert shown.loc[2, "accuracy"] == "" and shown.loc[2, "seconds"] == ""


def test_format_table_scales_the_digits():
    df = pd.DataFrame(
        {"model": ["a"], "RMSE": [1234.5678], "RMSE lo": [1200.2], "RMSE hi": [1290.9], "R²": [0.8123]}
    )
    shown = scoring.format_table(df)
    assert shown.loc[0, "RMSE"] == "1235 [1200, 1291]"
    assert shown.loc[0, "R²"] == "0.812"  # no interval columns: the number alone
    more = pd.DataFrame({"MAE": [22.07, -0.0001], "MAE lo": [19.81, -0.02], "MAE hi": [24.64, -0.001]})
    assert scoring.format_table(more)["MAE"].tolist() == ["22.1 [19.8, 24.6]", "0.000 [-0.02, 0.00]"]


# ------------------------------------------------------------------------------- decisions, calibration


def test_cost_threshold_finds_the_cheapest_cut():
    # positives at 0.3, 0.6, 0.9; negatives at 0.1, 0.2, 0.4, 0.7
    y = np.array([0, 0, 1, 0, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.9])
    # a missed positive costs 5, a false alarm 1: flagging from 0.3 up (fp 2, fn 0) costs 2 -- every other cut
    # costs more (from 0.6: 1 fn + 1 fp = 6; everything: 4 fp = 4)
    out = decisions.cost_threshold(y, p, cost_fn=5, cost_fp=1)
    assert 0.2 < out["threshold"] <= 0.3
    assert out["cost_per_row"] == pytest.approx(2 / 7)
    assert (out["tn"], out["fp"], out["fn"], out["tp"]) == (2, 2, 0, 3)
    assert out["bayes_threshold"] == pytest.approx(1 / 6)
    assert out["cost_per_row_at_bayes"] == pytest.approx(3 / 7)  # flags 0.2 and up: fp 3, fn 0
    assert out["cost_per_row_at_0.5"] == pytest.approx((5 * 1 + 1 * 1) / 7)  # misses 0.3, flags 0.7
    # equal costs: three cuts make two errors (at 0.25, 0.5, 0.8); the tie goes to the Bayes threshold 0.5
    even = decisions.cost_threshold(y, p, cost_fn=1, cost_fp=1)
    assert even["cost_per_row"] == pytest.approx(2 / 7) and even["bayes_threshold"] == 0.5
    assert even["threshold"] == pytest.approx(0.5)
    with pytest.raises(LlmkitError, match="cost_threshold"):
        decisions.cost_threshold([0, 2], [0.1, 0.2], 1, 1)


def test_saving_against_half_is_the_cost_difference_with_the_notebooks_interval():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)

    def cost(y_, p_, t):
        return decisions.decision_cost(y_, p_, t, 5, 1)

    gain, low, high = decisions.saving(y, p, 0.2, 5, 1, n_resamples=200, seed=3)
    assert gain == pytest.approx(cost(y, p, 0.5) - cost(y, p, 0.2)) and gain > 0
    # the same interval the finance and manufacturing notebooks computed by hand before
    assert (low, high) == evaluate.bootstrap_interval(
        lambda a, b: cost(a, b, 0.5) - cost(a, b, 0.2), y, p, n_resamples=200, seed=3
    )


def test_calibration_table():
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.15, 0.12, 0.85, 0.95, 0.91])
    table = decisions.calibration(y, p, bins=10)
    assert len(table) == 10 and table["rows"].sum() == 6
    assert table.loc[1, "rows"] == 2 and table.loc[1, "observed"] == 0.5
    assert table.loc[1, "mean predicted"] == pytest.approx(0.135)
    assert table.loc[9, "observed"] == pytest.approx(0.5) and table.loc[0, "observed"] == 0
    assert table.loc[4, "rows"] == 0 and math.isnan(table.loc[4, "observed"])


def test_difference_is_paired_and_zero_against_itself():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400)
    good = np.clip(y * 0.6 + rng.uniform(0, 0.4, 400), 0, 1)
    flat = np.full(400, y.mean())
    assert scoring.difference("binary", y, good, good, "PR-AUC") == (0.0, 0.0, 0.0)
    d, lo, hi = scoring.difference("binary", y, good, flat, "PR-AUC", n_resamples=100)
    assert 0 < lo <= d <= hi
    with pytest.raises(LlmkitError, match="metric"):
        scoring.difference("binary", y, good, flat, "AUC")


def test_ratio_is_paired():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 300)
    good = np.clip(y * 0.6 + rng.uniform(0, 0.4, 300), 0, 1)
    assert scoring.ratio("binary", y, good, good, "accuracy") == (1.0, 1.0, 1.0)
    r, lo, hi = scoring.ratio("binary", y, np.full(300, 0.5), good, "PR-AUC", n_resamples=50)
    assert lo <= r <= hi < 1


def test_decision_cost_counts_each_mistake():
    y = np.array([1, 0, 0, 1, 0])
    p = np.array([0.9, 0.6, 0.1, 0.2, 0.3])
    # at 0.5: one missed default (row 4, cost 5) and one declined good customer (row 2, cost 1)
    assert decisions.decision_cost(y, p, 0.5, 5.0, 1.0) == pytest.approx(6 / 5)
    assert decisions.decision_cost(y, p, [0.0, 1.0], 5.0, 1.0) == pytest.approx([3 / 5, 10 / 5])
    out = decisions.cost_threshold(y, p, cost_fn=5.0, cost_fp=1.0)
    assert out["cost_per_row"] == pytest.approx(decisions.decision_cost(y, p, out["threshold"], 5.0, 1.0))
