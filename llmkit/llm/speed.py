"""Speed against the physical limit (notebook 09, section 3).

Decoding one token at batch 1 multiplies a vector by every weight matrix once: it reads every weight from memory
and does only 2 FLOPs per weight read, so memory bandwidth, not arithmetic, sets its ceiling::

    tokens/s  <=  bandwidth (bytes/s)  /  bytes of weights read per token

:func:`memory_bandwidth_gbs` measures the bandwidth in the same run (a large array copy), :func:`weight_bytes` the
bytes a token reads, and :func:`decode_rate` the tokens/s a decoding loop reaches, with or without the KV cache.
Prefill (the prompt, all tokens at once) is a matrix-matrix product: it is set against the fp32 matmul peak of
:func:`llmkit.core.machine.matmul_gflops` instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import torch


def memory_bandwidth_gbs(megabytes: int = 256, repeats: int = 5) -> float:
    """Best copy bandwidth in GB/s of a ``megabytes`` fp32 array (bytes read + bytes written, per second)."""
    import torch

    if megabytes < 8 or repeats < 1:
        raise LlmkitError(
            f"memory_bandwidth_gbs: expected megabytes >= 8 and repeats >= 1, got {megabytes}, {repeats}"
        )
    src = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up: pages touched
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.numel() * 4 / best / 1e9


def weight_bytes(model: Any) -> int:
    """Bytes of the weights one decoded token reads: every 2-D weight of a matmul at its stored size (int8 for a
    torch.ao dynamic int8 layer). An embedding table is skipped: a token reads one row of it, and a tied output
    layer reads the whole table, counted there."""
    import torch

    total, seen = 0, set()
    for module in model.modules():
        if hasattr(module, "_packed_params") and callable(
            getattr(module, "weight", None)
        ):  # torch.ao int8 Linear
            weight = module.weight()
            total += weight.numel() * weight.element_size()
            continue
        if isinstance(module, torch.nn.Embedding):
            continue
        for p in module.parameters(recurse=False):
            if p.dim() == 2 and id(p) not in seen:
                seen.add(id(p))
                total += p.numel() * p.element_size()
    return total


def bound_tokens_per_second(bandwidth_gbs: float, bytes_per_token: int) -> float:
    """The memory-bandwidth ceiling on batch-1 decoding."""
    if bandwidth_gbs <= 0 or bytes_per_token <= 0:
        raise LlmkitError(
            f"bound: expected positive bandwidth and bytes, got {bandwidth_gbs}, {bytes_per_token}"
        )
    return bandwidth_gbs * 1e9 / bytes_per_token


def int8_dynamic(model: Any) -> Any:
    """A copy of ``model`` with every ``nn.Linear`` (the output layer too) as torch.ao dynamic int8: weights
    stored int8 per tensor, activations quantized on the fly."""
    import copy
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices; the API works in the pinned torch
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8).eval()


def bf16_copy(model: Any) -> Any:
    """A bfloat16 copy of ``model`` (half the bytes of fp32; fast only where bf16 math is native)."""
    import copy

    import torch

    return copy.deepcopy(model).to(torch.bfloat16).eval()


def decode_seconds(model: Any, input_ids: torch.Tensor, new_tokens: int, use_cache: bool = True) -> float:
    """Wall seconds to greedily decode ``new_tokens`` after ``input_ids`` (prefill included, as a user waits)."""
    from llmkit.llm.generate import RULES, generate

    start = time.perf_counter()
    generate(model, input_ids, RULES[0], max_new_tokens=new_tokens, use_cache=use_cache)
    return time.perf_counter() - start


def prefill_seconds(model: Any, input_ids: torch.Tensor) -> float:
    """Wall seconds of one forward pass over the whole prompt (logits of the last position only)."""
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        model(input_ids=input_ids, use_cache=False, logits_to_keep=1)
    return time.perf_counter() - start


@dataclass(frozen=True)
class SpeedRow:
    """One decoding variant: its tokens/s and how close it comes to its own bandwidth bound."""

    variant: str
    tokens_per_second: float
    weight_mb: float
    bound_tokens_per_second: float

    @property
    def fraction_of_bound(self) -> float:
        return self.tokens_per_second / self.bound_tokens_per_second


def speed_rows(
    variants: dict[str, tuple[Any, bool]],  # name -> (model, use_cache)
    input_ids: torch.Tensor,
    new_tokens: int,
    bandwidth_gbs: float,
    rounds: int = 1,
) -> list[SpeedRow]:
    """Decode tokens/s of every variant, timed in alternating rounds (:func:`llmkit.core.timing.alternate`),
    each set against the bandwidth bound for its own weight bytes."""
    from llmkit.core.timing import alternate

    calls = {
        name: (lambda m=model, c=cache: decode_seconds(m, input_ids, new_tokens, use_cache=c))
        for name, (model, cache) in variants.items()
    }
    medians = alternate(calls, rounds=rounds, warmup=0).medians()
    rows = []
    for name, (model, _) in variants.items():
        nbytes = weight_bytes(model)
        rate = new_tokens / (medians[name] / 1e3)
        rows.append(SpeedRow(name, rate, nbytes / 1e6, bound_tokens_per_second(bandwidth_gbs, nbytes)))
    return rows
