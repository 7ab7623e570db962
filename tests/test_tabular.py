"""llmkit.study.tabular: the floors' predictions, the tabular models on a small table made here (a categorical
column, missing values, an unseen category), and TF-IDF + logistic regression on tiny texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.study import scoring, tabular


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    # the test machine is shared: one OpenMP/BLAS thread keeps gradient boosting from stalling on a busy core
    monkeypatch.setenv("LLMKIT_THREADS", "1")


def table(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features (a number 10% missing, a city with missing values, noise), a binary and a numeric target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    city = rng.choice(np.array(["north", "south", "east", None], dtype=object), n)
    effect = pd.Series(city).map({"north": 2.0, "south": -2.0, "east": 0.0}).fillna(0.0).to_numpy()
    signal = 2.0 * x + effect
    x_seen = x.copy()
    x_seen[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame({"x": x_seen, "city": city, "noise": rng.normal(size=n)})
    y_class = (rng.random(n) < 1 / (1 + np.exp(-signal))).astype(np.int64)
    return frame, y_class, signal + rng.normal(scale=0.5, size=n)


# ------------------------------------------------------------------------------------------------- floors


def test_majority_class_floor_predicts_the_training_shares():
    (floor,) = tabular.floors("multiclass", [0, 0, 1, 2, 0], num_classes=4)
    assert (floor.name, floor.kind, floor.model) == ("majority class", "floor", None)
    proba = floor.predict(pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    assert proba.shape == (3, 4)
    assert np.allclose(proba, [0.6, 0.2, 0.2, 0.0]) and (proba.argmax(axis=1) == 0).all()
    assert "class 0" in floor.note


def test_training_mean_floor():
    (floor,) = tabular.floors("regression", [1.0, 2.0, 6.0])
    assert floor.name == "training mean"
    assert floor.predict(pd.DataFrame(index=range(2))).tolist() == [3.0, 3.0]


def test_last_value_floor_uses_the_previous_targets_it_was_given():
    majority, naive = tabular.floors("binary", [0, 0, 1], 2, previous=[1, 0, 1])
    assert naive.name == "last value (naive)" and naive.kind == "floor"
    assert naive.predict(pd.DataFrame(index=range(3))).tolist() == [[0, 1], [1, 0], [0, 1]]
    with pytest.raises(LlmkitError, match="built for the 3 rows of previous, asked for 2"):
        naive.predict(pd.DataFrame(index=range(2)))
    _, values = tabular.floors("regression", [1.0, 2.0], previous=[5.0, 7.5])
    assert values.predict([None, None]).tolist() == [5.0, 7.5]


# ------------------------------------------------------------------------------------------------ tabular


def test_tabular_models_beat_the_floor_and_take_an_unseen_category():
    frame, y, _ = table()
    train, test = slice(0, 1100), slice(1100, None)
    models = tabular.tabular_models(
        "binary", frame.iloc[train], y[train], numeric=["x", "noise"], categorical=["city"], seed=0
    )
    assert [m.name for m in models] == ["logistic regression", "gradient boosting"]
    (floor,) = tabular.floors("binary", y[train], 2)
    floor_score = scoring.score("binary", y[test], floor.predict(frame.iloc[test]), intervals=False)
    for model in models:
        assert model.kind == "tabular" and model.seconds > 0 and "no class weighting" in model.note
        s = scoring.score("binary", y[test], model.predict(frame.iloc[test]), intervals=False)
        assert s["accuracy"] > floor_score["accuracy"] + 0.15, model.name
        assert s["ROC-AUC"] > 0.8 and s["PR-AUC"] > floor_score["PR-AUC"] + 0.2, model.name

    unseen = frame.iloc[test].copy()
    unseen["city"] = "atlantis"
    unseen.loc[unseen.index[:5], "x"] = np.nan
    for model in models:
        proba = model.predict(unseen)
        assert proba.shape == (len(unseen), 2) and np.isfinite(proba).all()
        assert np.allclose(proba.sum(axis=1), 1.0)


def test_tabular_models_are_deterministic_and_regress():
    frame, _, target = table(seed=1)
    train, test = slice(0, 1100), slice(1100, None)

    def fit():
        return tabular.tabular_models(
            "regression",
            frame.iloc[train],
            target[train],
            numeric=["x", "noise"],
            categorical=["city"],
            seed=3,
        )

    first, second = fit(), fit()
    assert [m.name for m in first] == ["ridge regression", "gradient boosting"]
    (mean,) = tabular.floors("regression", target[train])
    floor_rmse = scoring.score("regression", target[test], mean.predict(frame.iloc[test]), intervals=False)[
        "RMSE"
    ]
    for a, b in zip(first, second, strict=True):
        pred = a.predict(frame.iloc[test])
        assert np.array_equal(pred, b.predict(frame.iloc[test]))
        s = scoring.score("regression", target[test], pred, intervals=False)
        assert s["RMSE"] < 0.6 * floor_rmse and s["R²"] > 0.6, a.name


def test_a_class_missing_from_training_gets_a_zero_column():
    frame, y, _ = table(n=400)
    models = tabular.tabular_models(
        "multiclass", frame, y, numeric=["x"], categorical=["city"], num_classes=3
    )  # classes 0 and 1 only
    for model in models:
        proba = model.predict(frame.iloc[:10])
        assert proba.shape == (10, 3) and (proba[:, 2] == 0).all()


def test_categories_of_any_type_and_many_values():
    rng = np.random.default_rng(2)
    n = 1200
    code = rng.integers(0, 400, n)  # 400 values: more than gradient boosting's 255 per feature
    frame = pd.DataFrame({"code": pd.Series(code, dtype=object), "flag": rng.choice([1, "b", None], n)})
    y = (code % 2).astype(np.int64)  # learnable only from the categories
    for model in tabular.tabular_models("binary", frame, y, numeric=[], categorical=["code", "flag"]):
        assert model.predict(frame).shape == (n, 2)


def test_tabular_errors_name_the_column():
    frame, y, _ = table(n=50)
    with pytest.raises(LlmkitError, match=r"missing feature columns \['income'\]"):
        tabular.tabular_models("binary", frame, y, numeric=["x", "income"], categorical=[])
    with pytest.raises(LlmkitError, match="at least two classes"):
        tabular.tabular_models("binary", frame, np.zeros(50, dtype=int), numeric=["x"], categorical=[])
    with pytest.raises(LlmkitError, match="y_train: expected encoded classes"):
        tabular.floors("binary", [0.5, 1.0])


# --------------------------------------------------------------------------------------------------- text


def test_text_model_on_tiny_texts():
    rng = np.random.default_rng(0)
    good, bad = ["great", "fine", "lovely", "superb"], ["awful", "poor", "broken", "terrible"]
    texts, labels = [], []
    for i in range(80):
        label = i % 2
        words = rng.choice(good if label else bad, 2).tolist() + [f"item{i}"]
        texts.append(" ".join(words))
        labels.append(label)
    fitted = tabular.text_model("binary", texts, labels, seed=0)
    assert (fitted.name, fitted.kind) == ("TF-IDF + logistic regression", "text")
    assert "training texts" in fitted.note and "item0" not in fitted.model[0].vocabulary_  # min_df=2
    proba = fitted.predict(["a lovely superb thing", "broken and awful", None])
    assert proba.shape == (3, 2) and proba[0, 1] > 0.6 and proba[1, 0] > 0.6
    assert np.array_equal(proba, tabular.text_model("binary", texts, labels, seed=0).predict(
        ["a lovely superb thing", "broken and awful", None]
    ))  # fmt: skip

    regression = tabular.text_model("regression", texts, [2.0 * v for v in labels])
    assert regression.name == "TF-IDF + ridge regression"
    values = regression.predict(["great superb", "awful poor"])
    assert values[0] > 1.0 > values[1]


def test_text_model_falls_back_to_min_df_1_on_a_tiny_corpus():
    fitted = tabular.text_model("binary", ["alpha beta", "gamma delta"], [0, 1])
    assert "in >= 1 training texts" in fitted.note
    assert fitted.predict(["alpha"]).shape == (1, 2)
    with pytest.raises(LlmkitError, match="expected a list of texts"):
        fitted.predict("alpha")


def test_seasonal_naive_floor_uses_the_targets_one_season_before():
    floors = tabular.floors(
        "regression", [1.0, 2.0], previous=[5.0, 7.5], seasonal=[3.0, 4.0], season="7 days"
    )
    assert [f.name for f in floors] == ["training mean", "last value (naive)", "seasonal naive (7 days)"]
    assert floors[2].kind == "floor" and floors[2].predict([None, None]).tolist() == [3.0, 4.0]
    with pytest.raises(LlmkitError, match=r"seasonal naive \(7 days\): built for the 2 rows of seasonal"):
        floors[2].predict([None])
    (_, seasonal) = tabular.floors("binary", [0, 1], 2, seasonal=[1, 0])
    assert seasonal.predict([None, None]).tolist() == [[0, 1], [1, 0]]
    with pytest.raises(LlmkitError, match="seasonal: expected classes 0..1"):
        tabular.floors("binary", [0, 1], 2, seasonal=[2, 0])
