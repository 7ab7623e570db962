"""Where and how to compute: the device, the one bf16 policy, and how many threads to use (leaving cores
other programs keep busy).

**The bf16 policy.** bfloat16 is used only where this machine does bf16 math natively
(:func:`bf16_supported`: a GPU that supports it, or a CPU with AVX512-BF16 or AMX; elsewhere autocast runs
emulated and slower than fp32). Fine-tuning, distillation and the bf16 inference variant autocast to it
there (:func:`autocast`); pretraining from scratch (notebook 02, :func:`train_dtype`) stays fp32 on every
CPU so its losses and perplexities are the same numbers on every CPU, and uses bf16 on a GPU.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from llmkit.core.errors import LlmkitError


def device() -> str:
    """``"cuda"`` when a GPU is present, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_supported(on: str | None = None) -> bool:
    """Whether bfloat16 math is native on the device ``on`` (``"cpu"`` or ``"cuda"``; default: :func:`device`)."""
    import torch

    if (on or device()) == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast(enabled: bool, device: str) -> Any:
    """``torch.autocast`` to bfloat16 on ``device`` when ``enabled``, else a context that does nothing."""
    import torch

    return torch.autocast(device, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def train_dtype() -> str:
    """The dtype pretraining from scratch trains in: ``"bf16"`` on a GPU that supports it, else ``"fp32"``
    (on a CPU too, even one with native bf16: see the policy above)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def thread_count(workers: int | None = None) -> int:
    """Threads for torch in this process: never more than this process's share of the free cores.

    ``$LLMKIT_THREADS`` wins. Otherwise the cores are split over ``workers`` concurrent processes
    (default: the pytest-xdist worker count, else 1), less the cores other programs kept busy when
    :func:`set_threads` started this process's work (:func:`busy_cores`). On a 2-core machine two threads
    ran 3x slower than one while another process held a core: oversubscribing is worse than an idle core.
    """
    forced = os.environ.get("LLMKIT_THREADS")
    if forced:
        try:
            return max(1, int(forced))
        except ValueError as exc:
            raise LlmkitError(f"LLMKIT_THREADS: expected a positive integer, got {forced!r}") from exc
    if workers is None:
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    cores = available_cores()
    return max(1, min(cores // max(1, workers), cores - _BUSY_CORES[0]))


_BUSY_CORES = [0]  # what set_threads last sampled; 0 until it runs (child processes do not sample)


def busy_cores(seconds: float = 0.25) -> int:
    """Whole cores other programs keep busy, from a short sample of the system's CPU use (psutil).

    The caller is idle while it samples, so the CPU use in that window is everyone else's; a core counts
    as busy from 70% use. 0 where psutil cannot tell.
    """
    try:
        import psutil

        used = psutil.cpu_percent(interval=seconds) / 100 * (os.cpu_count() or 1)
    except Exception:  # pragma: no cover - no psutil, or no /proc
        return 0
    return int(used + 0.3)


def set_threads(workers: int | None = None) -> int:
    """Limit torch's intra-op threads and the BLAS pools (numpy, scikit-learn) to :func:`thread_count`,
    after sampling how many cores other programs keep busy (a browser, a build, a second notebook).

    BLAS matters too: with another process on a core, 2-thread OpenBLAS ran 8-30x slower than
    1 thread on the small matrices of notebook 01.
    """
    import torch
    from threadpoolctl import threadpool_limits

    _BUSY_CORES[0] = 0 if os.environ.get("LLMKIT_THREADS") else busy_cores()
    n = thread_count(workers)
    torch.set_num_threads(n)
    threadpool_limits(limits=n, user_api="blas")  # applies now; not used as a context manager
    return n
