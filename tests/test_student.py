"""The tiny BERT student (notebook 05, part 2): its size rule against the real MiniLM, cached and atomic
pretraining, the teacher's logits, a deterministic distillation loop, zero soft loss for a student equal
to its teacher, latency, and the errors for a bad configuration. Models are tiny, so this runs in seconds."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from tiny import tiny_classifier

from llmkit.assets import models
from llmkit.core.errors import LlmkitError
from llmkit.data.synth.clinical_notes import generate_unlabeled_notes
from llmkit.distill import kdtrain, student
from llmkit.finetune import loop, tasks
from llmkit.finetune.batching import encode
from llmkit.pretrain.tokenization import train_wordpiece

TINY = {"hidden": 32, "layers": 1, "heads": 2}


@pytest.fixture(scope="module")
def notes():
    return generate_unlabeled_notes(48, seed=7)["note"].tolist()


@pytest.fixture(scope="module")
def tokenizer(notes):
    return train_wordpiece(notes, vocab_size=300)


def _tiny(tokenizer, seed=0, **kwargs):
    return student.build_student(tokenizer, **TINY, seed=seed, **kwargs)


def test_default_student_has_at_most_a_tenth_of_minilms_non_embedding_weights(tokenizer):
    teacher = models.load_classifier("minilm", num_labels=2)
    small = student.build_student(tokenizer)
    assert student.non_embedding_params(teacher) > 10_000_000  # MiniLM: ~10.6M matmul weights
    assert student.non_embedding_params(small) * 10 <= student.non_embedding_params(teacher)


def test_build_student_shapes_and_seed(tokenizer):
    a, b = _tiny(tokenizer, seed=3), _tiny(tokenizer, seed=3)
    assert a.config.intermediate_size == 4 * TINY["hidden"] and a.config.vocab_size == len(tokenizer)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    ids = tokenizer(["a note", "another longer note here"], padding=True, return_tensors="pt")
    assert a(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits.shape == (2, 2)
    # per layer: q, k, v, o (4 h^2) + feed-forward (8 h^2); pooler h^2; head 2 h
    h = TINY["hidden"]
    assert student.non_embedding_params(a) == 12 * h * h + h * h + 2 * h
    assert student.safetensors_mb(a) > 0
    with pytest.raises(LlmkitError, match="hidden"):
        student.build_student(tokenizer, hidden=30, heads=4)


@pytest.mark.slow
def test_pretrain_student_is_cached_atomic_and_loads_as_a_classifier(notes, tmp_path, monkeypatch):
    from transformers import AutoModelForSequenceClassification

    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path))
    cfg = student.StudentPretrainConfig(**TINY, vocab_size=300, block_len=32, steps=2, batch_size=4)
    folder, report = student.pretrain_student(notes, cfg)
    assert not report["cached"] and (folder / "model.safetensors").exists()
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pt"))  # never pickle
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no tmp folder, no logs left
    again, report2 = student.pretrain_student(notes, cfg)
    assert again == folder and report2["cached"]
    other, _ = student.pretrain_student(notes[:-1], cfg)  # other texts, other key
    assert other != folder
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=3)
    loaded, tok = student.load_student(folder, num_labels=3)
    assert model.config.num_labels == 3 and len(tok) == len(loaded.bert.embeddings.word_embeddings.weight)
    from safetensors.torch import load_file

    saved = load_file(folder / "model.safetensors")
    key = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(loaded.state_dict()[key], saved[key])  # the pretrained encoder, a new head
    with pytest.raises(LlmkitError, match="texts"):
        student.pretrain_student(notes[:3], cfg)


def test_teacher_logits_shape_and_softmax_match_predict_proba(tokenizer, notes):
    teacher = _tiny(tokenizer, seed=1, dropout=0.0)
    z = kdtrain.teacher_logits(teacher, tokenizer, notes[:10], batch_size=4)
    assert z.shape == (10, 2) and z.dtype == np.float32
    ds = encode(tokenizer, notes[:10], [0] * 10)
    probs = loop.predict_proba(teacher, ds)
    np.testing.assert_allclose(np.exp(z), probs, atol=1e-6)
    with torch.no_grad():  # the logit gap is the model's own, row by row
        ids = tokenizer(notes[:1], return_tensors="pt", truncation=True, max_length=128)
        own = teacher(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits[0]
    assert z[0, 1] - z[0, 0] == pytest.approx(float(own[1] - own[0]), abs=1e-4)


@pytest.mark.slow
def test_distillation_is_deterministic_and_learns(tokenizer, notes):
    soft = np.random.default_rng(0).normal(size=(len(notes), 2)).astype(np.float32) * 3
    labels = [int(i % 2) if i % 3 else -100 for i in range(len(notes))]  # some texts unlabeled
    cfg = kdtrain.DistillConfig(epochs=3, batch_size=8, learning_rate=3e-3, seed=5)
    runs = [
        kdtrain.distill_classifier(_tiny(tokenizer), tokenizer, notes, soft, labels, cfg, progress=False)
        for _ in range(2)
    ]
    assert runs[0].step_loss == runs[1].step_loss  # same seed, same losses
    assert runs[0].steps == 3 * 6 and np.isfinite(runs[0].step_loss).all()
    assert not runs[0].model.training
    other = kdtrain.distill_classifier(
        _tiny(tokenizer),
        tokenizer,
        notes,
        soft,
        None,
        kdtrain.DistillConfig(epochs=1, seed=6),
        progress=False,
    )
    assert np.isfinite(other.step_loss).all()  # no labels at all: soft targets only
    labels_only = kdtrain.DistillConfig(epochs=1, batch_size=8, alpha=0.0, seed=5)
    first, second = (
        kdtrain.distill_classifier(_tiny(tokenizer), tokenizer, notes, z, [i % 2 for i in range(len(notes))],
                                   labels_only, progress=False)
        for z in (None, soft)
    )  # fmt: skip
    assert first.step_loss == second.step_loss  # alpha = 0: the teacher's logits weigh nothing
    with pytest.raises(LlmkitError, match="soft_logits"):
        kdtrain.distill_classifier(_tiny(tokenizer), tokenizer, notes, None, None, labels_only)
    with pytest.raises(LlmkitError, match="soft_logits"):  # an unlabeled text would train on zeros
        kdtrain.distill_classifier(_tiny(tokenizer), tokenizer, notes, None, [-100] * len(notes), labels_only)


def test_a_student_equal_to_its_teacher_has_zero_soft_loss(tokenizer, notes, tmp_path):
    teacher = _tiny(tokenizer, seed=2, dropout=0.0)
    z = kdtrain.teacher_logits(teacher, tokenizer, notes)
    cfg = kdtrain.DistillConfig(epochs=1, batch_size=16, alpha=1.0, temperature=4.0, learning_rate=1e-9)
    result = kdtrain.distill_classifier(
        copy.deepcopy(teacher), tokenizer, notes, z, None, cfg, progress=False, log_dir=tmp_path / "tb"
    )
    assert max(result.step_loss) < 1e-5
    assert list((tmp_path / "tb").iterdir())  # a TensorBoard event file


def test_bad_configuration_raises(tokenizer, notes):
    model, soft = _tiny(tokenizer), np.zeros((len(notes), 2), dtype=np.float32)
    for bad, match in (
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
    ):
        with pytest.raises(LlmkitError, match=match):
            kdtrain.distill_classifier(model, tokenizer, notes, soft, None, kdtrain.DistillConfig(**bad))
    with pytest.raises(LlmkitError, match="soft_logits"):
        kdtrain.distill_classifier(model, tokenizer, notes, soft[:-1], None, progress=False)
    with pytest.raises(LlmkitError, match="labels"):
        kdtrain.distill_classifier(model, tokenizer, notes, soft, [0, 1], progress=False)


def test_forward_latency_ms(tokenizer, notes):
    model = _tiny(tokenizer)
    assert kdtrain.forward_latency_ms(model, tokenizer, notes, batch_size=4, repeats=2) > 0
    with pytest.raises(LlmkitError, match="batch_size"):
        kdtrain.forward_latency_ms(model, tokenizer, notes[:2], batch_size=4)


@pytest.mark.slow
def test_distilled_student_is_built_once_and_cached(tmp_path, monkeypatch, tokenizer):
    from llmkit.finetune import loop

    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    teacher_tok = models.load_tokenizer("minilm")
    teacher = loop.save_classifier(tiny_classifier(), teacher_tok, tmp_path / "teacher")
    kwargs = {
        "teacher_train_size": 24, "teacher_epochs": 1, "pretrain_notes": 40, "transfer_notes": 16,
        "pretrain_cfg": student.StudentPretrainConfig(**TINY, vocab_size=300, block_len=32, steps=2, batch_size=4),
        "kd_cfg": kdtrain.DistillConfig(epochs=1, batch_size=8, max_length=32), "bf16": False, "teacher_name": str(teacher),
    }  # fmt: skip
    model, tok, info = student.distilled_student(**kwargs, log_dir=tmp_path / "tb1")
    assert info["cached"] is False and info["steps"] == 5  # (16 unlabeled + 24 labeled) / 8
    folder = tmp_path / "cache" / "distilled" / info["key"]
    assert (folder / "model.safetensors").exists() and not list(folder.parent.glob(".*"))
    again, tok2, info2 = student.distilled_student(**kwargs, log_dir=tmp_path / "tb2")
    assert info2["cached"] is True and info2["key"] == info["key"]
    from llmkit.core.evaluate import read_scalars

    for run in ("tb1", "tb2"):  # built or found, the same loss curve in TensorBoard
        steps, values = read_scalars(tmp_path / run)["distill/loss"]
        assert list(steps) == [1, 2, 3, 4, 5]
        np.testing.assert_allclose(values, info["step_loss"], rtol=1e-5)
    batch = tok(["metformin 500 mg, glucose 180"], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(again(**batch).logits, model(**batch).logits)
    with pytest.raises(LlmkitError, match="transfer_notes"):
        student.distilled_student(**{**kwargs, "transfer_notes": -1})
    with pytest.raises(LlmkitError, match="kd_cfg.max_length"):
        student.distilled_student(**{**kwargs, "kd_cfg": kdtrain.DistillConfig(max_length=64)})


@pytest.mark.slow
def test_distilled_student_on_an_analysts_task_uses_its_texts(tmp_path, monkeypatch):
    from llmkit.finetune import loop

    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    teacher_tok = models.load_tokenizer("minilm")
    teacher = loop.save_classifier(tiny_classifier(), teacher_tok, tmp_path / "teacher")
    notes = generate_unlabeled_notes(40, seed=3)["note"].tolist()
    import pandas as pd

    frame = pd.DataFrame(
        {"text": notes, "label": [i % 2 for i in range(40)], "split": ["train"] * 30 + ["test"] * 10}
    )
    task = tasks.TextTask("analyst", frame, ("no", "yes"))
    kwargs = {
        "teacher_train_size": 30, "teacher_epochs": 1, "task": task, "bf16": False, "teacher_name": str(teacher),
        "pretrain_cfg": student.StudentPretrainConfig(**TINY, vocab_size=300, block_len=32, steps=2, batch_size=4),
        "kd_cfg": kdtrain.DistillConfig(epochs=1, batch_size=10, max_length=32),
    }  # fmt: skip
    _, _, info = student.distilled_student(**kwargs)
    assert info["cached"] is False and info["task"] == "analyst" and info["steps"] == 3  # 30 train texts / 10
    assert "pretrain_notes" not in info
    _, _, again = student.distilled_student(**kwargs)
    assert again["cached"] is True
    _, _, other = student.distilled_student(**kwargs, unlabeled=notes)  # 10 more texts: another key
    assert other["cached"] is False and other["key"] != info["key"] and other["steps"] == 4
