"""The deployment stack (notebook 08): bundles and model cards, predictors, the HTTP service's validation and
micro-batching, the request log and drift check, the load generator and the malformed flood, and that the
child process always stops.

A tiny random BERT (hidden 32, 2 layers) with MiniLM's tokenizer stands in for the fine-tuned model; its
bundle (safetensors and ONNX int8) is built once per module."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from tiny import tiny_classifier

from llmkit.assets import models
from llmkit.core.errors import LlmkitError
from llmkit.deploy import export, loadtest, microbatch, monitor, serve

TEXTS = [
    "Patient reports polyuria and polydipsia; fasting glucose 182 mg/dL.",
    "Follow-up after knee surgery, wound healing well.",
    "HbA1c 8.1%, started on metformin.",
    "Seasonal allergies, no other complaints.",
]
LIMITS = {"max_texts": 8, "max_body_bytes": 20_000}


def card(**changes):
    base = {
        "name": "tiny-test",
        "version": "0.0.1",
        "task": "diabetes or not, from a clinical note",
        "labels": ["no diabetes", "diabetes"],
        "training_data": {"source": "four test sentences"},
        "metrics": {"test_accuracy": 0.5},
        "intended_use": "tests only",
        "limitations": ["random weights"],
        "max_length": 16,
    }
    return {**base, **changes}


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer("minilm")


@pytest.fixture(scope="module")
def model():
    return tiny_classifier()


@pytest.fixture(scope="module")
def bundle(model, tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundles") / "tiny"
    return export.build_bundle(model, tokenizer, folder, card(), TEXTS[:3], holdout_texts=TEXTS[3:])


@pytest.fixture(scope="module")
def client(bundle):
    with TestClient(serve.create_app(bundle, serve.ServeConfig(**LIMITS))) as client:
        yield client


# ------------------------------------------------------------------------------------------ bundles


def test_bundle_holds_both_backends_card_and_reference(bundle):
    names = {p.name for p in bundle.iterdir()}
    assert {
        "model.safetensors",
        "model.int8.onnx",
        "tokenizer.json",
        "model_card.json",
        "reference.json",
    } <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl", ".tmp")) or n.startswith(".") for n in names)
    assert "model.fp32.onnx" not in names  # a temporary step only
    loaded = export.load_bundle(bundle)
    assert loaded.backends == ["torch_fp32", "onnx_int8"] and loaded.max_length == 16
    assert loaded.card["files_bytes"]["model.int8.onnx"] == (bundle / "model.int8.onnx").stat().st_size
    assert "polyuria" in loaded.reference["vocabulary"] and "seasonal" not in loaded.reference["vocabulary"]
    assert loaded.reference["holdout_oov_rate"] > 0  # "seasonal allergies, no other complaints" is new


def test_card_must_name_data_limits_and_labels():
    with pytest.raises(LlmkitError, match="missing intended_use"):
        export.ModelCard.from_dict({k: v for k, v in card().items() if k != "intended_use"})
    with pytest.raises(LlmkitError, match="limitations must be filled"):
        export.ModelCard.from_dict(card(limitations=[]))
    with pytest.raises(LlmkitError, match="version"):
        export.ModelCard.from_dict(card(version=" "))
    extra = export.ModelCard.from_dict(card(owner="IT")).to_dict()
    assert extra["extra"] == {"owner": "IT"}


def test_card_labels_must_match_the_model(model, tokenizer, tmp_path):
    with pytest.raises(LlmkitError, match="3 names for a model with 2 classes"):
        export.build_bundle(model, tokenizer, tmp_path / "b", card(labels=["a", "b", "c"]), TEXTS, onnx=False)
    assert not (tmp_path / "b").exists() and not list(tmp_path.iterdir())


def test_a_failed_build_leaves_nothing_behind(model, tokenizer, tmp_path):
    with pytest.raises(LlmkitError, match="reference texts"):
        export.build_bundle(model, tokenizer, tmp_path / "b", card(), reference_texts=[], onnx=False)
    assert not list(tmp_path.iterdir())  # the staging folder is gone too


def test_not_a_bundle_is_one_line(tmp_path):
    with pytest.raises(LlmkitError, match="no model_card.json"):
        export.load_bundle(tmp_path)


@pytest.mark.parametrize("backend", export.BACKENDS)
def test_predictors_match_the_model(bundle, model, tokenizer, backend):
    import torch

    predictor = export.load_predictor(bundle, backend, threads=1)
    out = predictor.predict(TEXTS)
    enc = tokenizer(TEXTS, truncation=True, max_length=16, padding=True, return_tensors="pt")
    with torch.inference_mode():
        want = torch.softmax(model(**enc).logits, dim=-1).numpy()
    np.testing.assert_allclose(out.probabilities, want, atol=1e-5 if backend == "torch_fp32" else 0.05)
    assert out.tokens == [min(16, n) for n in (len(x) for x in tokenizer(TEXTS)["input_ids"])]
    assert out.truncated == [len(x) > 16 for x in tokenizer(TEXTS)["input_ids"]]
    assert export.throughput(predictor, TEXTS, batch_size=2, seconds=0.05) > 0


def test_unknown_backend_is_named(bundle):
    with pytest.raises(LlmkitError, match="backend: expected one of torch_fp32, onnx_int8"):
        export.load_predictor(bundle, "tensorrt")


# ---------------------------------------------------------------------------------------- the app


def test_predict_health_metadata(client):
    answer = client.post("/predict", json={"texts": TEXTS[:2]})
    assert answer.status_code == 200, answer.text
    rows = answer.json()["predictions"]
    assert len(rows) == 2 and rows[0]["label"] in ("no diabetes", "diabetes")
    assert abs(sum(rows[0]["probabilities"].values()) - 1) < 1e-6
    assert rows[0]["truncated"] is True and rows[0]["tokens"] == 16  # the first note has > 16 tokens
    assert rows[1]["truncated"] is False
    assert client.get("/health").json()["status"] == "ok"
    meta = client.get("/metadata").json()
    assert meta["model_card"]["intended_use"] == "tests only" and meta["serving"]["max_texts"] == 8


@pytest.mark.parametrize("bad", loadtest.malformed_requests(20, **LIMITS), ids=lambda b: b.kind)
def test_every_malformed_kind_gets_its_status_and_a_json_error(client, bad):
    headers = {"content-type": bad.content_type} if bad.content_type else {}
    answer = client.request(bad.method, bad.path, content=bad.content, headers=headers)
    assert answer.status_code == bad.status, answer.text
    body = answer.json()
    assert {"error", "field", "message"} <= set(body) and "\n" not in body["message"]


def test_error_messages_name_the_field(client):
    def message(payload):
        return client.post("/predict", json=payload).json()["message"]

    assert message({"texts": ["ok", 7]}) == "texts[1]: expected a string, got int"
    assert message({"texts": []}) == "texts: expected at least one text, got an empty list"
    assert message({"texts": ["a"] * 9}) == "texts: 9 texts, at most 8 per request"
    assert "unknown field" in message({"texts": ["a"], "extra": 1})


def test_the_first_problem_is_the_one_answered(client):
    def answer(payload):
        response = client.post("/predict", json=payload)
        return response.status_code, response.json()

    def body(error, field, message):
        return {"error": error, "field": field, "message": message}

    assert answer({"texts": 5, "zeta": 1, "beta": 2}) == (
        422,
        body("unknown_field", "beta", "beta: unknown field; expected only texts"),
    )
    assert answer({"text": "a note"}) == (
        422,
        body("unknown_field", "text", "text: unknown field; expected only texts"),
    )
    assert answer({}) == (422, body("missing_field", "texts", "texts: missing; expected a list of strings"))
    assert answer([1]) == (422, body("invalid_body", "body", "body: expected a JSON object, got list"))
    assert answer({"texts": None}) == (
        422,
        body("invalid_type", "texts", "texts: expected a list of strings, got NoneType"),
    )
    assert answer({"texts": [7] * 9}) == (
        413,
        body("too_many_texts", "texts", "texts: 9 texts, at most 8 per request"),
    )
    assert answer({"texts": ["ok", " ", 7]}) == (
        422,
        body("empty_text", "texts[1]", "texts[1]: expected a non-empty text"),
    )
    assert answer({"texts": ["ok", ["nested"], ""]}) == (
        422,
        body("invalid_type", "texts[1]", "texts[1]: expected a string, got list"),
    )


def test_micro_batching_groups_waiting_requests(bundle):
    calls = []
    predictor = export.load_predictor(bundle, "onnx_int8", threads=1)

    def spy(texts):
        calls.append(len(texts))
        return predictor.predict(texts)

    async def go(batching):
        batcher = microbatch.MicroBatcher(spy, batching, max_batch_size=4, max_wait_ms=200)
        await batcher.start()
        answers = await asyncio.gather(*(batcher.submit([t]) for t in TEXTS * 2))
        await batcher.stop()
        return answers

    answers = asyncio.run(go(True))
    assert calls == [4, 4]  # eight one-text requests, batches of at most 4
    assert [a[1]["batch_size"] for a in answers] == [4] * 8
    # dynamic int8 quantizes activations per batch, so a text's probabilities move slightly with its neighbours
    np.testing.assert_allclose(
        answers[0][0].probabilities, predictor.predict(TEXTS[:1]).probabilities, atol=1e-4
    )
    calls.clear()
    asyncio.run(go(False))
    assert calls == [1] * 8


def test_serve_config_is_checked():
    with pytest.raises(LlmkitError, match="max_batch_size: expected a positive integer"):
        serve.ServeConfig(max_batch_size=0)
    with pytest.raises(LlmkitError, match="backend"):
        serve.ServeConfig(backend="gpu")


# ------------------------------------------------------------------------------- log and drift


def test_request_log_has_no_raw_text_unless_asked(bundle, tmp_path):
    log = tmp_path / "requests.jsonl"
    cfg = serve.ServeConfig(log_path=str(log), **LIMITS)
    with TestClient(serve.create_app(bundle, cfg)) as client:
        client.post("/predict", json={"texts": TEXTS})
        client.post("/predict", json={"texts": []})
    frame = monitor.read_log(log)
    assert list(frame["status"]) == [200, 422] and frame.loc[0, "batch_size"] == 4
    assert "texts" not in frame.columns and "polyuria" not in log.read_text()
    assert frame.loc[0, "oov"] == [0, 0, 0, 5]  # the fourth text is the held-out one: 5 new words
    report = monitor.drift_report(frame, export.load_bundle(bundle).reference)
    assert report.n_texts == 4 and report.oov_rate == pytest.approx(5 / sum(frame.loc[0, "words"]))
    assert report.row()["drifted"] == report.drifted


def test_drift_check_flags_new_words_and_lengths():
    ref = export.reference_stats(["glucose high today"] * 20)
    same = monitor.RequestLog(None, ref["vocabulary"]).features(["glucose high today"] * 10)
    other = monitor.RequestLog(None, ref["vocabulary"]).features(
        ["the knee hurts after a long run uphill"] * 10
    )
    quiet = monitor.drift_report(_frame(same), ref)
    loud = monitor.drift_report(_frame(other), ref)
    assert not quiet.drifted and quiet.length_ks == 0 and quiet.oov_rate == 0
    assert loud.vocabulary_drift and loud.length_drift and loud.length_ks == 1


def _frame(features):
    import pandas as pd

    return pd.DataFrame([{"status": 200, **features}])


def test_ks_distance_and_percentiles():
    assert monitor.ks_distance([1, 2, 3], [1, 2, 3]) == 0
    assert monitor.ks_distance([1, 2], [3, 4]) == 1
    assert loadtest.percentile_ms([5, 1, 3, 2, 4], 50) == 3
    assert loadtest.percentile_ms(range(1, 101), 99) == 99 and loadtest.percentile_ms([7], 99) == 7
    with pytest.raises(LlmkitError):
        loadtest.percentile_ms([], 50)


def test_ks_distance_and_percentiles_match_the_hand_computation():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = rng.integers(0, 30, rng.integers(1, 60)).astype(float)
        b = rng.normal(15, 8, rng.integers(1, 200)).round()
        grid = np.concatenate([a, b])
        cdf_a = np.searchsorted(np.sort(a), grid, side="right") / a.size
        cdf_b = np.searchsorted(np.sort(b), grid, side="right") / b.size
        assert monitor.ks_distance(a, b) == float(np.abs(cdf_a - cdf_b).max())
        q = float(rng.uniform(0.1, 100))
        nearest_rank = np.sort(b)[int(np.ceil(q / 100 * b.size)) - 1]  # smallest with >= q% at or below it
        assert loadtest.percentile_ms(b, q) == nearest_rank


# ----------------------------------------------------------------------- the real child process


def test_service_survives_a_malformed_flood_and_stops(bundle, tmp_path):
    log = tmp_path / "log.jsonl"
    with serve.start(bundle, serve.ServeConfig(log_path=str(log), **LIMITS)) as server:
        assert server.url.startswith("http://127.0.0.1:")
        result = loadtest.flood(server.url, n=1000, concurrency=8, **LIMITS)
        assert result.sent == 1000 and result.all_as_expected, result.by_kind
        good = httpx.post(f"{server.url}/predict", json={"texts": TEXTS})
        assert good.status_code == 200
        want = export.load_predictor(bundle, "onnx_int8", threads=1).predict(TEXTS).probabilities
        got = [
            [r["probabilities"][k] for k in ("no diabetes", "diabetes")] for r in good.json()["predictions"]
        ]
        np.testing.assert_allclose(got, want, atol=1e-5)
        load = loadtest.run_load(server.url, TEXTS, clients=4, seconds=0.3, warmup_s=0.1)
        assert load.errors == 0 and load.requests_per_s > 0 and load.summary()["p99_ms"] > 0
        port = int(server.url.rsplit(":", 1)[1])
    assert not server.alive and server.process.returncode in (0, -15)  # uvicorn re-raises the SIGTERM
    assert "stopped after" in server.output.read_text()  # ... after a clean shutdown
    assert not serve._RUNNING
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert sum(1 for _ in log.open()) >= 1001


def test_service_stops_when_the_block_fails(bundle):
    with pytest.raises(ZeroDivisionError), serve.start(bundle, serve.ServeConfig(batching=False)) as server:
        assert httpx.get(f"{server.url}/health").json()["batching"] is False
        1 / 0  # noqa: B018
    assert not server.alive


def test_child_exits_when_its_parent_dies(bundle, tmp_path):
    script = (
        "import sys, time; from llmkit.deploy import serve\n"
        f"s = serve.start({str(bundle)!r})\n"
        "print(s.process.pid, flush=True); time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()  # no atexit, no finally: only the child's watchdog can notice
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _exists(child):
        time.sleep(0.1)
    assert not _exists(child)


def _exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waits for a reaper: it is gone as a server
        return f.read().split()[2] != "Z"


def test_a_bad_bundle_fails_before_starting(tmp_path):
    with pytest.raises(LlmkitError, match="no model_card.json"):
        serve.start(tmp_path)


def test_cli_serve_help_lists_the_knobs():
    from llmkit.course import cli

    out = subprocess.run(
        [sys.executable, "-m", "llmkit.course.cli", "serve", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "--max-wait-ms" in out.stdout and "--no-batching" in out.stdout
    assert callable(cli.main)


def test_the_card_carries_a_fairness_section_and_metadata_serves_it(model, tokenizer, tmp_path):
    from llmkit.fairness import card as fairness_card

    section = fairness_card.card_section([1, 0, 1, 0, 1, 0], [1, 0, 0, 0, 1, 1], {"sex": list("FFFMMM")},
                                         seed=0, n_resamples=20)  # fmt: skip
    with pytest.raises(LlmkitError, match="model card fairness: expected a dict"):
        export.ModelCard.from_dict(card(fairness=["not", "a", "dict"]))
    with pytest.raises(LlmkitError, match="model card fairness: expected plain JSON"):
        export.ModelCard.from_dict(card(fairness={"value": float("nan")}))
    assert export.ModelCard.from_dict(card()).fairness is None  # a card without an audit (and an old card)
    assert export.ModelCard.from_dict(card(fairness=section)).fairness == section  # read back, not into extra
    folder = export.build_bundle(model, tokenizer, tmp_path / "b", card(), TEXTS[:3], onnx=False)
    assert export.load_bundle(folder).card["fairness"] is None
    export.update_card(
        folder, fairness=section, limitations=["random weights", fairness_card.summary(section)]
    )
    with pytest.raises(LlmkitError, match="unknown fields"):
        export.update_card(folder, fairnes=section)
    written = export.load_bundle(folder).card
    assert written["fairness"] == section and "demographic parity" in written["limitations"][-1]
    assert written["backends"] == ["torch_fp32"]  # what the build wrote is kept
    with TestClient(serve.create_app(folder, serve.ServeConfig(backend="torch_fp32", **LIMITS))) as client:
        meta = client.get("/metadata")
    assert meta.status_code == 200, meta.text
    served = meta.json()["model_card"]["fairness"]
    assert served == section and served["columns"]["sex"]["groups"][0]["group"] == "F"
