"""Notebook 05's distillation experiment at toy sizes: the split, the nets, training with and without soft
targets, determinism, the table and the sweep, and the errors bad settings raise."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from llmkit.core import params
from llmkit.core.errors import LlmkitError
from llmkit.distill import digits, hinton

TINY = hinton.HintonConfig(
    teacher_hidden=(32, 32),
    teacher=digits.MlpConfig(epochs=2, batch_size=64, learning_rate=1e-3),
    student=digits.MlpConfig(epochs=15, temperature=4.0, alpha=0.5),
)


@pytest.fixture(scope="module")
def split() -> digits.DigitsSplit:
    return digits.load_digits_split(0)


def test_split_is_stratified_scaled_and_fixed(split):
    assert split.X_train.shape == (898, 64) and split.X_test.shape == (899, 64)
    assert split.X_train.dtype == np.float32 and split.X_test.min() >= 0.0 and split.X_test.max() <= 1.0
    share = np.bincount(split.y_test, minlength=10) / np.bincount(np.r_[split.y_train, split.y_test])
    assert np.all(np.abs(share - 0.5) < 0.02)
    again = digits.load_digits_split(0)
    np.testing.assert_array_equal(again.X_test, split.X_test)
    assert split.X_val.shape == (0, 64)
    with pytest.raises(LlmkitError, match="'val' part is empty"):
        split.part("val")


def test_validation_is_carved_from_the_training_part_only(split):
    tuned = digits.load_digits_split(0, val_size=0.25)
    np.testing.assert_array_equal(tuned.X_test, split.X_test)  # the test half is untouched
    assert len(tuned.y_train) + len(tuned.y_val) == len(split.y_train) and len(tuned.y_val) == 225
    with pytest.raises(LlmkitError, match="test_size"):
        digits.load_digits_split(0, test_size=1.0)


def test_build_mlp_layers_parameters_and_seed():
    import torch

    net = digits.build_mlp((64, 30, 20, 10), dropout=0.5, seed=3)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert params.parameter_count(net) == 64 * 30 + 30 + 30 * 20 + 20 + 20 * 10 + 10
    twin = digits.build_mlp((64, 30, 20, 10), dropout=0.5, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), twin.parameters(), strict=True))
    assert "Dropout" not in str(digits.build_mlp((64, 8, 10)))
    with pytest.raises(LlmkitError, match="sizes"):
        digits.build_mlp((64,))
    with pytest.raises(LlmkitError, match="dropout"):
        digits.build_mlp((64, 8, 10), dropout=1.0)


def test_train_mlp_learns_and_is_deterministic(split):
    cfg = digits.MlpConfig(epochs=40)
    runs = []
    for _ in range(2):
        net = digits.build_mlp((64, 10, 10), seed=1)
        losses = digits.train_mlp(net, split.X_train, split.y_train, cfg, seed=1)
        runs.append((losses, digits.test_errors(net, split.X_test, split.y_test)))
    assert runs[0][0].shape == (40,) and runs[0][0][-1] < runs[0][0][0] / 2
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] < 899 * 0.9 / 2  # better than chance, same errors


def test_minibatch_dropout_training_is_deterministic(split):
    errors = []
    for _ in range(2):
        net = digits.build_mlp((64, 32, 10), dropout=0.5, seed=2)
        digits.train_mlp(net, split.X_train, split.y_train, TINY.teacher, seed=2)
        errors.append(digits.test_errors(net, split.X_test, split.y_test))
    assert errors[0] == errors[1]


def test_soft_target_path_and_alpha_zero_is_label_training(split):
    teacher = digits.build_mlp((64, 32, 10), seed=0)
    digits.train_mlp(teacher, split.X_train, split.y_train, digits.MlpConfig(epochs=10))
    soft = digits.predict_logits(teacher, split.X_train)
    assert soft.shape == (898, 10) and soft.dtype == np.float32
    histories = {}
    for alpha in (0.0, 0.7):
        net = digits.build_mlp((64, 10, 10), seed=4)
        cfg = digits.MlpConfig(epochs=10, temperature=4.0, alpha=alpha)
        histories[alpha] = digits.train_mlp(net, split.X_train, split.y_train, cfg, soft, seed=4)
    labels_only = digits.train_mlp(
        digits.build_mlp((64, 10, 10), seed=4),
        split.X_train,
        split.y_train,
        digits.MlpConfig(epochs=10),
        seed=4,
    )
    np.testing.assert_allclose(histories[0.0], labels_only, rtol=1e-6)
    assert np.all(np.isfinite(histories[0.7])) and not np.allclose(histories[0.7], labels_only)
    with pytest.raises(LlmkitError, match=r"teacher_logits of shape \[898, K\]"):
        digits.train_mlp(teacher, split.X_train, split.y_train, digits.MlpConfig(epochs=1), soft[:5])


def test_test_errors_counts_misclassified_rows():
    import torch

    identity = torch.nn.Identity()
    X = np.eye(3, dtype=np.float32)  # logits = inputs: row i predicts class i
    assert digits.test_errors(identity, X, [0, 1, 2]) == 0
    assert digits.test_errors(identity, X, [0, 2, 1]) == 2
    with pytest.raises(LlmkitError, match=r"X \[3, 3\] and y \[2\]"):
        digits.test_errors(identity, X, [0, 1])


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"temperature": 0.0}, "MlpConfig.temperature"),
        ({"temperature": -2.0}, "MlpConfig.temperature"),
        ({"alpha": 1.5}, "MlpConfig.alpha"),
        ({"alpha": -0.1}, "MlpConfig.alpha"),
        ({"learning_rate": 0.0}, "MlpConfig.learning_rate"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_train_settings_name_the_field(kwargs, field):
    with pytest.raises(LlmkitError, match=field):
        digits.MlpConfig(**kwargs)


def test_bad_experiment_settings_name_the_field():
    with pytest.raises(LlmkitError, match="HintonConfig.student_hidden"):
        hinton.HintonConfig(student_hidden=())
    with pytest.raises(LlmkitError, match="HintonConfig.teacher_dropout"):
        hinton.HintonConfig(teacher_dropout=1.0)
    with pytest.raises(LlmkitError, match="at least one seed"):
        hinton.hinton_table([], TINY)


def test_hinton_table_columns_and_determinism(split):
    table = hinton.hinton_table([0, 1], TINY, split)
    assert list(table.index) == list(hinton.MODELS)
    for column in ("architecture", "parameters", "errors_mean", "errors_std", "errors_per_seed", "images"):
        assert column in table.columns
    assert (
        table.loc["teacher", "paper_mnist_errors"] == 67
        and table.loc["small net", "paper_mnist_errors"] == 146
    )
    assert table.loc["distilled small net", "paper_mnist_error_pct"] == pytest.approx(0.74)
    assert (table["images"] == 899).all() and all(len(e) == 2 for e in table["errors_per_seed"])
    widths = (64, *TINY.student_hidden, 10)
    student_parameters = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    assert (
        table.loc["small net", "parameters"]
        == table.loc["distilled small net", "parameters"]
        == student_parameters
    )
    assert "T = 4" in table.loc["distilled small net", "architecture"]
    assert table.attrs["seeds"] == (0, 1) and table.attrs["alpha"] == 0.5 and table.attrs["seconds"] > 0
    again = hinton.hinton_table([0], TINY, split)
    assert again.loc[:, "errors_mean"].tolist() == [e[0] for e in table["errors_per_seed"]]


def test_temperature_sweep_rows_and_references():
    tuned = digits.load_digits_split(0, val_size=0.25)
    sweep = hinton.temperature_sweep(
        [1, 8], [0], replace(TINY, student=replace(TINY.student, epochs=5)), tuned, "val"
    )
    assert sweep["temperature"].tolist() == [1.0, 8.0]
    assert ((sweep["accuracy_mean"] >= 0) & (sweep["accuracy_mean"] <= 1)).all()
    assert sweep.attrs["images"] == 225 and sweep.attrs["scored_on"] == "val"
    assert 0 <= sweep.attrs["teacher_accuracy"] <= 1 and 0 <= sweep.attrs["small_net_accuracy"] <= 1


def test_profiles_scale_only_the_epochs():
    smoke, lesson = hinton.hinton_config("smoke"), hinton.hinton_config("lesson")
    assert smoke.teacher.epochs < lesson.teacher.epochs and smoke.student.epochs < lesson.student.epochs
    assert replace(smoke, teacher=lesson.teacher, student=lesson.student) == lesson == hinton.HintonConfig()
