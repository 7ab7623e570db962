"""The analyst engine (llmkit.study.engine) end to end at the smoke sizes, on tables made here the way analysts
have them: numbers only, Latin-1 text, a time-ordered regression, an Excel file. The transformer stages run on
the tests' tiny BERT (tests/tiny.py), so the file checks the plumbing in seconds, not MiniLM's quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny import save_tiny_pretrained

from llmkit.core.errors import LlmkitError
from llmkit.study import engine
from llmkit.study.settings import AnalystSettings

SMOKE = AnalystSettings.for_profile("smoke")
CLASSICAL = ("floor", "tabular", "text")


def _numeric_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = np.where(x1 + 0.5 * x2 + rng.normal(scale=0.5, size=n) > 0.8, "default", "paid")
    return pd.DataFrame({"loan_id": np.arange(n), "income": x1, "debt": x2, "status": y})


def _models(analysis: engine.Analysis) -> dict[str, engine.Result]:
    return {r.model: r for r in analysis.results}


def test_numeric_only_table_floor_first_and_beats_it(tmp_path):
    path = tmp_path / "loans.csv"
    _numeric_table().to_csv(path, index=False)
    p = engine.prepare(path, "status", positive="default")
    assert p.schema.classes == ("paid", "default")
    assert p.schema.column("loan_id").role == "id" and p.schema.features == ["income", "debt"]
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
    rng = np.random.default_rng(1)
    good = ["bénéfice en hausse, prévisions relevées", "le chiffre d'affaires progresse de 5 £"]
    bad = ["perte nette, l'action chute", "avertissement sur résultats, dette élevée"]
    rows = [(t + f" n°{i}", "positive" if k == 0 else "negative") for i in range(60) for k, t in
            enumerate([good[rng.integers(2)], bad[rng.integers(2)]])]  # fmt: skip
    path = tmp_path / "headlines.csv"
    pd.DataFrame(rows, columns=["headline", "sentiment"]).to_csv(path, index=False, encoding="latin-1")
    with pytest.raises(LlmkitError, match="encoding"):
        engine.prepare(path, "sentiment")
    p = engine.prepare(path, "sentiment", encoding="latin-1")
    assert p.schema.text == ["headline"] and "é" in p.texts(p.rows("train"))[0] + p.texts(p.rows("train"))[1]
    analysis = engine.run(p, SMOKE, stages=CLASSICAL, echo=False)
    acc = analysis.table().set_index("model")["accuracy"]
    assert acc["TF-IDF + logistic regression"] > 0.9 > acc["majority class"]
    assert not _models(analysis)["tabular models"].ran


def test_time_ordered_regression_trains_on_the_past(tmp_path):
    days = pd.date_range("2020-01-01", periods=400, freq="D")
    rng = np.random.default_rng(2)
    level = np.cumsum(rng.normal(size=400)) + 50
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "temperature": rng.normal(size=400),
                          "demand": level + rng.normal(scale=0.3, size=400)})  # fmt: skip
    frame["yesterday"] = frame["demand"].shift(1).fillna(50.0)
    path = tmp_path / "demand.parquet"
    frame.sample(frac=1.0, random_state=0).to_parquet(path)  # rows shuffled: the engine must sort by time
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
    path = tmp_path / "sensors.xlsx"
    table = _numeric_table(200, seed=3).rename(columns={"status": "failure"})
    table["line"] = np.where(np.arange(200) % 3 == 0, "A", "B")
    table.to_excel(path, index=False, sheet_name="readings")
    p = engine.prepare(path, "failure", sheet="readings")
    assert p.schema.column("line").role == "categorical"
    analysis = engine.run(p, SMOKE, stages=("floor", "tabular"), echo=False)
    assert analysis.table().iloc[0]["kind"] == "floor"


def test_positive_must_be_a_class():
    with pytest.raises(LlmkitError, match="positive"):
        engine.prepare(_numeric_table(), "status", positive="yes")


def test_transformer_stages_on_the_tiny_bert(tmp_path, monkeypatch):
    """Records as text -> the tiny BERT, fusion, the student cut from it and its int8 bundle: the plumbing."""
    from llmkit.assets import models

    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    folder = save_tiny_pretrained(tmp_path / "tiny", models.load_tokenizer("minilm"))
    table = _numeric_table(160, seed=4)
    phrase = np.where(table["status"] == "default", "missed two payments", "paid on time")
    table["note"] = [f"{t} in week {i} of the loan" for i, t in enumerate(phrase)]
    p = engine.prepare(table, "status", name="loans", positive="default")
    assert p.schema.text == ["note"]
    settings = AnalystSettings.for_profile("smoke", transformer_train_rows=48, fusion_rows=24, transfer_rows=16,
                                           test_rows=24)  # fmt: skip
    analysis = engine.run(p, settings, model_name=str(folder), bundle_dir=tmp_path / "bundle", echo=False)
    ran = {r.model for r in analysis.results if r.ran}
    assert {
        "MiniLM fine-tuned (text)",
        "MiniLM fine-tuned (records as text)",
        "student, ONNX int8 (the bundle)",
    } <= ran
    assert "fusion (transformer log-odds + features)" in ran
    table = analysis.table()
    assert len(analysis.test_rows) == 24 and table["accuracy"].notna().sum() == len(ran)
    assert (tmp_path / "bundle" / "model_card.json").exists()
