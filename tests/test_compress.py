"""Compression and acceleration (notebook 06): the cached teacher, int8 / ONNX / pruned / bf16 variants,
timing, agreement, the Pareto front and the files for deployment.

Most tests use a tiny random BERT (hidden 32, 2 layers) with MiniLM's tokenizer, exported to ONNX once per
module; one test loads the real MiniLM to check the file sizes."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny import tiny_classifier

from llmkit.assets import models
from llmkit.compress import frontier, int8, lineup, ort, precision, pruning
from llmkit.core.errors import LlmkitError
from llmkit.finetune import loop

TEXTS = [
    "Patient reports polyuria and polydipsia; fasting glucose 182 mg/dL.",
    "Follow-up after knee surgery, wound healing well.",
    "HbA1c 8.1%, started on metformin.",
    "Seasonal allergies, no other complaints.",
    "Blurred vision and fatigue for two weeks, glucose elevated.",
    "Routine check, blood pressure normal.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer("minilm")


@pytest.fixture(scope="module")
def model():
    return tiny_classifier()


@pytest.fixture(scope="module")
def variants(model, tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    return lineup.build_variants(
        model, tokenizer, folder, ["fp32", "int8", "onnx_fp32", "onnx_int8", "pruned"]
    )


@pytest.fixture(scope="module")
def batch(tokenizer):
    return lineup.timing_batch(tokenizer, TEXTS, batch_size=4, length=16)


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, llmkit.compress.lineup, llmkit.compress.frontier; print(','.join(m for m in ('torch', 'transformers', 'onnxruntime', 'onnx', 'matplotlib') if m in sys.modules))"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.strip()
        == ""
    )


# ------------------------------------------------------------------------------------------ variants


def test_onnx_fp32_matches_pytorch(variants, batch):
    reference = variants["fp32"].logits(batch)
    assert reference.shape == (4, 2)
    np.testing.assert_allclose(variants["onnx_fp32"].logits(batch), reference, atol=1e-4)


def test_onnx_axes_are_dynamic(variants, tokenizer):
    for size, length in [(1, 8), (3, 40)]:
        out = variants["onnx_fp32"].logits(lineup.timing_batch(tokenizer, TEXTS, size, length))
        assert out.shape == (size, 2)


def test_int8_variants_agree_with_fp32(variants, tokenizer):
    texts = TEXTS * 4
    reference = variants["fp32"].predict_proba(texts)
    for kind in ("int8", "onnx_int8"):
        agreement = lineup.logit_agreement(reference, variants[kind].predict_proba(texts))
        assert agreement["argmax_agreement"] >= 0.8, kind
        assert agreement["max_abs_diff"] < 0.1, kind


def test_predict_proba_accepts_texts_or_encoded(variants, tokenizer):
    from llmkit.finetune.batching import encode

    encoded = encode(tokenizer, TEXTS, [0] * len(TEXTS))
    from_texts = variants["fp32"].predict_proba(TEXTS, batch_size=4)
    np.testing.assert_allclose(variants["fp32"].predict_proba(encoded, batch_size=2), from_texts, atol=1e-5)
    np.testing.assert_allclose(from_texts.sum(axis=1), 1.0)
    single = variants["fp32"].predict_proba(TEXTS[:1])
    np.testing.assert_allclose(single, from_texts[:1], atol=1e-5)  # padding in a batch changes nothing


def test_sizes_are_files_on_disk(variants, tmp_path):
    onnx_path = variants["onnx_fp32"].details["path"]
    assert variants["onnx_fp32"].size_mb == pytest.approx(os.path.getsize(onnx_path) / 1e6)
    assert variants["onnx_int8"].size_mb < variants["onnx_fp32"].size_mb
    assert variants["int8"].size_mb < variants["fp32"].size_mb
    assert variants["pruned"].size_mb == pytest.approx(variants["fp32"].size_mb)  # zeros stored densely


def test_pruning_hits_the_requested_sparsity(model):
    pruned, achieved = pruning.prune_encoder(model, 0.6)
    assert achieved == pytest.approx(0.6, abs=1e-3)
    linears = [m for m in pruned.bert.encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert not any(hasattr(m, "weight_orig") for m in linears)  # prune.remove made it permanent
    assert (model.bert.encoder.layer[0].intermediate.dense.weight != 0).all()  # the original is untouched
    assert pruning.prune_encoder(model, 0.0)[1] == 0.0


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "half"])
def test_bad_sparsity_is_one_line_error(model, bad):
    with pytest.raises(LlmkitError, match=r"sparsity: expected a fraction in \[0, 1\)") as err:
        pruning.prune_encoder(model, bad)
    assert "\n" not in str(err.value)


def test_unknown_variant_name_is_named(model, tokenizer, tmp_path):
    with pytest.raises(LlmkitError, match="variant names: expected some of fp32.*'int4'") as err:
        lineup.build_variants(model, tokenizer, tmp_path, ["fp32", "int4"])
    assert "\n" not in str(err.value)


def test_bf16_variant_where_supported(model, tokenizer, batch):
    from llmkit.core.hardware import bf16_supported

    if not bf16_supported("cpu"):
        assert "bf16" not in lineup.available_variants()
        with pytest.raises(LlmkitError, match="bf16"):
            precision.bf16_variant(model, tokenizer)
        return
    variant = precision.bf16_variant(model, tokenizer)
    fp32 = precision.fp32_variant(model, tokenizer).logits(batch)
    assert variant.kind == "bf16"
    np.testing.assert_allclose(variant.logits(batch), fp32, atol=0.05)


def test_int8_embeddings_quantize_the_tables_too(model, tokenizer, batch):
    linear_only = int8.int8_variant(model, tokenizer)
    with_tables = int8.int8_variant(model, tokenizer, embeddings=True)
    assert with_tables.size_mb < 0.5 * linear_only.size_mb  # the tiny model is mostly its embedding table
    agreement = lineup.logit_agreement(linear_only.logits(batch), with_tables.logits(batch))
    assert agreement["max_abs_diff"] < 0.1


# ------------------------------------------------------------------------------------------------ files


@pytest.mark.parametrize("embeddings", [False, True])
def test_int8_safetensors_round_trip(model, tokenizer, batch, tmp_path, embeddings):
    variant = int8.int8_variant(model, tokenizer, embeddings=embeddings)
    path = int8.save_int8(variant.model, tmp_path / "model.int8.safetensors")
    assert path.stat().st_size / 1e6 == pytest.approx(variant.size_mb)
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary name is gone
    loaded = int8.load_int8(path, tiny_classifier(seed=1))  # other weights: all must be replaced
    np.testing.assert_array_equal(precision.torch_run(loaded)(batch), variant.logits(batch))


def test_save_classifier_and_onnx_are_atomic(model, tokenizer, batch, tmp_path):
    folder = loop.save_classifier(model, tokenizer, tmp_path / "deploy")
    assert (folder / "model.safetensors").exists() and not list(tmp_path.glob(".*"))
    loop.save_classifier(model, tokenizer, folder)  # overwriting an existing folder works
    reloaded = models.load_classifier(str(folder)).eval()
    expected = precision.fp32_variant(model, tokenizer).logits(batch)
    np.testing.assert_allclose(precision.fp32_variant(reloaded, tokenizer).logits(batch), expected, atol=1e-6)
    path = ort.save_onnx(model, folder / "model.onnx")
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    np.testing.assert_allclose(ort.load_onnx(path, tokenizer).logits(batch), expected, atol=1e-4)


def test_missing_onnx_file_and_low_opset_are_named(model, tokenizer, tmp_path):
    with pytest.raises(LlmkitError, match="no ONNX file"):
        ort.load_onnx(tmp_path / "missing.onnx", tokenizer)
    with pytest.raises(LlmkitError, match="opset: expected 17"):
        ort.save_onnx(model, tmp_path / "m.onnx", opset=13)


# ----------------------------------------------------------------------------------------------- timing


def test_time_variants_alternates_and_reports_medians(variants, tokenizer):
    batches = {b: lineup.timing_batch(tokenizer, TEXTS, b, length=16) for b in (1, 4)}
    order = []

    def spy(v):  # the same variant, noting each call
        return replace(v, run=lambda batch: order.append(v.name) or v.run(batch))

    chosen = [spy(variants["fp32"]), spy(variants["onnx_fp32"])]
    timing = lineup.time_variants(chosen, batches, rounds=2, repeats=2, warmup=1, progress=False)
    assert set(timing.ms) == {"fp32", "onnx_fp32"} and all(len(t) == 2 for t in timing.ms["fp32"].values())
    timed = order[2 * 2 :]  # after the warm-up calls; each block is 2 batches x 2 repeats = 4 calls
    assert timed[:4] == ["fp32"] * 4 and timed[8:12] == ["onnx_fp32"] * 4  # round 2 starts with the last
    assert timing.length == 16 and timing.median("fp32", 4) > 0
    assert timing.speedup("onnx_fp32", "fp32", 1) > 0
    assert set(timing.frame().columns) >= {"variant", "batch_size", "latency_ms", "ms_per_example"}
    assert lineup.latency_ms(variants["fp32"], batches[1], repeats=2, warmup=1) > 0


def test_time_variants_encodes_texts_with_each_variants_own_tokenizer(variants, tokenizer):
    from transformers import PreTrainedTokenizerFast

    seen = []

    def spy(v, tok):  # a variant with its own tokenizer, noting the ids it is given
        return replace(
            v, name=f"{v.name}-{id(tok)}", tokenizer=tok, run=lambda b: seen.append((tok, b)) or v.run(b)
        )

    other = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer, pad_token="[PAD]")
    chosen = [spy(variants["fp32"], tokenizer), spy(variants["fp32"], other)]
    timing = lineup.time_variants(
        chosen, texts=TEXTS, sizes=(2,), length=8, rounds=1, repeats=1, progress=False
    )
    assert timing.length == 8 and all(list(t) == [2] for t in timing.ms.values())
    for tok, batch in seen:
        np.testing.assert_array_equal(batch["input_ids"], lineup.timing_batch(tok, TEXTS, 2, 8)["input_ids"])
    assert {id(t) for t, _ in seen} == {id(tokenizer), id(other)}
    with pytest.raises(LlmkitError, match="either batches or texts"):
        lineup.time_variants(chosen, progress=False)


def test_timing_batch_has_the_requested_shape(tokenizer):
    batch = lineup.timing_batch(tokenizer, TEXTS[:2], batch_size=5, length=12)
    assert batch["input_ids"].shape == (5, 12) and batch["input_ids"].dtype == np.int64
    with pytest.raises(LlmkitError, match="batch_size"):
        lineup.timing_batch(tokenizer, TEXTS, batch_size=0)


def test_logit_agreement():
    a = np.array([[2.0, 1.0], [0.0, 1.0], [1.0, 3.0]])
    b = np.array([[2.5, 1.0], [1.5, 1.0], [1.0, 3.0]])
    out = lineup.logit_agreement(a, b)
    assert out["max_abs_diff"] == pytest.approx(1.5) and out["argmax_agreement"] == pytest.approx(2 / 3)
    with pytest.raises(LlmkitError, match="one shape"):
        lineup.logit_agreement(a, b[:2])


# ----------------------------------------------------------------------------------------------- Pareto

ROWS = [
    ("fp32", 90.9, 40.0, 0.93),
    ("int8", 58.0, 25.0, 0.93),  # dominates fp32
    ("onnx int8", 23.0, 15.0, 0.92),
    ("pruned", 90.9, 41.0, 0.90),  # dominated
    ("tiny", 2.0, 30.0, 0.80),  # smallest, slower than onnx int8
]


def test_pareto_front():
    assert frontier.pareto_front(ROWS) == ["int8", "onnx int8", "tiny"]
    assert frontier.pareto_front(ROWS, costs=("latency_ms",)) == ["int8", "onnx int8"]
    assert frontier.pareto_front(ROWS[:1]) == ["fp32"]
    same = [("a", 1.0, 1.0, 0.5), ("b", 1.0, 1.0, 0.5)]
    assert frontier.pareto_front(same) == ["a", "b"]  # ties dominate nothing
    point = frontier.VariantPoint("p", 1.0, 2.0, 0.7)
    assert frontier.pareto_front([point]) == ["p"]


def test_pareto_bad_rows_are_named():
    with pytest.raises(LlmkitError, match="accuracy in \\[0, 1\\]"):
        frontier.pareto_front([("x", 1.0, 1.0, 93.0)])
    with pytest.raises(LlmkitError, match="unique names"):
        frontier.pareto_front([ROWS[0], ROWS[0]])
    with pytest.raises(LlmkitError, match="costs: expected some of size_mb, latency_ms"):
        frontier.pareto_front(ROWS, costs=("energy",))


def test_plot_pareto_labels_axes_with_units():
    import matplotlib.pyplot as plt

    for x, unit in [("size_mb", "(MB)"), ("latency_ms", "(ms)")]:
        fig = frontier.plot_pareto(ROWS, x=x)
        ax = fig.axes[0]
        assert unit in ax.get_xlabel() and "accuracy" in ax.get_ylabel() and ax.get_title()
        front = [line for line in ax.get_lines() if line.get_label() == "Pareto front"]
        assert len(front) == 1
        plt.close(fig)
    with pytest.raises(LlmkitError, match="x: expected one of"):
        frontier.plot_pareto(ROWS, x="accuracy")


# ------------------------------------------------------------------------------------------ the teacher


def test_finetuned_minilm_is_cached(tmp_path, monkeypatch, model, tokenizer):
    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    source = loop.save_classifier(model, tokenizer, tmp_path / "tiny")
    kwargs = {"n_train": 16, "epochs": 1, "max_length": 32, "name": str(source), "bf16": False}
    first, _, info = loop.finetuned_minilm(**kwargs)
    assert info["cached"] is False and info["n_train"] == 16 and len(info["epoch_loss"]) == 1
    folder = tmp_path / "cache" / "finetuned" / info["key"]
    assert (folder / "model.safetensors").exists() and not list(folder.parent.glob(".*"))
    again, tok, info2 = loop.finetuned_minilm(**kwargs)
    assert info2["cached"] is True and info2["key"] == info["key"]
    batch = lineup.timing_batch(tok, TEXTS, 3, 16)
    np.testing.assert_allclose(
        precision.fp32_variant(again, tok).logits(batch),
        precision.fp32_variant(first, tok).logits(batch),
        atol=1e-6,
    )
    _, _, other = loop.finetuned_minilm(**{**kwargs, "seed": 1})
    assert other["cached"] is False and other["key"] != info["key"]


# ------------------------------------------------------------------------------------------- real MiniLM


def test_real_minilm_int8_is_smaller_on_disk(tokenizer):
    minilm = models.load_classifier("minilm", num_labels=2).eval()
    fp32 = precision.fp32_variant(minilm, tokenizer).size_mb
    linear_only = int8.int8_variant(minilm, tokenizer).size_mb
    with_tables = int8.int8_variant(minilm, tokenizer, embeddings=True).size_mb
    assert 85 < fp32 < 95  # 22.7M parameters x 4 bytes
    assert fp32 / linear_only == pytest.approx(1.55, abs=0.1)  # half of MiniLM is its embedding table
    assert fp32 / with_tables >= 3.5


def test_finetuned_minilm_on_an_analysts_task_keys_on_its_rows(tmp_path, monkeypatch, model, tokenizer):
    import pandas as pd

    from llmkit.finetune import tasks

    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    source = loop.save_classifier(model, tokenizer, tmp_path / "tiny")
    frame = pd.DataFrame({"text": TEXTS * 4, "label": [0, 1] * (2 * len(TEXTS)), "split": "train"})
    task = tasks.TextTask("mine", frame, ("a", "b"))
    kwargs = {"n_train": 100, "epochs": 1, "max_length": 16, "name": str(source), "bf16": False}
    _, _, info = loop.finetuned_minilm(task, **kwargs)
    assert info["task"] == "mine" and info["cached"] is False
    assert loop.finetuned_minilm(task, **kwargs)[2]["cached"] is True
    flipped = tasks.TextTask("mine", frame.assign(label=1 - frame["label"]), ("a", "b"))
    assert loop.finetuned_minilm(flipped, **kwargs)[2]["key"] != info["key"]
