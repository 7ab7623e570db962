"""Transfer learning (notebook 04): epochs for small subsets, random init, LoRA, domain-adaptive
pretraining (cached, atomic), the probe and fine-tuned points, and the curve summaries.

Models are tiny random BERTs saved as folders with MiniLM's tokenizer, so the file runs in seconds; one
test builds the real MiniLM with LoRA to check the parameter count against the formula."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from tiny import save_tiny_pretrained  # noqa: E402

from llmkit.assets import models
from llmkit.core.errors import LlmkitError  # noqa: E402
from llmkit.finetune import loop, tasks
from llmkit.transfer import adapt, curves, lora  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer("minilm")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, tokenizer):
    """A tiny 'pretrained' BERT (with an MLM head) saved like a hub model: safetensors and tokenizer."""
    return save_tiny_pretrained(tmp_path_factory.mktemp("tiny_bert"), tokenizer, seed=0, dropout=0.0)


@pytest.fixture(scope="module")
def tiny_notes():
    task = tasks.load_task("diabetes_notes")
    task = tasks.subsample(task, 24, seed=0)
    return tasks.subsample(task, 20, split="test", seed=0)


def test_epochs_for_small_subsets_reach_the_minimum_steps():
    assert curves.epochs_for(16, 16, min_steps=60, min_epochs=3) == 60  # one step per epoch
    assert curves.epochs_for(64, 16, min_steps=60, min_epochs=3) == 15
    assert curves.epochs_for(640, 16, min_steps=60, min_epochs=3) == 3  # 40 steps an epoch
    assert curves.epochs_for(17, 16, min_steps=5, min_epochs=1) == 3  # 2 steps an epoch (the last short)
    with pytest.raises(LlmkitError, match="n >= 1"):
        curves.epochs_for(0, 16, 60, 3)


def test_random_classifier_has_the_architecture_but_not_the_weights():
    pretrained = loop.build_classifier("minilm", 2, seed=0)
    random = lora.build_random_classifier("minilm", 2, seed=0)
    assert random.config.hidden_size == pretrained.config.hidden_size == 384
    assert random.config.num_hidden_layers == 6
    name = "bert.encoder.layer.0.attention.self.query.weight"
    a, b = dict(pretrained.named_parameters())[name], dict(random.named_parameters())[name]
    assert a.shape == b.shape and not torch.allclose(a, b)
    again = lora.build_random_classifier("minilm", 2, seed=0)
    assert torch.equal(dict(again.named_parameters())[name], b)  # seeded


def test_lora_on_minilm_trains_only_adapters_and_head():
    model = lora.add_lora(loop.build_classifier("minilm", 2, seed=0), r=8)
    trainable, total = lora.trainable_parameters(model)
    shapes = [(384, 384)] * 12  # query and value in 6 layers, [out, in]
    head = 384 * 2 + 2  # the new classifier, trained in full
    assert trainable == lora.lora_parameter_count(shapes, 8) + head == 74_498
    assert trainable / total < 0.02
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert any("query.base_layer.weight" in n for n in frozen)


def test_lora_starts_exactly_at_the_wrapped_model(tokenizer, tiny_folder):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(tiny_folder, num_labels=2).eval()
    batch = tokenizer(["HbA1c 7.1%, on metformin."], return_tensors="pt")
    before = base(**batch).logits
    wrapped = lora.add_lora(base, r=4).eval()
    assert torch.allclose(wrapped(**batch).logits, before)  # B = 0: the adapters add nothing yet
    with pytest.raises(LlmkitError, match="positive integer rank"):
        lora.add_lora(base, r=0)


def test_lora_parameter_count_by_hand():
    assert lora.lora_parameter_count([(10, 20)], r=2) == 2 * (10 + 20)
    assert lora.lora_parameter_count([(384, 384), (1536, 384)], r=8) == 8 * 768 + 8 * 1920


@pytest.mark.slow
def test_domain_adapt_saves_safetensors_once_and_reuses_the_cache(tmp_path, monkeypatch, tiny_folder):
    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    texts = tasks.load_task("diabetes_notes").texts("validation")[:200]
    cfg = adapt.DaptConfig(steps=3, batch_size=4, block_len=32, head_steps=2)
    folder, report = adapt.domain_adapt(texts, cfg, name=str(tiny_folder), run_dir=tmp_path / "run")
    assert (folder / "model.safetensors").exists() and not list(folder.glob("*.bin"))
    assert report["cached"] is False and len(report["val_mlm_loss"]) == len(report["eval_steps"]) >= 3
    assert report["eval_steps"] == sorted(report["eval_steps"]) and report["eval_steps"][-1] == 5
    assert all(np.isfinite(report["val_mlm_loss"]))
    assert list((tmp_path / "run" / "tensorboard" / "dapt").glob("events.out.tfevents.*"))
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    again, cached = adapt.domain_adapt(texts, cfg, name=str(tiny_folder))
    assert again == folder and cached["cached"] is True
    other, _ = adapt.domain_adapt(texts[:150], cfg, name=str(tiny_folder))
    assert other != folder  # other texts: another cache entry
    model = models.load_classifier(str(folder), num_labels=2)  # loads like any pretrained folder
    assert model.config.hidden_size == 32
    with pytest.raises(LlmkitError, match="at least 2 unlabeled"):
        adapt.domain_adapt(texts[:1], cfg, name=str(tiny_folder))


@pytest.mark.slow
def test_train_point_and_probe_point_score_the_same_test_set(tokenizer, tiny_folder, tiny_notes, tmp_path):
    cfg = curves.CurveConfig(batch_size=8, min_steps=3, min_epochs=1, max_length=32)
    test = tasks.encode_task(tokenizer, tiny_notes, "test", 32)
    points = [
        curves.train_point(
            m, tiny_notes, test, tokenizer, cfg, seed=0, model_name=str(tiny_folder), run_dir=tmp_path
        )
        for m in ("random_init", "full_finetune", "lora")
    ]
    logged = sorted(p.name for p in (tmp_path / "tensorboard").iterdir())
    assert logged == ["full_finetune_n24_seed0", "lora_n24_seed0", "random_init_n24_seed0"]
    for p in points:
        assert p.n == 24 and 0.0 <= p.accuracy <= 1.0 and p.seconds > 0
        assert 0.0 <= p.accuracy_shifted <= 1.0  # the notes mark their shifted test rows
    assert points[2].trainable < points[1].trainable == points[0].trainable
    rng = np.random.default_rng(0)
    pool = tiny_notes.split("train")
    features, test_features = rng.normal(size=(len(pool), 8)), rng.normal(size=(20, 8))
    sub = tasks.subsample(tiny_notes, 12, seed=0)
    probe = curves.probe_point(features, pool.index, sub, test_features, tiny_notes)
    assert probe.method == "linear_probe" and probe.n == 12 and probe.trainable == 9
    assert len(probe.correct) == len(tiny_notes.split("test"))
    assert np.mean(probe.correct) == pytest.approx(probe.accuracy)
    with pytest.raises(LlmkitError, match="method: expected"):
        curves.train_point("linear_probe", tiny_notes, test, tokenizer, cfg)


def test_summaries_value_at_and_plot():
    points = [
        curves.Point("full_finetune", 16, 0, 0.7, 0.6, 10, 1.0),
        curves.Point("full_finetune", 16, 1, 0.8, 0.7, 10, 1.0),
        curves.Point("linear_probe", 16, 0, 0.75, 0.7, 3, 0.1),
    ]
    table = curves.summarize(points)
    row = table[table["method"] == "full_finetune"].iloc[0]
    assert row["mean"] == pytest.approx(0.75) and row["count"] == 2 and row["std"] > 0
    assert curves.value_at(points, "linear_probe", 16) == 0.75
    with pytest.raises(LlmkitError, match="no 'lora' point at n = 16; have: full_finetune@16"):
        curves.value_at(points, "lora", 16)
    fig = curves.plot_data_efficiency(points, title="curve", references={"majority": 0.69})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "curve"
    assert "labeled training examples" in ax.get_xlabel()
    plt.close(fig)


def test_correct_rows_average_the_seeds_row_by_row_and_pair_two_methods():
    ft = [
        curves.Point("full_finetune", 16, s, 0.0, 0.0, 10, 1.0, correct=c)
        for s, c in enumerate([(True, False, True, True), (True, True, False, True)])
    ]
    probe = curves.Point("linear_probe", 16, 0, 0.5, 0.5, 3, 0.1, correct=(False, False, True, True))
    rows = curves.correct_rows([*ft, probe], "full_finetune", 16)
    np.testing.assert_allclose(rows, [1.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(curves.correct_rows(ft, "full_finetune", 16, mask=[0, 1, 1, 0]), [0.5, 0.5])
    assert "correct" not in curves.points_frame([probe]).columns
    with pytest.raises(LlmkitError, match="per-row results"):
        curves.correct_rows([curves.Point("lora", 16, 0, 0.7, 0.6, 10, 1.0)], "lora", 16)


def test_with_train_subset_keeps_the_pool_when_n_is_all(tiny_notes):
    assert len(curves.with_train_subset(tiny_notes, 24, 0).split("train")) == 24
    assert len(curves.with_train_subset(tiny_notes, 8, 0).split("train")) == 8


def test_held_out_split_gives_small_tables_a_validation_block():
    from llmkit.assets import models
    from llmkit.pretrain.lmdata import held_out_split

    tokenizer = models.load_tokenizer("minilm")
    notes = [
        f"Patient {i} reports thirst and fatigue; fasting glucose {120 + i} mg/dL, HbA1c 7.{i}%."
        for i in range(40)
    ]
    train, val = held_out_split(tokenizer, notes, 128)
    assert len(val) > 2 and len(train) + len(val) == 40  # 5% (2 notes) would be under one block
    with pytest.raises(LlmkitError, match="pretraining needs at least 256"):
        held_out_split(tokenizer, notes[:5], 128)
