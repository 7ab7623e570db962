"""How fast fine-tuning runs: FLOPs of a classifier, padding compared, fraction of the matmul peak, bf16
(notebook 03, section "efficiency"; notebooks 05-08 reuse the FLOPs count).

**Counting FLOPs of a classifier.** A weight matrix with ``N`` entries costs ``2N`` FLOPs per token
forward (a multiply and an add per entry) and ``4N`` backward (gradients for the input and for the
weight): training costs ``6N`` per token (Kaplan et al. 2020). In a BERT classifier the attention and
feed-forward weights ``N_tok`` run on every token, the pooler and head ``N_seq`` on the ``[CLS]`` token
only, and the embedding lookup is indexing, not arithmetic. Attention adds ``QK^T`` and ``AV``:
``4 s^2 d`` per sequence of ``s`` tokens and layer forward, ``12 s^2 d`` with the backward pass. So a
training step on sequences of real lengths ``s_i`` costs

    FLOPs = 6 N_tok sum(s_i) + 12 L d sum(s_i^2) + 6 N_seq B

(:func:`classifier_flops`; inference is a third of it). Only *real* tokens are counted: padding is work
the machine does but the task does not need, so a padded batch shows up as lower throughput.

**Throughput** is examples/s and, divided by :func:`llmkit.core.machine.matmul_gflops` measured in the same
run, a fraction of the machine's fp32 peak. On a shared machine timings drift, so variants are timed in
alternating blocks (:func:`llmkit.core.timing.alternate`), each beside a fresh peak measurement, and
medians are reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.hardware import autocast
from llmkit.finetune.batching import EncodedTexts, collator, length_grouped_batches, random_batches

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(frozen=True)
class ClassifierParams:
    """The matmul weights of a BERT-style classifier, split by where they run."""

    per_token: int  # attention and feed-forward weights: every token
    per_sequence: int  # pooler and classification head: the [CLS] token only
    layers: int
    hidden: int


def classifier_params(model: PreTrainedModel) -> ClassifierParams:
    """Count the 2-D weights of ``model`` outside the embeddings (biases and LayerNorms left out)."""
    per_token = per_sequence = 0
    for name, p in model.named_parameters():
        if p.ndim != 2 or "embeddings" in name:
            continue
        if name.startswith(("classifier", "score")) or ".pooler." in name or name.startswith("pooler"):
            per_sequence += p.numel()
        else:
            per_token += p.numel()
    return ClassifierParams(per_token, per_sequence, model.config.num_hidden_layers, model.config.hidden_size)


def classifier_flops(
    model: PreTrainedModel | ClassifierParams, lengths: Sequence[int], backward: bool = True
) -> float:
    """Training (or, with ``backward=False``, inference) FLOPs for sequences of real ``lengths``."""
    p = model if isinstance(model, ClassifierParams) else classifier_params(model)
    s = np.asarray(lengths, dtype=np.float64)
    forward = (
        2.0 * p.per_token * s.sum() + 4.0 * p.layers * p.hidden * (s**2).sum() + 2.0 * p.per_sequence * s.size
    )
    return 3.0 * forward if backward else forward


def training_step(model: PreTrainedModel, batch: dict[str, Any], optimizer: Any, bf16: bool = False) -> float:
    """One optimizer step on a collated ``batch``; returns its wall time in seconds."""

    import torch

    device = next(model.parameters()).device.type
    batch = {k: v.to(device) for k, v in batch.items()}
    start = time.perf_counter()
    cast = autocast(bf16, device)
    with cast:
        loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


@dataclass
class BatchingVariant:
    """One way of batching, timed over several blocks."""

    name: str
    batches: list[dict[str, Any]]  # collated
    lengths: list[int]  # real lengths of the examples in the batches
    flops: float  # useful training FLOPs of one pass over the batches
    bf16: bool = False
    seconds: list[float] | None = None  # wall time of each block

    @property
    def examples(self) -> int:
        return len(self.lengths)

    @property
    def padded_tokens(self) -> int:
        return sum(int(b["input_ids"].numel()) for b in self.batches)

    @property
    def examples_per_second(self) -> float:
        return self.examples / statistics.median(self.seconds or [float("nan")])


@dataclass
class Comparison:
    """Variants timed in alternating blocks, each block beside a fresh fp32 matmul peak."""

    variants: dict[str, BatchingVariant]
    peak_gflops: list[float]  # per round

    def speedup(self, fast: str, slow: str) -> float:
        """Median over rounds of the examples/s ratio, each round's pair timed back to back."""
        f, s = self.variants[fast], self.variants[slow]
        ratios = [(f.examples / tf) / (s.examples / ts) for tf, ts in zip(f.seconds, s.seconds, strict=True)]
        return statistics.median(ratios)

    def gflops_per_second(self, name: str) -> float:
        v = self.variants[name]
        return statistics.median(v.flops / t / 1e9 for t in v.seconds)

    def fraction_of_peak(self, name: str) -> float:
        """Median over rounds of achieved GFLOP/s over that round's matmul peak."""
        v = self.variants[name]
        return statistics.median(
            v.flops / t / 1e9 / p for t, p in zip(v.seconds, self.peak_gflops, strict=True)
        )


def make_variant(
    name: str,
    ds: EncodedTexts,
    indices: Sequence[int],  # the examples this variant trains on
    batch_size: int,
    pad_to: int | None = None,  # None: dynamic padding; else every example padded to pad_to
    group_by_length: bool = True,
    seed: int = 0,
    bf16: bool = False,
    params: ClassifierParams | None = None,
) -> BatchingVariant:
    """Collate ``indices`` of ``ds`` into batches the way ``name`` does it (length-grouped or shuffled)."""
    lengths = [ds.lengths[i] for i in indices]
    if group_by_length:
        order = length_grouped_batches(lengths, batch_size, seed)
    else:
        order = random_batches(len(indices), batch_size, seed)
    pad = collator(ds.tokenizer, pad_to)
    batches = [pad([ds[indices[j]] for j in batch]) for batch in order]
    flops = classifier_flops(params, lengths) if params else float("nan")
    return BatchingVariant(name, batches, lengths, flops, bf16)


def compare(
    model: PreTrainedModel,
    variants: Sequence[BatchingVariant],
    rounds: int = 3,
    learning_rate: float = 1e-5,
    peak_n: int = 1024,
    progress: bool = True,
) -> Comparison:
    """Time each variant's batches as real training steps, in ``rounds`` alternating blocks.

    One untimed warm-up step per variant first (allocations, kernel choice). Each round measures the
    matmul peak, then runs every variant's batches once (:func:`llmkit.core.timing.alternate`: the order
    flips every round). ``model`` is trained by these steps: pass a throwaway copy.
    """
    import torch

    from llmkit.core.machine import matmul_gflops
    from llmkit.core.timing import alternate

    params = classifier_params(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, fused=True)  # as in training
    model.train()
    for v in variants:
        if np.isnan(v.flops):
            v.flops = classifier_flops(params, v.lengths)
        training_step(model, v.batches[0], optimizer, v.bf16)
    passes = {
        i: (lambda v=v: [training_step(model, b, optimizer, v.bf16) for b in v.batches])
        for i, v in enumerate(variants)
    }
    peaks: list[float] = []
    timed = alternate(
        passes,
        rounds,
        warmup=0,
        before_round=lambda _: peaks.append(matmul_gflops(peak_n, repeats=3)),
        progress=progress,
    )
    for i, v in enumerate(variants):
        v.seconds = [ms / 1e3 for ms in timed.ms[i]]
    model.eval()
    return Comparison({v.name: v for v in variants}, peaks)


def saved_for_backward_mb(forward: Any) -> tuple[float, bool]:
    """Megabytes autograd keeps for a backward pass while ``forward()`` runs, and whether its output
    requires grad (evaluation without ``torch.no_grad()`` keeps them all; under it, none)."""
    import torch

    saved: list[int] = []

    def pack(t: Any) -> Any:
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    logits = getattr(out, "logits", out)
    return sum(saved) / 1e6, bool(logits.requires_grad)
