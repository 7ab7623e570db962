"""What a large model costs (研发成本、算力需求, seed §1.1 and §8.3; notebook 09, section 8): training FLOPs by
``6 N D`` against this CPU's measured peak and a GPU's datasheet peak, and the price of a million generated tokens
from a measured decode rate. Every assumption is a named argument and is printed beside the table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from llmkit.core.errors import LlmkitError

SECONDS_PER_YEAR = 365.25 * 24 * 3600


@dataclass(frozen=True)
class CostAssumptions:
    """The numbers the cost table rests on, each said where it comes from."""

    train_tokens: float = (
        2e12  # SmolLM2-135M's pretraining tokens (Allal et al. 2025, SmolLM2 model card: 2T)
    )
    gpu_name: str = "NVIDIA H100 SXM"
    gpu_peak_tflops: float = 989.0  # H100 SXM datasheet, dense BF16 tensor-core peak
    gpu_utilization: float = 0.40  # model FLOPs utilization a good training run reaches (assumed)
    gpu_hour_usd: float = 2.50  # rented H100, per GPU-hour (assumed)
    core_hour_usd: float = 0.05  # rented CPU, per core-hour (assumed)

    def __post_init__(self) -> None:
        if not 0 < self.gpu_utilization <= 1 or min(self.train_tokens, self.gpu_peak_tflops) <= 0:
            raise LlmkitError(
                f"cost assumptions: expected positive tokens and peak and utilization in (0, 1], got {self}"
            )

    def lines(self) -> list[str]:
        return [f"{k} = {v}" for k, v in asdict(self).items()]


def training_flops_6nd(params: float, tokens: float) -> float:
    """``6 N D``: a forward (2 FLOPs per weight per token) and a backward (4) over every training token."""
    if params <= 0 or tokens <= 0:
        raise LlmkitError(f"training_flops_6nd: expected positive params and tokens, got {params}, {tokens}")
    return 6.0 * params * tokens


def cost_table(
    params: float,  # N: the matmul weights (llmkit.pretrain.scaling.matmul_params: body + head)
    cpu_gflops: float,  # this machine's measured fp32 matmul peak, in GFLOP/s, at the threads used
    cpu_cores: int,  # cores that peak used
    decode_tokens_per_second: float,  # the best measured batch-1 decode rate here
    assume: CostAssumptions = CostAssumptions(),
) -> list[dict[str, object]]:
    """Rows ``{item, value, unit, how}``: the training compute, its time on this CPU and on the GPU, and
    the cost of training there and of generating a million tokens here."""
    if cpu_gflops <= 0 or decode_tokens_per_second <= 0 or cpu_cores < 1:
        raise LlmkitError("cost_table: expected a positive peak, decode rate and core count")
    flops = training_flops_6nd(params, assume.train_tokens)
    cpu_seconds = flops / (cpu_gflops * 1e9)
    gpu_seconds = flops / (assume.gpu_peak_tflops * 1e12 * assume.gpu_utilization)
    decode_hours = 1e6 / decode_tokens_per_second / 3600
    return [
        {"item": "training compute", "value": flops, "unit": "FLOP", "how": f"6 x {params:.3g} weights x {assume.train_tokens:.3g} tokens"},
        {"item": "training on this CPU", "value": cpu_seconds / SECONDS_PER_YEAR, "unit": "years",
         "how": f"at the measured peak {cpu_gflops:.0f} GFLOP/s ({cpu_cores} core(s)), 100% utilization"},
        {"item": f"training on one {assume.gpu_name}", "value": gpu_seconds / 86400, "unit": "GPU-days",
         "how": f"{assume.gpu_peak_tflops:.0f} TFLOP/s datasheet x {assume.gpu_utilization:.0%} utilization"},
        {"item": "training cost on rented GPUs", "value": gpu_seconds / 3600 * assume.gpu_hour_usd, "unit": "USD",
         "how": f"at {assume.gpu_hour_usd} USD per GPU-hour"},
        {"item": "generating 1M tokens here", "value": decode_hours, "unit": "hours",
         "how": f"batch 1 at the measured {decode_tokens_per_second:.1f} tokens/s"},
        {"item": "cost of 1M tokens here", "value": decode_hours * cpu_cores * assume.core_hour_usd, "unit": "USD",
         "how": f"{cpu_cores} core(s) x {assume.core_hour_usd} USD per core-hour"},
    ]  # fmt: skip
