"""The analyst engine (llmkit.study.engine) end to end at the smoke sizes, on tables made here the way analysts
have them (tests/tables.py): numbers and categories, Latin-1 text, a time-ordered regression, an Excel file. The
classical stages here; the transformer stages run with MiniLM on the same tables in tests/test_readme.py (the
README's analyst commands) and on the real loans in the finance notebook."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tables

from llmkit.core.errors import LlmkitError
from llmkit.study import engine
from llmkit.study.settings import AnalystSettings

SMOKE = AnalystSettings.for_profile("smoke")
CLASSICAL = ("floor", "tabular", "text")


def _models(analysis: engine.Analysis) -> dict[str, engine.Result]:
    return {r.model: r for r in analysis.results}


def test_numeric_only_table_floor_first_and_beats_it(tmp_path):
    path = tables.write_all(tmp_path)["loans.csv"]
    p = engine.prepare(path, "status", positive="default")
    assert p.schema.classes == ("paid", "default")
    assert p.schema.column("loan_id").role == "id" and p.schema.features == ["income", "debt", "home"]
    analysis = engine.run(p, SMOKE, stages=CLASSICAL, echo=False)
    table = analysis.table()
    assert table.iloc[0]["kind"] == "floor" and table.iloc[0]["model"] == "majority class"
    models = _models(analysis)
    assert (
        not models["TF-IDF + logistic regression"].ran
        and "no text column" in models["TF-IDF + logistic regression"].why
    )
    pr = table.set_index("model")["PR-AUC"]
    assert pr["logistic regression"] > pr["majority class"] + 0.2
    assert analysis.chosen(("tabular",)).model in ("logistic regression", "gradient boosting")
    # the same seed gives the same numbers
    again = engine.run(
        engine.prepare(path, "status", positive="default"), SMOKE, stages=CLASSICAL, echo=False
    )
    pd.testing.assert_frame_equal(table.drop(columns="seconds"), again.table().drop(columns="seconds"))


def test_latin1_text_table_needs_its_encoding(tmp_path):
    path = tables.write_all(tmp_path)["headlines.csv"]
    with pytest.raises(LlmkitError, match="encoding"):
        engine.prepare(path, "sentiment")
    p = engine.prepare(path, "sentiment", encoding="latin-1")
    assert p.schema.text == ["headline"] and "é" in p.texts(p.rows("train"))[0] + p.texts(p.rows("train"))[1]
    analysis = engine.run(p, SMOKE, stages=CLASSICAL, echo=False)
    acc = analysis.table().set_index("model")["accuracy"]
    assert acc["TF-IDF + logistic regression"] > 0.9 > acc["majority class"]
    assert not _models(analysis)["tabular models"].ran


def test_time_ordered_regression_trains_on_the_past(tmp_path):
    path = tables.write_all(tmp_path)["demand.parquet"]  # rows shuffled: the engine must sort by time
    p = engine.prepare(path, "demand", time_column="date")
    assert p.schema.task == "regression" and p.split.kind == "chronological"
    times = pd.to_datetime(p.frame["date"])
    assert times.iloc[p.rows("train")].max() < times.iloc[p.rows("validation")].min()
    assert times.iloc[p.rows("validation")].max() < times.iloc[p.rows("test")].min()
    analysis = engine.run(p, SMOKE, echo=False)  # every stage asked: the transformer ones say why not
    models = _models(analysis)
    assert {"training mean", "last value (naive)"} <= set(models)
    assert (
        not models["MiniLM fine-tuned (records as text)"].ran
        and "regression" in models["MiniLM fine-tuned (records as text)"].why
    )
    rmse = analysis.table().set_index("model")["RMSE"]
    assert rmse["last value (naive)"] < rmse["training mean"]  # a random walk: yesterday beats the mean
    # the naive forecast used the row before in time, not in file order
    test = p.rows("test")
    order = np.argsort(times.to_numpy(), kind="stable")
    first = order[np.searchsorted(times.to_numpy()[order], times.iloc[test].min())]
    previous = order[np.flatnonzero(order == first)[0] - 1]
    naive = models["last value (naive)"].pred
    assert naive[np.flatnonzero(test == first)[0]] == pytest.approx(p.y[previous])


def test_excel_table(tmp_path):
    path = tables.write_all(tmp_path)["sensors.xlsx"]
    p = engine.prepare(path, "failure", sheet="readings")
    assert p.schema.column("line").role == "categorical"
    analysis = engine.run(p, SMOKE, stages=("floor", "tabular"), echo=False)
    assert analysis.table().iloc[0]["kind"] == "floor"


def test_positive_must_be_a_class():
    with pytest.raises(LlmkitError, match="positive"):
        engine.prepare(tables.loans(), "status", positive="yes")


def test_sensitive_columns_without_a_binary_target_or_a_bundle_say_why():
    frame = pd.DataFrame({"x": np.arange(60) % 7, "region": np.where(np.arange(60) % 2, "n", "s"),
                          "grade": np.array(["a", "b", "c"])[np.arange(60) % 3]})  # fmt: skip
    p = engine.prepare(frame, "grade", sensitive_columns="region")
    analysis = engine.run(p, SMOKE, stages=("floor",), echo=False)
    assert any("no fairness audit, it needs a binary target" in n for n in analysis.notes)
    with pytest.raises(LlmkitError, match="sensitive column 'grade' is the target"):
        engine.prepare(frame, "grade", sensitive_columns=["grade"])


def _weekly(hours: int = 24 * 7 * 5, seed: int = 0) -> pd.DataFrame:
    """An hourly series that repeats every week exactly, in shuffled file order, with one hour missing."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2026-01-05", periods=hours, freq="h")
    pattern = rng.normal(size=24 * 7)  # one value per hour of the week
    frame = pd.DataFrame({"time": time, "temp": rng.normal(size=hours),
                          "riders": pattern[np.arange(hours) % (24 * 7)]})  # fmt: skip
    return frame.drop(index=hours - 24 * 7 - 5).sample(frac=1.0, random_state=seed)


def test_seasonal_naive_floor_takes_the_same_hour_last_week():
    p = engine.prepare(_weekly(), "riders", time_column="time", name="weekly")
    analysis = engine.run(p, SMOKE, stages=("floor",), season_lag="7D", echo=False)
    models = _models(analysis)
    assert list(models) == ["training mean", "last value (naive)", "seasonal naive (7 days)"]
    seasonal = models["seasonal naive (7 days)"].pred
    times = pd.to_datetime(p.frame["time"]).to_numpy()[analysis.test_rows]
    missing = np.datetime64(pd.Timestamp("2026-01-05") + pd.Timedelta(hours=24 * 7 * 5 - 24 * 7 - 5))
    hit = times - np.timedelta64(7, "D") == missing  # the test row whose hour last week is not in the table
    assert np.allclose(seasonal[~hit], analysis.y_test[~hit])  # a series that repeats weekly: exact
    if hit.any():  # it takes the hour before instead
        assert not np.isclose(seasonal[hit], analysis.y_test[hit]).any()
    assert any(n.startswith("seasonal naive (7 days): ") for n in analysis.notes)
    mae = analysis.table().set_index("model")["MAE"]
    assert mae["seasonal naive (7 days)"] < mae["last value (naive)"]


def test_seasonal_naive_counts_rows_without_history_and_checks_its_lag():
    p = engine.prepare(_weekly(), "riders", time_column="time", name="weekly")
    everything = np.arange(len(p.frame))
    values, words, note = engine.seasonal_naive(p, everything, "168h")
    assert words == "7 days" and len(values) == len(everything)
    assert f"{24 * 7} the earliest row (no history 7 days back)" in note and "1 take the latest row" in note
    assert engine.seasonal_naive(p, everything[:3], "1D")[1] == "1 day"
    with pytest.raises(LlmkitError, match="expected a positive lag"):
        engine.seasonal_naive(p, everything, "-7D")
    with pytest.raises(LlmkitError, match="pandas offset"):
        engine.seasonal_naive(p, everything, "a week")
    plain = engine.prepare(_weekly().drop(columns="time"), "riders", name="weekly")
    with pytest.raises(LlmkitError, match="needs a time column"):
        engine.run(plain, SMOKE, stages=("floor",), season_lag="7D", echo=False)


def test_a_category_of_numbers_stays_categorical_without_a_separator_hint():
    frame = pd.DataFrame(
        {"hr": pd.Categorical(np.arange(96) % 24), "y": np.arange(96) % 5 * 1.0}  # an hour, as ISLP stores it
    )
    role = engine.prepare(frame, "y", name="hours").schema.column("hr")
    assert role.role == "categorical" and "category dtype" in role.why and "separators" not in role.why
    thousands = pd.DataFrame({"n": ["1,200", "3,400", "12"] * 20, "y": np.arange(60) % 3 * 1.0})
    assert "separators" in engine.prepare(thousands, "y", name="counts").schema.column("n").why
