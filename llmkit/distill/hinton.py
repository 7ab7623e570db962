"""Knowledge distillation (notebook 05): Hinton, Vinyals & Dean's (2015) MNIST experiment, in shape, on
scikit-learn's digits, and the temperature sweep."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from llmkit.core.config import by_profile
from llmkit.core.errors import LlmkitError
from llmkit.core.params import parameter_count

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn
from llmkit.distill.digits import (
    NUM_CLASSES,
    DigitsSplit,
    MlpConfig,
    build_mlp,
    load_digits_split,
    predict_logits,
    test_errors,
    train_mlp,
)

MODELS: tuple[str, ...] = ("teacher", "small net", "distilled small net")
PAPER_MNIST: dict[str, int] = {"teacher": 67, "small net": 146, "distilled small net": 74}  # errors of 10,000
PAPER_TEST_IMAGES = 10_000
PAPER_ARCHITECTURES: dict[str, str] = {  # Hinton et al. (2015), section 3
    "teacher": "2x1200, dropout, jittered inputs",
    "small net": "2x800, no regularization",
    "distilled small net": "2x800, soft targets at T = 20",
}


@dataclass(frozen=True)
class HintonConfig:
    """The experiment of :func:`hinton_table`: two architectures, how each is trained, and the split."""

    teacher_hidden: tuple[int, ...] = (512, 512)  # hidden widths of the large net
    teacher_dropout: float = 0.5  # after each hidden ReLU of the teacher (the student has none)
    student_hidden: tuple[int, ...] = (30, 30)  # hidden widths of the small net
    teacher: MlpConfig = MlpConfig(epochs=30, batch_size=64, learning_rate=1e-3)  # minibatch Adam
    student: MlpConfig = MlpConfig()  # both small nets (full-batch Adam); T and alpha: the distilled one
    test_size: float = 0.5  # share of the 1,797 images held out for testing (stratified)
    split_seed: int = 0  # the split is fixed; the seeds of hinton_table vary only initialization and order

    def __post_init__(self) -> None:
        for name in ("teacher_hidden", "student_hidden"):
            hidden = getattr(self, name)
            if not hidden or any(int(h) < 1 for h in hidden):
                raise LlmkitError(f"HintonConfig.{name}: expected positive hidden widths, got {hidden!r}")
        if not 0.0 <= self.teacher_dropout < 1.0:
            raise LlmkitError(
                f"HintonConfig.teacher_dropout: expected in [0, 1), got {self.teacher_dropout!r}"
            )


def hinton_config(profile: str | None = None) -> HintonConfig:
    """The experiment at a profile: ``smoke`` trains for a few epochs only; ``lesson`` and ``full`` in full."""
    teacher_epochs = by_profile(profile, smoke=15, lesson=30, full=30)
    student_epochs = by_profile(profile, smoke=300, lesson=1000, full=1000)
    base = HintonConfig()
    return replace(
        base,
        teacher=replace(base.teacher, epochs=teacher_epochs),
        student=replace(base.student, epochs=student_epochs),
    )


# ----------------------------------------------------------------------------------- the experiment


def _describe(hidden: Sequence[int], dropout: float) -> str:
    widths = f"{len(hidden)}x{hidden[0]}" if len(set(hidden)) == 1 else "-".join(map(str, hidden))
    return widths + (f", dropout {dropout:g}" if dropout else "")


# nets trained in this process, by everything they depend on
_TRAINED: dict[tuple[Any, ...], nn.Sequential] = {}


def _digest(*arrays: np.ndarray | None) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        h.update(b"none" if a is None else np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _trained(key: tuple[Any, ...], build: Callable[[], nn.Sequential]) -> nn.Sequential:
    """Train once per process: the table, the sweep and the widget ask for the same seeded nets, and
    training on CPU is deterministic, so a second call returns the net the first one trained."""
    if key not in _TRAINED:
        if len(_TRAINED) >= 64:
            _TRAINED.clear()
        _TRAINED[key] = build()
    return _TRAINED[key]


def _train_teacher(split: DigitsSplit, cfg: HintonConfig, seed: int) -> nn.Sequential:
    def build() -> nn.Sequential:
        sizes = (split.X_train.shape[1], *cfg.teacher_hidden, NUM_CLASSES)
        teacher = build_mlp(sizes, cfg.teacher_dropout, seed=seed)
        train_mlp(teacher, split.X_train, split.y_train, cfg.teacher, seed=seed)
        return teacher

    return _trained(("teacher", cfg.teacher_hidden, cfg.teacher_dropout, cfg.teacher, seed,
                     _digest(split.X_train, split.y_train)), build)  # fmt: skip


def _train_student(
    split: DigitsSplit,
    cfg: HintonConfig,
    seed: int,
    soft: np.ndarray | None,
    student: MlpConfig | None = None,
) -> nn.Sequential:
    student = student or cfg.student

    def build() -> nn.Sequential:
        # the same seed gives both small nets the same initial weights: a paired comparison
        model = build_mlp((split.X_train.shape[1], *cfg.student_hidden, NUM_CLASSES), seed=seed)
        train_mlp(model, split.X_train, split.y_train, student, soft, seed=seed)
        return model

    return _trained(("student", cfg.student_hidden, student, seed,
                     _digest(split.X_train, split.y_train, soft)), build)  # fmt: skip


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def hinton_table(
    seeds: Sequence[int],  # one teacher, small net and distilled small net per seed
    cfg: HintonConfig | None = None,
    split: DigitsSplit | None = None,  # default: load_digits_split(cfg.split_seed, cfg.test_size)
    score_on: Literal["test", "val"] = "test",  # "val" to tune on a split with a validation part
) -> pd.DataFrame:
    """Errors of teacher, small net and distilled small net (mean +- std over ``seeds``, ddof = 1), with
    the paper's MNIST errors as reference columns; one row per model, indexed by :data:`MODELS`.

    ``df.attrs`` records the seeds, T, alpha and the wall time in seconds.
    """
    import pandas as pd

    cfg = cfg or HintonConfig()
    split = split or load_digits_split(cfg.split_seed, cfg.test_size)
    X_eval, y_eval = split.part(score_on)
    if not seeds:
        raise LlmkitError("hinton_table: expected at least one seed, got none")
    started = time.perf_counter()
    errors: dict[str, list[int]] = {m: [] for m in MODELS}
    params: dict[str, int] = {}
    for seed in seeds:
        teacher = _train_teacher(split, cfg, seed)
        small = _train_student(split, cfg, seed, None)
        distilled = _train_student(split, cfg, seed, predict_logits(teacher, split.X_train))
        for name, model in zip(MODELS, (teacher, small, distilled), strict=True):
            errors[name].append(test_errors(model, X_eval, y_eval))
            params[name] = parameter_count(model)
    architectures = {
        "teacher": _describe(cfg.teacher_hidden, cfg.teacher_dropout),
        "small net": _describe(cfg.student_hidden, 0.0),
        "distilled small net": f"{_describe(cfg.student_hidden, 0.0)}, soft targets at T = {cfg.student.temperature:g}",
    }
    rows = []
    for name in MODELS:
        mean, std = _mean_std(errors[name])
        rows.append(
            {
                "model": name,
                "architecture": architectures[name],
                "parameters": params[name],
                "errors_mean": mean,
                "errors_std": std,
                "errors_per_seed": tuple(errors[name]),
                "images": len(y_eval),
                "error_pct": 100.0 * mean / len(y_eval),
                "paper_mnist_errors": PAPER_MNIST[name],
                "paper_mnist_error_pct": 100.0 * PAPER_MNIST[name] / PAPER_TEST_IMAGES,
                "paper_architecture": PAPER_ARCHITECTURES[name],
            }
        )
    table = pd.DataFrame(rows).set_index("model")
    table.attrs.update(
        seeds=tuple(seeds),
        temperature=cfg.student.temperature,
        alpha=cfg.student.alpha,
        scored_on=score_on,
        seconds=time.perf_counter() - started,
    )
    return table


def temperature_sweep(
    temperatures: Sequence[float],  # the T values to distill at
    seeds: Sequence[int],
    cfg: HintonConfig | None = None,  # alpha and everything else come from here
    split: DigitsSplit | None = None,
    score_on: Literal["test", "val"] = "test",
) -> pd.DataFrame:
    """Distilled small net accuracy at each temperature (mean +- std over ``seeds``), one row per T.

    One teacher per seed serves every T. ``df.attrs`` holds the mean accuracy of the teacher and of the
    label-only small net, for reference lines in a plot.
    """
    import pandas as pd

    cfg = cfg or HintonConfig()
    split = split or load_digits_split(cfg.split_seed, cfg.test_size)
    X_eval, y_eval = split.part(score_on)
    temperatures = [float(t) for t in temperatures]
    if not temperatures or not seeds:
        raise LlmkitError("temperature_sweep: expected at least one temperature and one seed")
    student_cfgs = {T: replace(cfg.student, temperature=T) for T in temperatures}
    errors: dict[float, list[int]] = {T: [] for T in temperatures}
    reference: dict[str, list[int]] = {"teacher": [], "small net": []}
    for seed in seeds:
        teacher = _train_teacher(split, cfg, seed)
        soft = predict_logits(teacher, split.X_train)
        reference["teacher"].append(test_errors(teacher, X_eval, y_eval))
        reference["small net"].append(test_errors(_train_student(split, cfg, seed, None), X_eval, y_eval))
        for T in temperatures:
            errors[T].append(
                test_errors(_train_student(split, cfg, seed, soft, student_cfgs[T]), X_eval, y_eval)
            )
    n = len(y_eval)
    rows = []
    for T in temperatures:
        accuracy = 1.0 - np.asarray(errors[T]) / n
        acc_mean, acc_std = _mean_std(accuracy)
        err_mean, err_std = _mean_std(errors[T])
        rows.append(
            {
                "temperature": T,
                "accuracy_mean": acc_mean,
                "accuracy_std": acc_std,
                "errors_mean": err_mean,
                "errors_std": err_std,
            }
        )
    sweep = pd.DataFrame(rows)
    sweep.attrs.update(
        alpha=cfg.student.alpha,
        seeds=tuple(seeds),
        scored_on=score_on,
        images=n,
        teacher_accuracy=1.0 - float(np.mean(reference["teacher"])) / n,
        small_net_accuracy=1.0 - float(np.mean(reference["small net"])) / n,
    )
    return sweep
