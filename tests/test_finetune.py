"""Fine-tuning (notebook 03): tasks, encoding, dynamic padding, length grouping, the explicit loop, Trainer,
the FLOPs count, the padding comparison and the TF-IDF baseline.

Training tests use a tiny random BERT with MiniLM's tokenizer, so the whole file runs in seconds; one test
loads the real MiniLM classifier."""

from __future__ import annotations

import numpy as np
import pytest
import tiny
import torch

from llmkit.assets import models
from llmkit.core import hardware
from llmkit.core.errors import LlmkitError
from llmkit.finetune import baselines, batching, loop, seedcode, tasks, throughput, trainer


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer("minilm")


def tiny_classifier(num_labels: int = 2, **kwargs):
    """The shared tiny BERT without dropout: a random tiny model memorizes 16 examples quickly only without it."""
    return tiny.tiny_classifier(num_labels=num_labels, dropout=0.0, **kwargs)


@pytest.fixture(scope="module")
def sentiment():
    return tasks.load_task("drug_sentiment")


@pytest.fixture(scope="module")
def tiny_data(tokenizer, sentiment):
    task = tasks.subsample(tasks.subsample(sentiment, 16, seed=1), 16, split="test", seed=1)
    return (
        tasks.encode_task(tokenizer, task, "train", max_length=32),
        tasks.encode_task(tokenizer, task, "test", max_length=32),
    )


# ------------------------------------------------------------------------------------------------- tasks


def test_drug_sentiment_drops_neutral_reviews(sentiment):
    assert len(sentiment.split("train")) == 546 and len(sentiment.split("test")) == 343
    assert sentiment.label_names == ("negative", "positive")
    assert sentiment.majority_accuracy() == pytest.approx(0.723, abs=1e-3)


def test_condition_task_keeps_the_top_conditions():
    task = tasks.load_task("drug_condition", top_conditions=3)
    assert task.num_labels == 3 and task.label_names[0] == "Birth Control"
    assert set(task.frame["label"]) == {0, 1, 2}
    with pytest.raises(LlmkitError, match="top_conditions"):
        tasks.load_task("drug_condition", top_conditions=1)


def test_diabetes_notes_task_has_three_splits():
    task = tasks.load_task("diabetes_notes")
    assert task.frame["split"].value_counts().to_dict() == {"train": 3000, "validation": 1000, "test": 1000}


def test_unknown_task_and_split_are_named():
    with pytest.raises(LlmkitError, match="drug_sentiment"):
        tasks.load_task("sentiment")
    with pytest.raises(LlmkitError, match="no rows in split 'validation'"):
        tasks.load_task("drug_sentiment").split("validation")


def test_subsample_is_stratified_seeded_and_leaves_other_splits(sentiment):
    small = tasks.subsample(sentiment, 40, seed=3)
    assert len(small.split("train")) == 40 and len(small.split("test")) == 343
    assert small.labels("train").mean() == pytest.approx(sentiment.labels("train").mean(), abs=0.03)
    assert small.texts("train") == tasks.subsample(sentiment, 40, seed=3).texts("train")
    assert small.texts("train") != tasks.subsample(sentiment, 40, seed=4).texts("train")
    with pytest.raises(LlmkitError, match=r"n: expected an integer in \[2, 546\]"):
        tasks.subsample(sentiment, 1000)


# ---------------------------------------------------------------------------------- encoding, batching


def test_encode_truncates_and_does_not_pad(tokenizer):
    ds = batching.encode(tokenizer, ["short", "a much longer text " * 40], [0, 1], max_length=32)
    assert ds.lengths[0] == 3 and ds.lengths[1] == 32  # [CLS] short [SEP]; truncated
    item = ds[0]
    assert item["attention_mask"] == [1, 1, 1] and item["labels"] == 0
    assert ds.subset([1]).lengths == [32] and ds.subset([1]).labels == [1]
    with pytest.raises(LlmkitError, match="2 encoded texts but 1 labels"):
        batching.EncodedTexts(ds.input_ids, [0], tokenizer)


def test_collator_pads_to_the_longest_in_the_batch_or_to_512(tokenizer):
    ds = batching.encode(tokenizer, ["one", "one two three", "one two three four five six"], [0, 1, 0])
    batch = batching.collator(tokenizer)([ds[i] for i in range(3)])
    assert list(batch["input_ids"].shape) == [3, max(ds.lengths)]
    assert batch["attention_mask"].sum(1).tolist() == ds.lengths
    assert batch["labels"].tolist() == [0, 1, 0]
    assert (batch["input_ids"][0, ds.lengths[0] :] == tokenizer.pad_token_id).all()
    fixed = batching.collator(tokenizer, pad_to=512)([ds[i] for i in range(3)])
    assert list(fixed["input_ids"].shape) == [3, 512]


def test_length_grouped_batches_cover_every_index_once_and_cut_padding():
    lengths = np.random.default_rng(0).integers(5, 300, size=203).tolist()
    grouped = batching.length_grouped_batches(lengths, 16, seed=0)
    assert sorted(i for b in grouped for i in b) == list(range(203))
    assert grouped == batching.length_grouped_batches(lengths, 16, seed=0)
    shuffled = batching.random_batches(203, 16, seed=0)
    assert sorted(i for b in shuffled for i in b) == list(range(203))
    assert batching.padding_fraction(lengths, grouped) < 0.1 < batching.padding_fraction(lengths, shuffled)
    first_lengths = [max(lengths[i] for i in b) for b in grouped]
    assert first_lengths != sorted(first_lengths, reverse=True)  # the batches themselves are shuffled


def test_padding_fraction_by_hand():
    lengths = [2, 4, 3, 3]
    assert batching.padding_fraction(lengths, [[0, 1], [2, 3]]) == pytest.approx(1 - 12 / 14)
    assert batching.padding_fraction(lengths, [[0, 1, 2, 3]], pad_to=6) == pytest.approx(1 - 12 / 24)


# ---------------------------------------------------------------------------------------------- training


def _mean_loss(model, ds):
    proba = loop.predict_proba(model, ds)
    return float(-np.log(proba[np.arange(len(ds)), ds.labels]).mean())


@pytest.mark.slow
def test_explicit_loop_reduces_the_training_loss_and_is_repeatable(tiny_data):
    train, _ = tiny_data
    cfg = loop.FinetuneConfig(epochs=8, batch_size=4, learning_rate=1e-2, warmup=0.0, seed=0)
    model = tiny_classifier()
    before = _mean_loss(model, train)
    result = loop.train_classifier(model, train, train, cfg, progress=False)
    assert _mean_loss(model, train) < 0.5 * before  # 16 examples: it memorizes them
    assert result.steps == 8 * 4 and result.examples == 8 * 16 and len(result.step_loss) == 32
    assert result.tokens == 8 * sum(train.lengths) <= result.padded_tokens
    assert len(result.eval_accuracy) == 8 and result.eval_accuracy[-1] > result.eval_accuracy[0]
    again = loop.train_classifier(tiny_classifier(), train, None, cfg, progress=False)
    assert again.step_loss == result.step_loss  # same seed: same head, same data order


def test_explicit_loop_logs_to_tensorboard_when_asked(tiny_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train, test = tiny_data
    cfg = loop.FinetuneConfig(epochs=2, batch_size=8, learning_rate=1e-2, seed=0)
    log_dir = loop.tensorboard_dir(tmp_path, "loop")
    result = loop.train_classifier(tiny_classifier(), train, test, cfg, progress=False, log_dir=log_dir)
    events = EventAccumulator(str(log_dir))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"train/loss", "train/learning_rate", "eval/accuracy"}
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx(result.step_loss)
    assert len(events.Scalars("eval/accuracy")) == 2


def test_train_head_only_freezes_the_encoder(tiny_data):
    train, _ = tiny_data
    model = tiny_classifier()
    embeddings = model.bert.embeddings.word_embeddings.weight.detach().clone()
    head = model.classifier.weight.detach().clone()
    cfg = loop.FinetuneConfig(epochs=1, batch_size=8, learning_rate=1e-2, train_head_only=True)
    loop.train_classifier(model, train, None, cfg, progress=False)
    assert loop.freeze_encoder(model) == 32 * 2 + 2  # the head's weight and bias
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, embeddings)
    assert not torch.equal(model.classifier.weight, head)


def test_predict_proba_keeps_the_dataset_order(tiny_data):
    _, test = tiny_data
    model = tiny_classifier(num_labels=3).eval()
    proba = loop.predict_proba(model, test, batch_size=5)
    assert proba.shape == (16, 3) and np.allclose(proba.sum(1), 1)
    with torch.no_grad():
        one = torch.softmax(model(input_ids=torch.tensor([test.input_ids[7]])).logits, -1)[0].numpy()
    assert np.allclose(proba[7], one, atol=1e-5)


def test_trainer_run_logs_to_tensorboard(tiny_data, tmp_path):
    train, test = tiny_data
    cfg = loop.FinetuneConfig(epochs=2, batch_size=8, learning_rate=1e-3, seed=0)
    result = trainer.train_with_trainer(tiny_classifier(), train, test, cfg, tmp_path, name="tiny")
    assert result.steps == 4 and result.examples == 32 and result.step_seconds > 0
    assert len(result.eval_accuracy) == 2
    assert list(loop.tensorboard_dir(tmp_path, "tiny").glob("events.out.tfevents.*"))
    assert not list((tmp_path / "trainer").rglob("*.safetensors"))  # save_strategy="no"


def test_build_classifier_seeds_the_new_head():
    a = loop.build_classifier("minilm", num_labels=3, seed=5)
    b = loop.build_classifier("minilm", num_labels=3, seed=5)
    assert a.classifier.weight.shape == (3, 384)
    assert torch.equal(a.classifier.weight, b.classifier.weight)


# -------------------------------------------------------------------------------------------- throughput


def test_classifier_flops_formula_by_hand_and_against_torch():
    from torch.utils.flop_counter import FlopCounterMode

    # eager attention: explicit QK^T and AV matmuls (torch's counter books fused SDPA backward differently)
    model = tiny_classifier(num_labels=3, vocab_size=100, attn_implementation="eager")
    p = throughput.classifier_params(model)
    assert p.per_token == 2 * (4 * 32 * 32 + 2 * 32 * 64) and p.per_sequence == 32 * 32 + 32 * 3
    lengths = [10, 10, 10, 10]
    by_hand = 3 * (2 * p.per_token * 40 + 4 * 2 * 32 * 4 * 100 + 2 * p.per_sequence * 4)
    assert throughput.classifier_flops(model, lengths) == by_hand
    ids = torch.randint(5, 100, (4, 10))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, labels=torch.tensor([0, 1, 2, 0])).loss.backward()
    assert counter.get_total_flops() == by_hand  # every matmul counted, nothing else


@pytest.mark.slow
def test_compare_times_variants_in_alternating_rounds(tokenizer, sentiment):
    ds = tasks.encode_task(tokenizer, tasks.subsample(sentiment, 16, seed=0), "train", max_length=512)
    model = tiny_classifier()
    params = throughput.classifier_params(model)
    variants = [
        throughput.make_variant(
            "pad512", ds, list(range(4)), 4, pad_to=512, group_by_length=False, params=params
        ),
        throughput.make_variant("dynamic", ds, list(range(16)), 4, params=params),
    ]
    assert variants[0].padded_tokens == 4 * 512 and variants[1].padded_tokens < 16 * 512
    result = throughput.compare(model, variants, rounds=2, peak_n=256, progress=False)
    assert len(result.peak_gflops) == 2 and all(len(v.seconds) == 2 for v in result.variants.values())
    assert result.speedup("dynamic", "pad512") > 0 and result.fraction_of_peak("dynamic") > 0
    assert isinstance(hardware.bf16_supported(), bool)


# --------------------------------------------------------------------------------------------- baselines


def test_tfidf_baseline_chooses_c_by_cross_validation():
    texts = [f"great drug works {i}" for i in range(20)] + [f"awful side effects {i}" for i in range(20)]
    labels = [1] * 20 + [0] * 20
    search = baselines.tfidf_logreg(texts, labels)
    assert search.best_params_["logreg__C"] in baselines.C_GRID
    proba = search.predict_proba(["works great", "awful effects"])
    assert proba.shape == (2, 2) and proba[0, 1] > 0.5 > proba[1, 1]
    with pytest.raises(LlmkitError, match="3 texts but 2 labels"):
        baselines.tfidf_logreg(["a", "b", "c"], [0, 1])


def test_linear_probe_on_separable_features():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-2, 1, (30, 5)), rng.normal(2, 1, (30, 5))])
    y = np.array([0] * 30 + [1] * 30)
    assert baselines.linear_probe(X, y).score(X, y) == 1.0
    with pytest.raises(LlmkitError, match="expected features"):
        baselines.linear_probe(X[:, 0], y)


# ------------------------------------------------------------------------------------- the seed's own code


def test_seed_code_is_the_fenced_block_under_5_2_verbatim():
    from llmkit.data.seed import seed_text

    code = seedcode.seed_code()
    assert "```python\n" + code + "```" in seed_text()
    assert code.startswith("import torch\n") and "BertForSequenceClassification" in code and "# " in code
    assert "for epoch in range(10):" in code and "lr=2e-5" in code and "batch_size=32" in code
    assert "padding" not in code  # the seed never shows how it pads


def test_seed_printed_results_are_parsed():
    lines = seedcode.seed_epoch_lines(seedcode.seed_block("5.4"))
    assert lines == [(1, 0.326, 0.871), (2, 0.213, 0.920), (10, 0.086, 0.955)]


def test_seed_block_names_a_missing_heading():
    with pytest.raises(LlmkitError, match="no heading"):
        seedcode.seed_block("42.7")


def test_undefined_names_of_the_seed_code_and_by_hand():
    assert seedcode.undefined_names(seedcode.seed_code()) == [
        "read_train_data",
        "TokenDataset",
        "DataLoader",
        "read_test_data",
    ]
    src = "import os\nfrom a import b as c\ndef f(x):\n    return x + y\nfor i in range(3):\n    z = c(i, w)\nprint(z)"
    assert seedcode.undefined_names(src) == ["y", "w"]
    assert seedcode.undefined_names(seedcode.fixed_seed_code()) == [
        "MODEL_DIR",
        "read_train_data",
        "TokenDataset",
        "SEED",
        "read_test_data",
    ]


def test_every_fix_applies_once_and_the_fixed_code_keeps_the_hyper_parameters():
    fixed = seedcode.fixed_seed_code()
    assert "labels=labels)" in fixed and "outputs.logits" in fixed and "torch.no_grad()" in fixed
    assert "shuffle=True" in fixed and "validation.txt" in fixed and "{accuracy:.3f}" in fixed
    assert "'bert-base-cased'" not in fixed and "from torch.utils.data import DataLoader" in fixed
    assert "for epoch in range(10):" in fixed and "lr=2e-5" in fixed and "batch_size=32" in fixed
    compile(fixed, "fixed", "exec")
    assert [f.key for f in seedcode.seed_fixes("labels", "model")] == ["model", "labels"]
    with pytest.raises(LlmkitError, match="unknown"):
        seedcode.seed_fixes("nope")
    with pytest.raises(LlmkitError, match="expected 1 occurrence"):
        seedcode.apply_fixes("x = 1\n", seedcode.seed_fixes("labels"))


def test_labeled_texts_round_trip(tmp_path, sentiment):
    task = tasks.subsample(sentiment, 8, seed=0)
    path = seedcode.write_labeled_texts(task, "train", tmp_path / "train.txt")
    rows = seedcode.read_labeled_texts(path)
    assert [y for _, y in rows] == task.labels("train").tolist()
    assert all("\n" not in t and "\t" not in t for t, _ in rows)
    (tmp_path / "bad.txt").write_text("positive review\n")
    with pytest.raises(LlmkitError, match="label<TAB>text"):
        seedcode.read_labeled_texts(tmp_path / "bad.txt")


def test_token_dataset_pads_every_row_to_one_length_for_the_default_collate(tokenizer):
    from torch.utils.data import DataLoader

    ds = batching.TokenDataset([("short", 0), ("a somewhat longer text here", 1), ("x", 1)], tokenizer, 16)
    batch = next(iter(DataLoader(ds, batch_size=3)))  # the seed's call: no collate_fn
    assert batch["input_ids"].shape == (3, 16) and batch["labels"].tolist() == [0, 1, 1]
    assert batch["attention_mask"][0].sum() == 3 and 0 < ds.padding_fraction < 1


def _seed_files(tmp_path, n=4):
    task = tasks.load_task("diabetes_notes")
    for split in ("train", "validation", "test"):
        task = tasks.subsample(task, n, split=split, seed=0)
        seedcode.write_labeled_texts(task, split, tmp_path / f"{split}.txt")


def test_the_seed_code_fails_where_the_notebook_says(tmp_path, monkeypatch):
    """The seed's code on a tiny random BERT: no labels -> loss is None; labels -> torch.max raises."""
    from transformers import BertForSequenceClassification

    _seed_files(tmp_path)
    monkeypatch.setattr(BertForSequenceClassification, "from_pretrained", lambda *a, **k: tiny_classifier())
    ns = seedcode.seed_namespace(max_length=16)
    with pytest.raises(AttributeError, match="backward"):
        seedcode.run_seed_code(
            seedcode.apply_fixes(seedcode.seed_code(), seedcode.seed_fixes("model", "import")), tmp_path, ns
        )
    assert ns["outputs"].loss is None and ns["epoch"] == 0
    ns = seedcode.seed_namespace(max_length=16)
    with pytest.raises(TypeError):
        code = seedcode.apply_fixes(seedcode.seed_code(), seedcode.seed_fixes("model", "import", "labels"))
        seedcode.run_seed_code(code, tmp_path, ns)
    assert ns["epoch"] == 9  # training ran its 10 epochs; evaluation failed


@pytest.mark.slow
def test_the_fixed_seed_code_runs_and_reports_each_epoch(tmp_path, monkeypatch):
    from transformers import BertForSequenceClassification

    _seed_files(tmp_path)
    monkeypatch.setattr(BertForSequenceClassification, "from_pretrained", lambda *a, **k: tiny_classifier())
    ns = seedcode.run_seed_code(seedcode.fixed_seed_code(), tmp_path, seedcode.seed_namespace(max_length=16))
    assert [e for e, _, _ in ns["history"]] == list(range(1, 11))
    assert all(0 <= acc <= 1 for _, _, acc in ns["history"]) and 0 <= ns["accuracy"] <= 1
    proba, labels = seedcode.loader_proba(ns["model"], ns["test_loader"])
    assert proba.shape == (4, 2) and np.allclose(proba.sum(1), 1)
    assert (proba.argmax(1) == labels).mean() == pytest.approx(ns["accuracy"])
    again = seedcode.run_seed_code(
        seedcode.fixed_seed_code(), tmp_path, seedcode.seed_namespace(max_length=16)
    )
    assert again["history"] == ns["history"]  # seeded: the same run twice


def test_saved_for_backward_is_zero_under_no_grad():
    model = tiny_classifier()
    ids = torch.randint(0, 100, (2, 8))
    mb, grad = throughput.saved_for_backward_mb(lambda: model(input_ids=ids))
    with torch.no_grad():
        mb0, grad0 = throughput.saved_for_backward_mb(lambda: model(input_ids=ids))
    assert mb > 0 and grad and mb0 == 0 and not grad0
