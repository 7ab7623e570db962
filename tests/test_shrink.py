"""The student cut from its teacher (notebook 05, DistilBERT's recipe): weights copied exactly, fewer layers,
one-line errors for bad layer choices, the cached build, the per-profile sizes and the teacher-vs-student
comparison. The tiny test BERT (tests/tiny.py) stands in for MiniLM, so this runs in seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tiny import tiny_classifier

from llmkit.assets import models
from llmkit.core.errors import LlmkitError
from llmkit.core.params import parameter_count
from llmkit.data.synth.clinical_notes import generate_unlabeled_notes
from llmkit.distill import shrink
from llmkit.finetune import loop, tasks


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer("minilm")


@pytest.fixture(scope="module")
def batch(tokenizer):
    return tokenizer(["metformin 500 mg twice daily", "no history of diabetes, glucose 95"], padding=True,
                     return_tensors="pt")  # fmt: skip


def _logits(model, batch):
    with torch.no_grad():
        return model(**batch).logits


def _deep_teacher(seed=0):
    """The tiny BERT with 4 layers (tiny.py's config, one setting changed), so that a subset is a real choice."""
    from transformers import BertForSequenceClassification

    small = tiny_classifier(seed)
    config = small.config
    config.num_hidden_layers = 4
    torch.manual_seed(seed)
    return BertForSequenceClassification(config).eval()


def test_all_layers_give_the_teacher_back_exactly(batch):
    teacher = tiny_classifier(seed=3)
    student = shrink.student_from_teacher(teacher, [0, 1])
    assert student is not teacher and not student.training
    assert student.config.num_hidden_layers == 2 and parameter_count(student) == parameter_count(teacher)
    for (name, p), (name_t, q) in zip(
        student.state_dict().items(), teacher.state_dict().items(), strict=True
    ):
        assert name == name_t and torch.equal(p, q)
    torch.testing.assert_close(_logits(student, batch), _logits(teacher, batch), rtol=0, atol=0)
    with torch.no_grad():  # a copy, not a view: training the student leaves the teacher alone
        next(student.parameters()).add_(1.0)
    assert not torch.equal(next(student.parameters()), next(teacher.parameters()))


def test_a_subset_of_layers_keeps_those_layers_and_drops_their_weights(batch):
    teacher = _deep_teacher()
    per_layer = parameter_count(teacher.bert.encoder.layer[0])
    student = shrink.student_from_teacher(teacher, (1, 3))
    assert (
        student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 4
    )  # teacher untouched
    assert parameter_count(student) == parameter_count(teacher) - 2 * per_layer
    for new, old in enumerate((1, 3)):
        for p, q in zip(student.bert.encoder.layer[new].parameters(), teacher.bert.encoder.layer[old].parameters(),
                        strict=True):  # fmt: skip
            assert torch.equal(p, q)
    for part in ("embeddings", "pooler"):
        assert all(torch.equal(p, q) for p, q in zip(getattr(student.bert, part).parameters(),
                                                     getattr(teacher.bert, part).parameters(), strict=True))  # fmt: skip
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)
    # the student is the teacher without layers 0 and 2: the same forward pass, run by hand on one text
    one = {k: v[:1] for k, v in batch.items()}  # the first text is the longest: no padding, no mask needed
    assert bool(one["attention_mask"].all())
    with torch.no_grad():
        hidden = teacher.bert.embeddings(input_ids=one["input_ids"])  # [1, tokens, hidden]
        for i in (1, 3):
            out = teacher.bert.encoder.layer[i](hidden)
            hidden = out[0] if isinstance(out, tuple) else out
        by_hand = teacher.classifier(teacher.bert.pooler(hidden))  # [1, num_labels]
    torch.testing.assert_close(_logits(student, one), by_hand, rtol=1e-5, atol=1e-5)
    assert shrink.student_from_teacher(teacher.train(), [2]).training  # the teacher's mode comes along


@pytest.mark.parametrize("bad", [[], [2], [-1], [1, 0], [0, 0], [0.0], [True], "01", 3, None])
def test_bad_layers_give_one_line_errors(bad):
    with pytest.raises(LlmkitError, match=r"^layers: expected .* each in 0\.\.1 ") as err:
        shrink.student_from_teacher(tiny_classifier(), bad)
    assert "\n" not in str(err.value)


def test_a_teacher_of_another_architecture_is_refused():
    with pytest.raises(LlmkitError, match="^teacher: expected a BertForSequenceClassification"):
        shrink.student_from_teacher(torch.nn.Linear(2, 2), [0])


def test_settings_per_profile_and_the_lesson_defaults():
    lesson = shrink.ShrinkSettings.for_profile("lesson")
    assert lesson.layers == shrink.DEFAULT_LAYERS and lesson.kd_epochs == shrink.DEFAULT_KD_EPOCHS
    assert shrink.ShrinkSettings.for_profile("smoke").kd_epochs <= lesson.kd_epochs
    cfg = shrink.ShrinkSettings.for_profile("full", kd_epochs=2).distill_config(seed=4)
    assert (cfg.epochs, cfg.seed, cfg.learning_rate) == (2, 4, shrink.DEFAULT_LEARNING_RATE)


@pytest.fixture
def analyst_task():
    notes = generate_unlabeled_notes(40, seed=3)["note"].tolist()
    frame = pd.DataFrame({"text": notes, "label": [i % 2 for i in range(40)],
                          "split": ["train"] * 24 + ["test"] * 16})  # fmt: skip
    return tasks.TextTask("analyst", frame, ("no", "yes")), notes


def test_shrunk_student_is_built_once_and_cached(tmp_path, monkeypatch, tokenizer, analyst_task):
    from llmkit.distill.kdtrain import DistillConfig

    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    task, notes = analyst_task
    teacher_folder = loop.save_classifier(_deep_teacher(), tokenizer, tmp_path / "teacher")
    kwargs = {
        "teacher_train_size": 24, "teacher_epochs": 1, "layers": (0, 3), "bf16": False,
        "teacher_name": str(teacher_folder), "kd_cfg": DistillConfig(epochs=1, batch_size=8, max_length=32),
    }  # fmt: skip
    model, tok, info = shrink.shrunk_student(task, **kwargs)
    assert info["cached"] is False and info["layers"] == [0, 3] and info["steps"] == 3  # 24 texts / 8
    assert model.config.num_hidden_layers == 2 and not model.training
    assert info["teacher_parameters"] - info["student_parameters"] == 2 * parameter_count(
        _deep_teacher().bert.encoder.layer[0]
    )
    folder = tmp_path / "cache" / "shrunk" / info["key"]
    assert (folder / "model.safetensors").exists() and not list(folder.glob("*.bin"))  # never pickle
    again, tok2, info2 = shrink.shrunk_student(task, **kwargs)
    assert info2["cached"] is True and info2["key"] == info["key"] and info2["steps"] == 3
    batch = tok(notes[:3], padding=True, return_tensors="pt")
    torch.testing.assert_close(_logits(again, batch), _logits(model, batch))
    assert len(tok2) == len(tokenizer)  # the teacher's vocabulary
    _, _, more = shrink.shrunk_student(task, **kwargs, unlabeled=notes[24:] + notes[:2])  # 16 new, 2 known
    assert more["cached"] is False and more["key"] != info["key"]
    assert (more["unlabeled_texts"], more["transfer_texts"], more["steps"]) == (16, 40, 5)
    _, _, fewer = shrink.shrunk_student(task, **{**kwargs, "layers": (1,)})
    assert fewer["key"] != info["key"] and fewer["student_parameters"] < info["student_parameters"]
    with pytest.raises(LlmkitError, match=r"^layers: expected .* each in 0\.\.3 "):
        shrink.shrunk_student(task, **{**kwargs, "layers": (0, 4)})  # known bad only once the teacher is
    with pytest.raises(LlmkitError, match="^kd_epochs"):
        shrink.shrunk_student(task, **{**kwargs, "kd_epochs": 0})


def test_compare_models_scores_and_times_the_teacher_first(tokenizer, analyst_task):
    task, _ = analyst_task
    teacher = _deep_teacher()
    student = shrink.student_from_teacher(teacher, [0])
    rows = shrink.compare_models(task, {"teacher": (teacher, tokenizer), "student": (student, tokenizer)},
                                 batch_size=8, rounds=2, repeats=1)  # fmt: skip
    assert [r["model"] for r in rows] == ["teacher", "student"]
    assert rows[0]["retention"] == 1.0 and rows[0]["speedup"] == 1.0
    assert 0 <= rows[1]["accuracy"] <= 1 and rows[1]["latency_ms"] > 0
    assert rows[1]["retention"] == pytest.approx(rows[1]["accuracy"] / rows[0]["accuracy"])
    assert np.isfinite(rows[1]["speedup"]) and rows[1]["parameters"] < rows[0]["parameters"]
    with pytest.raises(LlmkitError, match="batch_size=32"):
        shrink.compare_models(task, {"teacher": (teacher, tokenizer)})  # 16 test texts
