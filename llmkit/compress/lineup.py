"""Every variant built, timed in alternating rounds, and compared with fp32's logits (notebook 06)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

from llmkit.compress.int8 import int8_variant
from llmkit.compress.ort import load_onnx, quantize_onnx, save_onnx
from llmkit.compress.precision import VARIANTS, Batch, Variant, bf16_variant, fp32_variant
from llmkit.compress.pruning import pruned_variant


def available_variants() -> tuple[str, ...]:
    """:data:`VARIANTS` this machine can run (``bf16`` only where the CPU has native bf16 math)."""
    from llmkit.core.hardware import bf16_supported

    return tuple(v for v in VARIANTS if v != "bf16" or bf16_supported("cpu"))


def build_variants(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    folder: str | Path,  # where the ONNX files are written (model.onnx, model.int8.onnx)
    names: Sequence[str] | None = None,  # a subset of VARIANTS; None -> available_variants()
    sparsity: float = 0.5,  # for "pruned"
    int8_embeddings: bool = False,  # for "int8": quantize the embedding tables too
) -> dict[str, Variant]:
    """Every requested variant of ``model``, keyed by kind, ready for :func:`time_variants`."""
    names = list(available_variants() if names is None else names)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise LlmkitError(f"variant names: expected some of {', '.join(VARIANTS)}, got {unknown}")
    folder = Path(folder)
    out: dict[str, Variant] = {}
    for kind in names:
        if kind == "fp32":
            out[kind] = fp32_variant(model, tokenizer)
        elif kind == "int8":
            out[kind] = int8_variant(model, tokenizer, int8_embeddings)
        elif kind == "onnx_fp32":
            out[kind] = load_onnx(save_onnx(model, folder / "model.onnx"), tokenizer)
        elif kind == "onnx_int8":
            source = folder / "model.onnx"
            if not source.exists():
                save_onnx(model, source)
            out[kind] = load_onnx(quantize_onnx(source, folder / "model.int8.onnx"), tokenizer, kind)
        elif kind == "pruned":
            out[kind] = pruned_variant(model, tokenizer, sparsity)
        else:
            out[kind] = bf16_variant(model, tokenizer)
    return out


# ---------------------------------------------------------------------------------------------- timing


def timing_batch(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],  # repeated if fewer than batch_size
    batch_size: int,
    length: int = 64,  # positions per row: texts truncated, shorter ones padded
) -> dict[str, np.ndarray]:
    """A fixed ``[batch_size, length]`` batch of real texts for latency measurements."""
    if batch_size < 1 or length < 2 or not texts:
        raise LlmkitError(
            f"timing_batch: expected texts, batch_size >= 1, length >= 2; got {batch_size}, {length}"
        )
    rows = [texts[i % len(texts)] for i in range(batch_size)]
    enc = tokenizer(rows, truncation=True, max_length=length, padding="max_length", return_tensors="np")
    return {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}


def latency_ms(variant: Variant, batch: Batch, repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of one ``variant.logits(batch)`` in milliseconds, after ``warmup`` calls."""
    from llmkit.core.timing import median_ms

    return median_ms(lambda: variant.logits(batch), repeats, warmup)


@dataclass
class Latencies:
    """Per variant and batch size, the median latency of each timed round."""

    ms: dict[str, dict[int, list[float]]]  # variant name -> batch size -> one median per round
    length: int  # positions per row
    threads: int  # torch threads while timing (ONNX Runtime sessions use config.thread_count())

    def median(self, name: str, batch_size: int) -> float:
        return statistics.median(self.ms[name][batch_size])

    def speedup(self, fast: str, slow: str, batch_size: int) -> float:
        """Median over rounds of slow/fast latency, each round's pair timed back to back."""
        pairs = zip(self.ms[slow][batch_size], self.ms[fast][batch_size], strict=True)
        return statistics.median(s / f for s, f in pairs)

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [
            {
                "variant": n,
                "batch_size": b,
                "latency_ms": statistics.median(t),
                "ms_per_example": statistics.median(t) / b,
            }
            for n, by_batch in self.ms.items()
            for b, t in by_batch.items()
        ]
        return pd.DataFrame(rows)


def time_variants(
    variants: Mapping[str, Variant] | Sequence[Variant],
    batches: Mapping[int, Batch] | None = None,  # batch size -> a batch from timing_batch, for every variant
    rounds: int = 3,
    repeats: int = 5,  # calls per variant, batch and round; the round's value is their median
    warmup: int = 2,  # untimed calls per variant and batch before the first round
    progress: bool = True,
    *,
    texts: Sequence[str] | None = None,  # instead of batches: each variant's tokenizer encodes these
    sizes: Sequence[int] = (1, 32),  # the batch sizes built from texts
    length: int = 64,  # positions per row of the batches built from texts
) -> Latencies:
    """Median latency of every variant at every batch size, timed in ``rounds`` alternating blocks.

    On a shared machine speed drifts; :func:`llmkit.core.timing.alternate` flips the order every round
    to spread the drift over all variants, and :meth:`Latencies.speedup` compares pairs timed within
    the same round. Variants with different tokenizers (a distilled student has its own vocabulary) take
    ``texts``: each gets :func:`timing_batch` of the same texts at the same ``length``, through its own
    tokenizer.
    """
    import torch

    from llmkit.core.timing import alternate

    items = list(variants.values()) if isinstance(variants, Mapping) else list(variants)
    if (
        rounds < 1
        or repeats < 1
        or not items
        or (batches is None) == (texts is None)
        or not (batches or sizes)
    ):
        raise LlmkitError(
            "time_variants: expected variants, either batches or texts, rounds >= 1, repeats >= 1; "
            f"got {len(items)} variants, batches={batches is not None}, texts={texts is not None}, {rounds}, {repeats}"
        )
    built: dict[int, dict[int, Batch]] = {}  # id(tokenizer) -> batch size -> batch
    if texts is not None:
        for v in items:
            if id(v.tokenizer) not in built:
                built[id(v.tokenizer)] = {b: timing_batch(v.tokenizer, texts, b, length) for b in sizes}
    own = {v.name: batches if batches is not None else built[id(v.tokenizer)] for v in items}
    calls = {
        (v.name, size): (lambda v=v, batch=batch: v.logits(batch))
        for v in items
        for size, batch in own[v.name].items()
    }
    timed = alternate(calls, rounds, warmup, repeats, progress=progress)
    ms = {v.name: {size: timed.ms[(v.name, size)] for size in own[v.name]} for v in items}
    length = int(next(iter(own[items[0].name].values()))["input_ids"].shape[1])
    return Latencies(ms, length, torch.get_num_threads())


def logit_agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """How far ``other``'s logits (or probabilities) ``[n, k]`` are from ``reference``'s.

    ``max_abs_diff`` and ``mean_abs_diff`` over all entries; ``argmax_agreement``: share of rows
    whose predicted class is the same.
    """
    a, b = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] == 0:
        raise LlmkitError(
            f"logit_agreement: expected two arrays of one shape [n, k], got {a.shape} and {b.shape}"
        )
    diff = np.abs(a - b)
    agree = float((a.argmax(axis=1) == b.argmax(axis=1)).mean())
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()), "argmax_agreement": agree}
