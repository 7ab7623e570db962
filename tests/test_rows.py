"""A bundle serves what it was trained on: a model trained on records as text takes table rows, checked against
the schema in its model card and written exactly as the engine wrote the training rows; a texts bundle (and one
built before the card said what it takes) keeps ``{"texts": [...]}``.

The tiny random BERT of tests/tiny.py stands in for the student (PyTorch backend, no ONNX export: fast)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tiny import tiny_classifier

from llmkit.assets import models
from llmkit.core.errors import LlmkitError
from llmkit.data.text import records_to_text
from llmkit.deploy import export, rows, serve
from llmkit.study import engine, textstages
from llmkit.study.settings import AnalystSettings

LIMITS = {"backend": "torch_fp32", "max_texts": 8, "max_body_bytes": 20_000}


def table(n: int = 60) -> pd.DataFrame:
    """Numbers (one with missing values), strings, a bool, a category with a missing value, an id, the target."""
    rng = np.random.default_rng(0)
    income = rng.normal(50, 10, n).round(1)
    income[[3, 7]] = np.nan
    plan = rng.choice(["basic", "gold"], n).astype(object)
    plan[[3, 5]] = None
    return pd.DataFrame({"customer_id": np.arange(n), "income": income, "age": rng.integers(20, 70, n),
                         "city": rng.choice(["Lyon", "Nice", "Paris"], n), "owner": rng.choice([True, False], n),
                         "plan": plan, "default": np.where(np.arange(n) % 3 == 0, "yes", "no")})  # fmt: skip


def as_json(frame: pd.DataFrame) -> list[dict]:
    """Rows as an analyst would post them: the table's own values through JSON (NaN and None -> null)."""
    return json.loads(frame.to_json(orient="records"))


def card(**changes):
    base = {"name": "tiny-rows", "version": "0.0.1", "task": "default or not, from a loan record",
            "labels": ["no", "yes"], "training_data": {"source": "a test table"}, "metrics": {},
            "intended_use": "tests only", "limitations": ["random weights"], "max_length": 64}  # fmt: skip
    return {**base, **changes}


@pytest.fixture(scope="module")
def prepared():
    return engine.prepare(table(), "default", name="loans.csv")


@pytest.fixture(scope="module")
def valid(prepared):
    return as_json(prepared.frame[prepared.schema.features].iloc[:3])


@pytest.fixture(scope="module")
def bundles(prepared, tmp_path_factory):
    """A rows bundle and a texts bundle of the same tiny model."""
    folder, tok = tmp_path_factory.mktemp("bundles"), models.load_tokenizer("minilm")
    texts = records_to_text(prepared.X, prepared.schema.features)
    spec = rows.rows_input(prepared.schema.to_dict())
    built = {"rows": export.build_bundle(tiny_classifier(), tok, folder / "rows", card(input=spec), texts, onnx=False),
             "texts": export.build_bundle(tiny_classifier(), tok, folder / "texts", card(), texts, onnx=False)}  # fmt: skip
    return built


@pytest.fixture(scope="module")
def client(bundles):
    with TestClient(serve.create_app(bundles["rows"], serve.ServeConfig(**LIMITS))) as client:
        yield client


def test_the_card_says_what_the_bundle_takes(bundles, prepared):
    spec = export.load_bundle(bundles["rows"]).card["input"]
    assert spec["kind"] == "rows" and spec["schema"] == prepared.schema.to_dict()
    assert export.load_bundle(bundles["texts"]).card["input"] == {"kind": "texts"}
    assert rows.RowReader.of(export.load_bundle(bundles["rows"]).card).names == prepared.schema.features
    assert rows.input_of({}) == {"kind": "texts"}  # a card from before the field
    with pytest.raises(LlmkitError, match="model card input: expected"):
        export.ModelCard.from_dict(card(input={"kind": "images"}))
    with pytest.raises(LlmkitError, match="model card input schema: not a Schema.to_dict"):
        export.ModelCard.from_dict(card(input={"kind": "rows", "schema": {"target": "y"}}))


def test_the_engine_bundle_records_its_input_kind(prepared, monkeypatch, tmp_path):
    cards = []

    def build(model, tokenizer, folder, card, **kwargs):
        cards.append(card)
        raise RuntimeError("stop after the card")

    monkeypatch.setattr(export, "build_bundle", build)
    for stage in ("records", "minilm"):
        task = textstages._task(f"{stage}:loans.csv", {k: ["a text"] * 3 for k in ("train", "validation", "test")},
                                {k: np.array([0, 1, 0]) for k in ("train", "validation", "test")}, ("no", "yes"))  # fmt: skip
        with pytest.raises(RuntimeError, match="stop after the card"):
            textstages._bundle(prepared, {"model": None, "tokenizer": None}, task, tmp_path, "bundle", print)
    assert cards[0].input == {"kind": "rows", "schema": prepared.schema.to_dict()}
    assert cards[1].input == {"kind": "texts"}


def test_a_row_is_written_as_the_engine_wrote_it_for_training(prepared, monkeypatch):
    """The texts the engine fine-tuned its records-as-text model on == the reader's texts of the same rows
    posted as JSON (rows with a missing income and a missing plan, and the bools, among them)."""
    seen = {}

    def finetune(task, *args):
        seen["task"] = task
        raise RuntimeError("stop before training")

    monkeypatch.setattr(textstages, "_finetune", finetune)
    settings = AnalystSettings.for_profile("smoke", transformer_train_rows=10_000)
    with pytest.raises(RuntimeError, match="stop before training"):
        textstages.run_transformer_stages(prepared, settings, prepared.rows("test"), ["records"], bf16=False)
    train = prepared.rows("train")
    fed = seen["task"].texts("train")
    assert len(fed) == len(train) and {3, 7} <= set(train.tolist())  # rows with missing values are among them
    posted = as_json(prepared.frame.iloc[train][prepared.schema.features])
    assert rows.RowReader(prepared.schema.to_dict()).texts(posted) == list(fed)
    assert (
        "The income is unknown." in fed[list(train).index(3)]
        and "The plan is unknown." in fed[list(train).index(3)]
    )
    assert "The owner is True." in " ".join(fed) and "The owner is False." in " ".join(fed)


def test_predict_takes_rows_and_answers_probabilities(client, bundles, valid):
    answer = client.post("/predict", json={"rows": valid})
    assert answer.status_code == 200, answer.text
    got = answer.json()["predictions"]
    assert len(got) == 3 and got[0]["label"] in ("no", "yes") and not got[0]["truncated"]
    predictor = export.load_predictor(bundles["rows"], "torch_fp32", threads=1)
    want = predictor.predict_rows(valid)
    np.testing.assert_allclose([[p["probabilities"][k] for k in ("no", "yes")] for p in got], want, atol=1e-6)
    texts = rows.RowReader.of(predictor.bundle.card).texts(valid)
    np.testing.assert_allclose(want, predictor.predict_many(texts))
    missing = {**valid[0], "income": None, "plan": None}  # both columns had missing values in training
    assert client.post("/predict", json={"rows": [missing]}).status_code == 200


def _bad(row_changes, drop=()):
    return {"changes": row_changes, "drop": drop}


CASES = {
    "missing column": (_bad({}, drop=("age",)), "missing_field", "rows[1].age", "rows[1].age: missing; expected a number"),
    "string for a number": (_bad({"income": "abc"}), "invalid_type", "rows[1].income", 'rows[1].income: expected a number, got "abc"'),
    "bool for a number": (_bad({"age": True}), "invalid_type", "rows[1].age", "rows[1].age: expected a number, got true"),
    "number for a category": (_bad({"city": 3}), "unknown_category", "rows[1].city",
                              'rows[1].city: 3 is not a category seen in training; expected one of "Lyon", "Nice", "Paris"'),
    "unseen category": (_bad({"city": "Rome"}), "unknown_category", "rows[1].city",
                        'rows[1].city: "Rome" is not a category seen in training; expected one of "Lyon", "Nice", "Paris"'),
    "list for a category": (_bad({"plan": ["gold"]}), "invalid_type", "rows[1].plan",
                            'rows[1].plan: expected one of "basic", "gold" or null, got ["gold"]'),
    "null where none was missing": (_bad({"age": None}), "missing_value", "rows[1].age",
                                    "rows[1].age: null, but the training table had no missing values in this column; expected a number"),
    "unknown column": (_bad({"zip": "69001"}), "unknown_field", "rows[1].zip",
                       "rows[1].zip: unknown field (not a column of the training table); expected only the feature columns: income, age, city, owner, plan"),
    "the target": (_bad({"default": "yes"}), "unknown_field", "rows[1].default",
                   "rows[1].default: unknown field (the target, which the model predicts); expected only the feature columns: income, age, city, owner, plan"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_bad_row_is_a_422_naming_the_row_and_the_field(client, bundles, valid, case):
    change, error, field, message = CASES[case]
    row = {k: v for k, v in {**valid[1], **change["changes"]}.items() if k not in change["drop"]}
    answer = client.post("/predict", json={"rows": [valid[0], row, valid[2]]})
    assert (answer.status_code, answer.json()) == (422, {"error": error, "field": field, "message": message})
    predictor = export.load_predictor(bundles["rows"], "torch_fp32", threads=1)
    with pytest.raises(rows.RowError, match="^" + re.escape(message) + "$"):
        predictor.predict_rows([valid[0], row])


def test_the_bodys_shape_and_size(client, valid):
    def answer(payload, **kwargs):
        response = client.post("/predict", json=payload, **kwargs)
        return response.status_code, response.json()

    assert answer({"rows": []}) == (422, {"error": "empty_list", "field": "rows",
                                          "message": "rows: expected at least one row, got an empty list"})  # fmt: skip
    assert answer({"rows": valid * 3}) == (413, {"error": "too_many_rows", "field": "rows",
                                                 "message": "rows: 9 rows, at most 8 per request"})  # fmt: skip
    assert answer({"rows": {"income": 1}})[1]["message"] == "rows: expected a list of objects, got dict"
    assert answer({"rows": [7]})[1]["message"] == "rows[0]: expected an object of column: value, got 7"
    assert answer({"rows": valid, "extra": 1})[1]["message"] == "extra: unknown field; expected only rows"
    assert answer({})[1]["error"] == "missing_field" and answer([1])[1]["error"] == "invalid_body"
    big = {"rows": [{**valid[0], "city": "x" * 30_000}]}  # over max_body_bytes: refused while streaming
    assert (
        client.post(
            "/predict", content=json.dumps(big), headers={"content-type": "application/json"}
        ).status_code
        == 413
    )


def test_texts_on_a_rows_bundle_and_rows_on_a_texts_bundle_are_refused(client, bundles, valid):
    answer = client.post("/predict", json={"texts": ["The income is 50."]})
    assert answer.status_code == 422 and answer.json()["error"] == "wrong_input"
    assert answer.json()["field"] == "texts" and "this bundle takes table rows" in answer.json()["message"]
    with TestClient(serve.create_app(bundles["texts"], serve.ServeConfig(**LIMITS))) as texts_client:
        answer = texts_client.post("/predict", json={"rows": valid})
        assert (answer.status_code, answer.json()["error"], answer.json()["field"]) == (
            422,
            "wrong_input",
            "rows",
        )
        assert answer.json()["message"].startswith('rows: this bundle takes texts, {"texts": ["..."]}')
        assert texts_client.post("/predict", json={"texts": ["The income is 50."]}).status_code == 200
    with pytest.raises(rows.RowError, match="takes texts"):
        export.load_predictor(bundles["texts"], "torch_fp32", threads=1).predict_rows(valid)


def test_a_bundle_from_before_the_input_field_still_serves_texts(bundles, tmp_path):
    import shutil

    old = shutil.copytree(bundles["texts"], tmp_path / "old")
    body = json.loads((old / export.CARD_FILE).read_text())
    del body["input"]
    (old / export.CARD_FILE).write_text(json.dumps(body))
    with TestClient(serve.create_app(old, serve.ServeConfig(**LIMITS))) as old_client:
        answer = old_client.post("/predict", json={"texts": ["HbA1c 8.1%, on metformin."]})
        assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] in ("no", "yes")


def test_the_engine_bundle_carries_a_fairness_section_when_asked(monkeypatch, tmp_path):
    """sensitive_columns on a tiny table: the bundle's card gets the section on its test predictions (the tiny BERT
    stands in for the student; PyTorch backend, no ONNX export); a missing column is refused before training."""
    with pytest.raises(LlmkitError, match="sensitive column 'gender' not found"):
        engine.prepare(table(), "default", name="loans.csv", sensitive_columns=["gender"])
    p = engine.prepare(table(), "default", name="loans.csv", sensitive_columns=["city", "age"])
    assert p.sensitive == ["city", "age"] and engine.prepare(table(), "default").sensitive == []
    build, load = export.build_bundle, export.load_predictor
    monkeypatch.setattr(export, "build_bundle", lambda *a, **k: build(*a, **k, onnx=False))
    monkeypatch.setattr(
        export, "load_predictor", lambda folder, backend: load(folder, "torch_fp32", threads=1)
    )
    test_rows = p.rows("test")
    texts = {
        k: records_to_text(p.X.iloc[p.rows(k)], p.schema.features) for k in ("train", "validation", "test")
    }
    task = textstages._task("records:loans.csv", texts, {k: p.y[p.rows(k)] for k in texts}, p.schema.classes)
    student = {"model": tiny_classifier(), "tokenizer": models.load_tokenizer("minilm")}
    result = textstages._bundle(p, student, task, tmp_path / "b", "bundle", print, test_rows=test_rows,
                                n_resamples=20)  # fmt: skip
    card = export.load_bundle(tmp_path / "b").card
    section = card["fairness"]
    assert section == result.extra["fairness"] and section["test_rows"] == len(test_rows)
    assert set(section["columns"]) == {"city", "age"} and section["target"] == "default"
    assert {g["group"] for g in section["columns"]["city"]["groups"]} <= {"Lyon", "Nice", "Paris"}
    age = section["columns"]["age"]["groups"]  # a many-valued number: cut into 3 bands
    assert len(age) == 3 and sum(g["rows"] for g in age) == len(test_rows)
    assert all(g["small"] for g in section["columns"]["city"]["groups"])  # 12 test rows: every group flagged
    pred = result.pred.argmax(1)
    city = p.frame["city"].to_numpy()[test_rows]
    paris = city == "Paris"
    paris_row = next(g for g in section["columns"]["city"]["groups"] if g["group"] == "Paris")
    got = paris_row["selection rate"]["value"]
    assert got == pytest.approx(pred[paris].mean(), abs=1e-4)
    assert "fairness audited on" in card["limitations"][-1]
