"""Transfer learning: how many labels pretraining saves (notebook 04; the healthcare case study reuses it).

Every method is trained on the same stratified subsets of the labeled pool and scored on the same test
set, so a data-efficiency curve compares like with like (:data:`METHODS`):

* ``random_init`` -- MiniLM's architecture with **random** weights (:func:`build_random_classifier`),
  fine-tuned with the same recipe: what the labels alone can teach;
* ``linear_probe`` -- logistic regression on frozen MiniLM sentence embeddings (no weight of the encoder
  moves; :func:`llmkit.baselines.linear_probe`);
* ``full_finetune`` -- every weight trained (:func:`llmkit.finetune.train_classifier`);
* ``lora`` -- low-rank adapters on the attention projections, via ``peft`` (:func:`add_lora`): the
  pretrained weights stay frozen, ``W x + (alpha / r) B A x`` is trained instead;
* ``dapt_finetune`` -- full fine-tuning, starting from MiniLM after *domain-adaptive pretraining*: more
  masked-LM training on unlabeled notes (:func:`domain_adapt`, cached on disk).

Small subsets get more epochs (:func:`epochs_for`) so a 16-example run still takes enough optimizer steps
to move; everything else is the fine-tuning recipe of notebook 03. torch, transformers and peft load
inside the functions, so importing this is cheap.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from llmkit.batching import EncodedTexts
    from llmkit.finetune import TextTask

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
    bf16: bool = False  # autocast to bfloat16 (only where llmkit.throughput.bf16_supported())


def epochs_for(n: int, batch_size: int, min_steps: int, min_epochs: int) -> int:
    """Epochs for ``n`` examples: at least ``min_epochs``, and enough for ``min_steps`` optimizer steps."""
    if n < 1 or batch_size < 1:
        raise LlmkitError(f"epochs_for: expected n >= 1 and batch_size >= 1, got {n} and {batch_size}")
    return max(min_epochs, math.ceil(min_steps / math.ceil(n / batch_size)))


# ------------------------------------------------------------------------------------------ models


def build_random_classifier(name: str = "minilm", num_labels: int = 2, seed: int = 0) -> PreTrainedModel:
    """MiniLM's architecture (the same config) with randomly initialized weights: **not** pretrained."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from llmkit.assets import resolve_model

    config = AutoConfig.from_pretrained(resolve_model(name), num_labels=num_labels)
    torch.manual_seed(seed)
    return AutoModelForSequenceClassification.from_config(config)


def add_lora(
    model: PreTrainedModel,
    r: int = 8,  # rank of each adapter B A
    alpha: int | None = None,  # scale alpha / r; None -> 2 r, the common choice
    dropout: float = 0.1,
    target_modules: Sequence[str] = ("query", "value"),  # the attention projections, as in Hu et al. 2021
) -> Any:
    """Wrap ``model`` with LoRA adapters (``peft``); only the adapters and the classification head train.

    Each target ``W`` [out, in] gets ``B`` [out, r] (zeros) and ``A`` [r, in] (random), so training starts
    exactly at the pretrained model and adds ``r (in + out)`` parameters per target.
    """
    from peft import LoraConfig, TaskType, get_peft_model

    if not isinstance(r, int) or r < 1:
        raise LlmkitError(f"r: expected a positive integer rank, got {r!r}")
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,  # keeps the new head trainable (modules_to_save)
        r=r,
        lora_alpha=alpha if alpha is not None else 2 * r,
        lora_dropout=dropout,
        target_modules=list(target_modules),
    )
    return get_peft_model(model, config)


def trainable_parameters(model: PreTrainedModel) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (a peft model's frozen base included in ``total``)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def lora_parameter_count(shapes: Sequence[tuple[int, int]], r: int) -> int:
    """Adapter parameters for target weights of ``shapes`` ``[(out, in), ...]``: ``r (in + out)`` each."""
    return sum(r * (n_in + n_out) for n_out, n_in in shapes)


# ------------------------------------------------------------------------ domain-adaptive pretraining


@dataclass(frozen=True)
class DaptConfig:
    """Continued masked-LM training of a pretrained encoder on unlabeled in-domain text."""

    steps: int = 60  # optimizer steps of the whole model
    batch_size: int = 16  # blocks per step
    block_len: int = 128  # tokens per block (notes are joined with [SEP] and cut)
    learning_rate: float = 1e-4  # peak; cosine decay
    head_steps: int = 30  # first, steps that train only the new masked-LM head (the encoder frozen)
    head_learning_rate: float = 1e-3
    seed: int = 0
    bf16: bool = False  # autocast to bfloat16 (only where llmkit.throughput.bf16_supported())

    @classmethod
    def for_profile(cls, profile: str | None, **overrides: Any) -> DaptConfig:
        """Notebook 04's steps at ``profile`` (the case study asks for the same, so it finds 04's cached
        encoder): 1 + 2 at smoke, 10 + 30 at lesson, 100 + 300 at full (head-only + whole-model steps)."""
        from llmkit.config import by_profile

        steps = {
            "steps": by_profile(profile, smoke=2, lesson=30, full=300),
            "head_steps": by_profile(profile, smoke=1, lesson=10, full=100),
        }
        return cls(**{**steps, **{k: v for k, v in overrides.items() if v is not None}})


def domain_adapt(
    texts: Sequence[str],  # unlabeled in-domain documents
    cfg: DaptConfig | None = None,
    name: str = "minilm",  # the pretrained encoder to continue from
    run_dir: str | Path | None = None,  # TensorBoard logs go to <run_dir>/tensorboard/dapt
    cache: bool = True,  # reuse an earlier identical run from $LLMKIT_CACHE/dapt/<key>
) -> tuple[Path, dict[str, Any]]:
    """Continue ``name``'s masked-LM training on ``texts``; return the saved model folder and a report.

    The folder (safetensors and the tokenizer) loads with :func:`llmkit.assets.load_classifier` like any
    model. The sentence-transformers MiniLM checkpoint has no masked-LM head: its transform layer starts
    random and its decoder is tied to the pretrained word embeddings, so ``head_steps`` first train the
    head alone (encoder frozen), then ``steps`` train everything. The report holds the validation
    masked-LM loss before and after, the steps and the seconds; a cached folder returns the saved report
    with ``"cached": True``. The folder is written to a temporary name and renamed, so it is never half done.
    """
    import torch

    from llmkit import pretrain
    from llmkit.assets import load_tokenizer, resolve_model, save_pretrained_folder
    from llmkit.config import cache_dir, cache_key

    cfg = cfg or DaptConfig()
    if len(texts) < 2:
        raise LlmkitError(f"texts: expected at least 2 unlabeled documents, got {len(texts)}")
    folder = cache_dir("dapt") / cache_key({"model": name, **asdict(cfg)}, texts)
    report_path = folder / "dapt_report.json"
    if cache and report_path.exists():
        return folder, {**json.loads(report_path.read_text()), "cached": True}

    tokenizer = load_tokenizer(name)
    corpus = pretrain.build_corpus(tokenizer, *pretrain.held_out_split(tokenizer, texts, cfg.block_len), cfg.block_len,
                                   max_val_blocks=32)  # fmt: skip
    torch.manual_seed(cfg.seed)
    model = pretrain.MaskedOnlyBertForMaskedLM.from_pretrained(resolve_model(name))
    logs = Path(run_dir) if run_dir is not None else folder.parent / f".logs-{folder.name}"
    start = time.perf_counter()
    phases = []  # (name, steps, learning rate, encoder trains?)
    if cfg.head_steps:
        # A random head sends random gradients into the pretrained encoder: fit the head alone first.
        phases.append(("dapt_head", cfg.head_steps, cfg.head_learning_rate, False))
    phases.append(("dapt", cfg.steps, cfg.learning_rate, True))
    val_loss, eval_steps, done = [], [], 0
    for phase, steps, lr, encoder_trains in phases:
        for p in model.bert.parameters():
            p.requires_grad = encoder_trains  # the decoder is tied to the word embeddings: frozen with them
        train_cfg = pretrain.TrainConfig(
            steps=steps, batch_size=cfg.batch_size, learning_rate=lr, eval_every=max(1, steps // 2),
            seed=cfg.seed + done, bf16=cfg.bf16,
        )  # fmt: skip
        result = pretrain.train_lm(model, corpus, "mlm", train_cfg, logs, name=phase)
        keep = slice(1, None) if val_loss else slice(None)  # step 0 of a later phase repeats the last point
        val_loss += result.val_loss[keep]
        eval_steps += [done + s for s in result.eval_steps[keep]]
        done += steps
    for p in model.parameters():
        p.requires_grad = True
    report = {
        "model": name,
        "config": asdict(cfg),
        "val_mlm_loss": val_loss,  # nats per masked token, at eval_steps (head-only steps first)
        "eval_steps": eval_steps,
        "seconds": time.perf_counter() - start,
        "train_blocks": len(corpus.train),
        "cached": False,
    }
    save_pretrained_folder(model, tokenizer, folder, {"dapt_report.json": json.dumps(report, indent=1)})
    if run_dir is None:
        shutil.rmtree(logs, ignore_errors=True)
    return folder, report


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
    from llmkit import evaluate

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
    from llmkit import finetune

    if method not in ("random_init", "full_finetune", "lora", "dapt_finetune"):
        raise LlmkitError(
            f"method: expected random_init, full_finetune, lora or dapt_finetune, got {method!r}"
        )
    k = train.num_labels
    if method == "random_init":
        model = build_random_classifier(model_name, k, seed)
    else:
        model = finetune.build_classifier(model_name, k, seed)
    lr = cfg.random_learning_rate if method == "random_init" else cfg.learning_rate
    if method == "lora":
        model, lr = add_lora(model, r=cfg.lora_r, target_modules=cfg.lora_targets), cfg.lora_learning_rate
    trainable, _ = trainable_parameters(model)
    train_ds = finetune.encode_task(tokenizer, train, "train", cfg.max_length)
    epochs = epochs_for(len(train_ds), cfg.batch_size, cfg.min_steps, cfg.min_epochs)
    run_cfg = finetune.FinetuneConfig(
        epochs=epochs, batch_size=cfg.batch_size, learning_rate=lr, seed=seed, bf16=cfg.bf16
    )
    start = time.perf_counter()
    log_dir = (
        None
        if run_dir is None
        else finetune.tensorboard_dir(run_dir, f"{method}_n{len(train_ds)}_seed{seed}")
    )
    finetune.train_classifier(model, train_ds, None, run_cfg, progress=progress, log_dir=log_dir)
    seconds = time.perf_counter() - start
    proba = finetune.predict_proba(model, test, bf16=cfg.bf16)
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
    from llmkit.baselines import linear_probe

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
    """Frozen sentence embeddings ``[n, hidden]`` of one split (:func:`llmkit.assets.embed`)."""
    from llmkit.assets import embed, load_encoder, load_tokenizer

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
    from llmkit.finetune import subsample

    return subsample(task, n, seed=seed) if n < len(task.split("train")) else replace(task)
