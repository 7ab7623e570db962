"""Distilling a fine-tuned classifier into a student: teacher logits and the KD training loop (notebook 05)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


# ----------------------------------------------------------------------------------------- soft targets


def teacher_logits(
    teacher: PreTrainedModel,
    teacher_tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    max_length: int = 128,  # tokens kept per text
    bf16: bool = False,  # autocast to bfloat16 (only where llmkit.core.hardware.bf16_supported())
    batch_size: int = 64,
) -> np.ndarray:
    """The teacher's logits ``[len(texts), num_labels]``: no_grad, batched, longest first.

    They come from :func:`llmkit.finetune.loop.predict_proba` as log-probabilities, which are the logits minus
    one constant per row; softmax(z / T) is unchanged by such a constant at every T, so for distillation
    they *are* the logits (and the two-class logit gap is exact).
    """
    from llmkit.finetune.batching import encode
    from llmkit.finetune.loop import predict_proba

    ds = encode(teacher_tokenizer, texts, [0] * len(texts), max_length)
    probs = predict_proba(teacher, ds, batch_size, bf16=bf16)  # [n, k]
    return np.log(np.clip(probs, np.finfo(np.float64).tiny, None)).astype(np.float32)


# ----------------------------------------------------------------------------------------- distillation


@dataclass
class DistillConfig:
    """The knobs of one distillation run."""

    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 1e-3  # peak, after a linear warm-up; then linear decay to 0
    temperature: float = 2.0  # T of the soft term (the hard term is at T = 1)
    alpha: float = 0.5  # weight of the soft term; 1 = teacher only (forced where no text has a label)
    max_length: int = 128  # tokens kept per text
    seed: int = 0  # data order and dropout
    bf16: bool = False  # autocast to bfloat16 (only where llmkit.core.hardware.bf16_supported())
    warmup: float = 0.1  # fraction of the steps spent warming up
    weight_decay: float = 0.01  # AdamW, on the weight matrices only
    max_grad_norm: float = 1.0


@dataclass
class DistillResult:
    """What a distillation run measured."""

    model: Any  # the trained student, in eval mode
    step_loss: list[float] = field(default_factory=list)  # the KD objective of every optimizer step
    epoch_loss: list[float] = field(default_factory=list)  # mean of each epoch
    steps: int = 0
    seconds: float = 0.0  # wall time of the whole loop


def _check(cfg: DistillConfig, texts: Sequence[str], soft_logits: np.ndarray, labels: Any) -> None:
    if not cfg.temperature > 0:
        raise LlmkitError(f"temperature: expected a number > 0, got {cfg.temperature!r}")
    if not 0.0 <= cfg.alpha <= 1.0:
        raise LlmkitError(f"alpha: expected a weight in [0, 1] (1 = soft targets only), got {cfg.alpha!r}")
    if soft_logits.ndim != 2 or len(soft_logits) != len(texts):
        raise LlmkitError(
            f"soft_logits: expected shape [{len(texts)}, num_labels] (one row per text), "
            f"got {list(soft_logits.shape)}"
        )
    if labels is not None and len(labels) != len(texts):
        raise LlmkitError(f"labels: expected {len(texts)} (one per text, -100 = none), got {len(labels)}")


def distill_classifier(
    student: PreTrainedModel,
    student_tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],  # the transfer set
    soft_logits: Any,  # [len(texts), num_labels] the teacher's logits (teacher_logits); None: labels only (alpha 0)
    labels: Sequence[int] | None = None,  # hard labels, -100 where a text has none; None = no labels at all
    cfg: DistillConfig | None = None,
    progress: bool = True,  # a tqdm bar per epoch
    log_dir: str | Path | None = None,  # TensorBoard: loss and learning rate per step
) -> DistillResult:
    """Train ``student`` to match the teacher's softened distribution on ``texts`` (the lesson's loop).

    Each step: pad a length-grouped batch, run the student, and take
    ``kd.torch_kd_loss(z_s, z_t, y, T, alpha)``. The hard term averages over the labeled texts of the
    batch only; a batch without any label uses alpha = 1. The loop is notebook 03's
    (:func:`llmkit.finetune.loop.fit`: AdamW, linear warm-up and decay, clipping); only the loss differs.
    ``alpha = 0`` trains on the labels alone (the baseline).
    """
    import torch

    from llmkit.finetune.batching import collator, encode
    from llmkit.finetune.loop import fit
    from llmkit.losses.kd import torch_kd_loss

    cfg = cfg or DistillConfig()
    if soft_logits is None:  # the labels-only baseline: no teacher, and the soft term must weigh nothing
        if cfg.alpha != 0.0 or labels is None or any(int(y) == -100 for y in labels):
            raise LlmkitError(
                f"soft_logits: expected the teacher's logits (or None with alpha = 0 and a label for every "
                f"text), got None with alpha={cfg.alpha!r}"
            )
        soft_logits = np.zeros((len(texts), 1), dtype=np.float32)  # never read with weight 0
    soft_logits = np.asarray(soft_logits, dtype=np.float32)
    _check(cfg, texts, soft_logits, labels)
    hard = np.full(len(texts), -100, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    ds = encode(student_tokenizer, texts, hard, cfg.max_length)
    device = next(student.parameters()).device.type
    pad = collator(student_tokenizer)

    def batch_of(indices: list[int]) -> dict[str, Any]:
        batch = pad([ds[i] for i in indices])  # input_ids, attention_mask [batch, tokens]; labels [batch]
        batch["soft"] = torch.from_numpy(soft_logits[indices])  # the teacher's logits [batch, num_labels]
        return {k: v.to(device) for k, v in batch.items()}

    def kd_objective(batch: dict[str, Any]) -> Any:
        y = batch["labels"]
        z_s = student(**{k: v for k, v in batch.items() if k not in ("labels", "soft")}).logits
        with torch.autocast(device, enabled=False):  # the loss itself in fp32
            z_t = batch["soft"].expand_as(z_s)
            labeled = bool((y != -100).any())  # cross_entropy skips -100; with none left it is nan
            alpha = cfg.alpha if labeled else 1.0
            targets = y if labeled else torch.zeros_like(y)  # weight 1 - alpha = 0: any class will do
            return torch_kd_loss(z_s.float(), z_t, targets, cfg.temperature, alpha)

    start = time.perf_counter()
    done = fit(
        student, ds.lengths, batch_of, kd_objective, cfg, progress=progress, log_dir=log_dir, tag="distill"
    )
    return DistillResult(student, done.step_loss, done.epoch_loss, done.steps, time.perf_counter() - start)


# ------------------------------------------------------------------------------------------------ speed


def forward_latency_ms(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],  # the first batch_size of them form the batch
    batch_size: int = 32,
    repeats: int = 10,  # timed forward passes; the median is returned
    max_length: int = 128,
) -> float:
    """Median wall time (ms) of one no-grad forward pass of ``model`` over the first ``batch_size`` texts,
    tokenized and padded here (:func:`llmkit.compress.lineup.latency_ms` times a prepared variant instead)."""
    import torch

    from llmkit.core.timing import median_ms

    if len(texts) < batch_size:
        raise LlmkitError(f"texts: expected at least batch_size={batch_size} texts, got {len(texts)}")
    batch = tokenizer(list(texts[:batch_size]), padding="longest", truncation=True, max_length=max_length,
                      return_tensors="pt")  # fmt: skip
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    model.eval()

    def forward() -> None:
        with torch.no_grad():
            model(**inputs)

    return median_ms(forward, repeats=repeats, warmup=2)
