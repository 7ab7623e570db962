"""This machine: versions, cores and device, and the fp32 matmul peak throughput is reported against
(timing helpers live in :mod:`llmkit.core.timing`).

Throughput in the course is always given twice: in its own unit (tokens/s, requests/s) and as a
fraction of :func:`matmul_gflops` measured in the same run, so a number from a laptop and one from
a server can be compared.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
import time
from collections.abc import Iterable

#: the stack notebook 00 reports (distribution names)
STACK: tuple[str, ...] = (
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "peft",
    "accelerate",
    "flwr",
    "onnxruntime",
    "scikit-learn",
    "fairlearn",
    "papermill",
    "nbval",
    "tensorboard",
)


def versions(packages: Iterable[str] = STACK) -> dict[str, str]:
    """Installed version of each distribution (``"missing"`` when absent), with Python's first."""
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def describe() -> dict[str, object]:
    """Cores, torch threads, device and dtype: what a notebook's timings depend on."""
    import torch

    from llmkit.core import hardware

    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cores": hardware.available_cores(),
        "torch_threads": torch.get_num_threads(),
        "device": hardware.device(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "train_dtype": hardware.train_dtype(),
    }


def import_seconds(*modules: str) -> float:
    """Seconds importing ``modules`` (default: llmkit) takes in a fresh interpreter, its start not counted."""
    names = ", ".join(modules or ("llmkit",))
    code = f"import time; t = time.perf_counter(); import {names}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def matmul_gflops(n: int = 1024, repeats: int = 5, device: str | None = None) -> float:
    """The best fp32 GFLOP/s of an ``n x n`` matmul over ``repeats`` timed runs (after a warm-up).

    An ``n x n`` by ``n x n`` matmul costs ``2 n^3`` floating-point operations.
    """
    import torch

    from llmkit.core.hardware import device as default_device

    dev = device or default_device()
    a = torch.randn(n, n, device=dev, dtype=torch.float32)
    b = torch.randn(n, n, device=dev, dtype=torch.float32)
    torch.mm(a, b)  # warm-up: allocations, kernel choice
    best = float("inf")
    for _ in range(repeats):
        if dev == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mm(a, b)
        if dev == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9
