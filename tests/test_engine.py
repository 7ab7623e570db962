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
