"""Transfer learning: how many labels pretraining saves, as data-efficiency curves (notebook 04; the healthcare
case study reuses them)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd
    from transformers import PreTrainedTokenizerBase

    from llmkit.finetune.batching import EncodedTexts
    from llmkit.finetune.tasks import TextTask
from llmkit.transfer.lora import add_lora, build_random_classifier, trainable_parameters

METHODS: tuple[str, ...] = ("random_init", "linear_probe", "full_finetune", "lora", "dapt_finetune")
LABELS: dict[str, str] = {  # how plots and tables name each method
    "random_init": "random init, fine-tuned",
    "linear_probe": "linear probe (frozen MiniLM)",
    "full_finetune": "full fine-tuning",
    "lora": "LoRA",
    "dapt_finetune": "domain-adapted, then fine-tuned",
}

# ------------------------------------------------------------------------------------------ recipe


@dataclass(frozen=True)
class CurveConfig:
    """The recipe every point of a data-efficiency curve shares."""

    batch_size: int = 16
    learning_rate: float = 1e-4  # full fine-tuning (peak, linear warm-up and decay)
    random_learning_rate: float = 5e-4  # random init: at 1e-4 it stayed at the majority class here
    lora_learning_rate: float = (
        3e-3  # adapters start at zero and are few: larger steps (1e-3: 5 points lower)
    )
    lora_r: int = 8  # rank of each adapter
    lora_targets: tuple[str, ...] = ("query", "value")  # the weights that get adapters
    min_steps: int = 60  # a small subset gets more epochs until a run takes at least this many steps
    min_epochs: int = 3
    max_length: int = 128  # tokens kept per text
    bf16: bool = False  # autocast to bfloat16 (only where llmkit.core.hardware.bf16_supported())


def epochs_for(n: int, batch_size: int, min_steps: int, min_epochs: int) -> int:
    """Epochs for ``n`` examples: at least ``min_epochs``, and enough for ``min_steps`` optimizer steps."""
    if n < 1 or batch_size < 1:
        raise LlmkitError(f"epochs_for: expected n >= 1 and batch_size >= 1, got {n} and {batch_size}")
    return max(min_epochs, math.ceil(min_steps / math.ceil(n / batch_size)))


# ------------------------------------------------------------------------------------- the curves


@dataclass(frozen=True)
class Point:
    """One run of one method on one subset."""

    method: str
    n: int  # labeled training examples
    seed: int
    accuracy: float
    macro_f1: float
    trainable: int  # parameters the method trained
    seconds: float  # wall time of training (and, for the probe, of nothing but the fit)
    accuracy_shifted: float = float("nan")  # on test rows with shifted == 1, where the task marks them
    correct: tuple[bool, ...] = field(default=(), repr=False)  # per test row: predicted right (for intervals)


def _score(
    method: str, n: int, seed: int, proba: np.ndarray, y: np.ndarray, trainable: int, seconds: float,
    shifted: np.ndarray | None,
) -> Point:  # fmt: skip
    from llmkit.core import evaluate

    predicted = proba.argmax(axis=1)
    shifted_acc = (
        float((predicted == y)[shifted].mean()) if shifted is not None and shifted.any() else math.nan
    )
    return Point(
        method, n, seed, evaluate.accuracy(y, predicted), evaluate.macro_f1(y, predicted, proba.shape[1]),
        trainable, seconds, shifted_acc, tuple(bool(c) for c in predicted == y),
    )  # fmt: skip


def _shifted(task: TextTask, split: str = "test") -> np.ndarray | None:
    rows = task.split(split)
    return rows["shifted"].to_numpy() == 1 if "shifted" in rows else None


def train_point(
    method: str,
    train: TextTask,  # its train split is the labeled subset
    test: EncodedTexts,  # the encoded test split (the same for every point)
    tokenizer: PreTrainedTokenizerBase,
    cfg: CurveConfig,
    seed: int = 0,
    model_name: str = "minilm",  # a packaged name, hub id or folder (dapt_finetune: the adapted folder)
    test_task: TextTask | None = None,  # for the shifted-test accuracy; defaults to ``train``
    progress: bool = False,
    run_dir: str
    | Path
    | None = None,  # TensorBoard logs go to <run_dir>/tensorboard/<method>_n<n>_seed<seed>
) -> Point:
    """Train ``method`` (one of the fine-tuned ones in :data:`METHODS`) on ``train`` and score it."""
    from llmkit.finetune import loop, tasks

    if method not in ("random_init", "full_finetune", "lora", "dapt_finetune"):
        raise LlmkitError(
            f"method: expected random_init, full_finetune, lora or dapt_finetune, got {method!r}"
        )
    k = train.num_labels
    if method == "random_init":
        model = build_random_classifier(model_name, k, seed)
    else:
        model = loop.build_classifier(model_name, k, seed)
    lr = cfg.random_learning_rate if method == "random_init" else cfg.learning_rate
    if method == "lora":
        model, lr = add_lora(model, r=cfg.lora_r, target_modules=cfg.lora_targets), cfg.lora_learning_rate
    trainable, _ = trainable_parameters(model)
    train_ds = tasks.encode_task(tokenizer, train, "train", cfg.max_length)
    epochs = epochs_for(len(train_ds), cfg.batch_size, cfg.min_steps, cfg.min_epochs)
    run_cfg = loop.FinetuneConfig(
        epochs=epochs, batch_size=cfg.batch_size, learning_rate=lr, seed=seed, bf16=cfg.bf16
    )
    start = time.perf_counter()
    log_dir = (
        None if run_dir is None else loop.tensorboard_dir(run_dir, f"{method}_n{len(train_ds)}_seed{seed}")
    )
    loop.train_classifier(model, train_ds, None, run_cfg, progress=progress, log_dir=log_dir)
    seconds = time.perf_counter() - start
    proba = loop.predict_proba(model, test, bf16=cfg.bf16)
    y = np.asarray(test.labels)
    return _score(method, len(train_ds), seed, proba, y, trainable, seconds, _shifted(test_task or train))


def probe_point(
    features: np.ndarray,  # [n_pool, d] frozen embeddings of the whole labeled pool
    pool_index: Sequence[Any],  # the pool's row labels, in the order of ``features``
    train: TextTask,  # its train split (a subset of the pool) picks the rows
    test_features: np.ndarray,  # [n_test, d]
    test_task: TextTask,
    seed: int = 0,
) -> Point:
    """A linear probe on the frozen features of ``train``'s rows, scored on the test features."""
    from llmkit.finetune.baselines import linear_probe

    position = {key: i for i, key in enumerate(pool_index)}
    rows = [position[key] for key in train.split("train").index]
    y = train.labels("train")
    start = time.perf_counter()
    probe = linear_probe(features[rows], y)
    seconds = time.perf_counter() - start
    proba = probe.predict_proba(test_features)
    trainable = int(probe.coef_.size + probe.intercept_.size)
    return _score(
        "linear_probe",
        len(rows),
        seed,
        proba,
        test_task.labels("test"),
        trainable,
        seconds,
        _shifted(test_task),
    )


def embed_split(task: TextTask, split: str, name: str = "minilm", max_length: int = 256) -> np.ndarray:
    """Frozen sentence embeddings ``[n, hidden]`` of one split (:func:`llmkit.assets.models.embed`)."""
    from llmkit.assets.models import embed, load_encoder, load_tokenizer

    return embed(task.texts(split), load_encoder(name), load_tokenizer(name), max_length=max_length).numpy()


def points_frame(points: Sequence[Point]) -> pd.DataFrame:
    """One row per point (the per-row ``correct`` flags left out: see :func:`correct_rows`)."""
    import pandas as pd

    return pd.DataFrame([{k: v for k, v in asdict(p).items() if k != "correct"} for p in points])


def correct_rows(
    points: Sequence[Point],
    method: str,
    n: int,
    mask: np.ndarray | None = None,  # [n_test] bool: keep only these test rows (e.g. the shifted ones)
) -> np.ndarray:
    """Per test row, the fraction of ``method``'s runs at ``n`` labels (one per seed) that got it right.

    ``[n_test]`` floats whose mean is :func:`value_at`'s accuracy; two methods' arrays are paired row by row,
    so ``evaluate.bootstrap_interval(lambda a, b: a.mean() - b.mean(), ours, theirs)`` is the paired
    interval of their accuracy difference over the test rows.
    """
    runs = [np.asarray(p.correct, dtype=np.float64) for p in points if p.method == method and p.n == n]
    if not runs or any(len(r) == 0 for r in runs):
        raise LlmkitError(f"no {method!r} point with per-row results at n = {n}")
    if len({len(r) for r in runs}) != 1:
        raise LlmkitError(f"{method!r} at n = {n}: runs scored on test sets of different sizes")
    rows = np.mean(runs, axis=0)
    return rows if mask is None else rows[np.asarray(mask, dtype=bool)]


def summarize(points: Sequence[Point] | pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Mean, std and run count of ``metric`` for each (method, n)."""
    frame = points if not isinstance(points, list | tuple) else points_frame(points)
    return (
        frame.groupby(["method", "n"])[metric]
        .agg(["mean", "std", "count"])
        .fillna({"std": 0.0})
        .reset_index()
    )


def value_at(points: Sequence[Point] | pd.DataFrame, method: str, n: int, metric: str = "accuracy") -> float:
    """The mean ``metric`` of ``method`` at ``n`` labels (a LlmkitError if that point was not run)."""
    table = summarize(points, metric)
    row = table[(table["method"] == method) & (table["n"] == n)]
    if row.empty:
        have = ", ".join(f"{m}@{k}" for m, k in zip(table["method"], table["n"], strict=True))
        raise LlmkitError(f"no {method!r} point at n = {n}; have: {have}")
    return float(row["mean"].iloc[0])


def plot_data_efficiency(
    points: Sequence[Point] | pd.DataFrame,
    *,
    title: str,
    references: dict[str, float] | None = None,  # horizontal lines, e.g. {"majority class": 0.69}
    metric: str = "accuracy",
    ax: Any = None,
) -> Any:
    """Test ``metric`` against the number of labels (log axis), one line per method, error bars = std."""
    import matplotlib.pyplot as plt

    table = summarize(points, metric)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.0, 4.4))
    else:
        fig = ax.figure
    for i, method in enumerate(m for m in METHODS if m in set(table["method"])):
        rows = table[table["method"] == method].sort_values("n")
        ax.errorbar(rows["n"], rows["mean"], yerr=rows["std"], marker="o", capsize=3, color=f"C{i}",
                    label=LABELS[method])  # fmt: skip
    for j, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color="gray", linestyle=("--", ":", "-.")[j % 3], linewidth=1, label=label)
    ax.set_xscale("log", base=2)
    ax.set(
        title=title, xlabel="labeled training examples (log scale)", ylabel=f"test {metric.replace('_', ' ')}"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def with_train_subset(task: TextTask, n: int, seed: int) -> TextTask:
    """``task`` with ``n`` stratified training rows (all of them when ``n`` is the pool size)."""
    from llmkit.finetune.tasks import subsample

    return subsample(task, n, seed=seed) if n < len(task.split("train")) else replace(task)
