"""Notebook 08's sizes at each profile: ``DeploySettings.for_profile(profile, test_size=..., ...)``.

The teacher is notebook 05's (:class:`llmkit.distill.settings.DistillRecipe`): 08 exports the same cached
MiniLM.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.core.settings import per_profile
from llmkit.distill.settings import DistillRecipe


@dataclass(frozen=True)
class DeploySettings(DistillRecipe):
    """Notebook 05's teacher, what the service runs, and the load, throughput and drift runs (notebook 08)."""

    test_size: int = per_profile(64, 1000, 1000)  # test notes the bundle is scored on and the load sends
    backends: list[str] = per_profile(
        ["onnx_int8"], ["onnx_int8", "torch_fp32"], ["onnx_int8", "torch_fp32"]
    )  # what the service runs (export.BACKENDS)
    concurrency: list[int] = per_profile([1, 4], [1, 8, 32], [1, 8, 32])  # concurrent clients of the load
    load_seconds: float = per_profile(0.4, 3.0, 10.0)  # counted seconds per load run
    warmup_seconds: float = per_profile(0.2, 1.0, 2.0)  # seconds sent but not counted before each load run
    inprocess_seconds: float = per_profile(0.3, 1.5, 3.0)  # seconds per in-process throughput measurement
    paired_rounds: int = per_profile(1, 3, 5)  # service / in-process blocks, alternating, per setup
    drift_texts: int = per_profile(48, 240, 480)  # texts per phase of the drift demonstration
