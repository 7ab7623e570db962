"""Profiles, seeds, device, threads and folders: the settings every notebook shares.

Profiles (chosen by the papermill parameter ``profile`` or ``$LLMKIT_PROFILE``, default ``lesson``):

* ``smoke``  -- CI: each notebook in at most 60 s on a 2-core CPU; claims are recorded, not enforced.
* ``lesson`` -- the default: each notebook in at most 4 minutes, the course in 30; claims enforced.
* ``full``   -- the numbers you would publish: several seeds, mean and std; claims enforced.

Folders:

* runs go to ``outputs/<run-id>/`` (``$LLMKIT_OUTPUTS`` moves the root); a run folder is never reused
  and ``outputs/latest`` points at the newest;
* caches (converted models, generated corpora) go to ``$LLMKIT_CACHE``, default ``~/.cache/llmkit``.
"""

from __future__ import annotations

import datetime as _dt
import os
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from llmkit.errors import LlmkitError

PROFILES: tuple[str, ...] = ("smoke", "lesson", "full")
DEFAULT_PROFILE = "lesson"
ENFORCED_PROFILES: frozenset[str] = frozenset({"lesson", "full"})

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """What a profile promises; stage modules pick their own sizes with :func:`by_profile`."""

    name: str
    seeds: tuple[int, ...]  # one seed per repeated measurement; `full` reports mean +- std
    budget_s: float  # wall-time budget of one notebook on the 2-core reference CPU
    enforce_claims: bool  # a failed claim raises (lesson, full) or is only recorded (smoke)


_PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", seeds=(0,), budget_s=60.0, enforce_claims=False),
    "lesson": Profile("lesson", seeds=(0,), budget_s=240.0, enforce_claims=True),
    "full": Profile("full", seeds=(0, 1, 2), budget_s=3600.0, enforce_claims=True),
}


def resolve_profile(profile: str | None = None) -> str:
    """The profile to use: the argument, else ``$LLMKIT_PROFILE``, else ``lesson``."""
    name = profile if profile not in (None, "") else os.environ.get("LLMKIT_PROFILE") or DEFAULT_PROFILE
    if name not in _PROFILES:
        raise LlmkitError(f"profile: expected one of {', '.join(PROFILES)}, got {name!r}")
    return name


def get_profile(profile: str | None = None) -> Profile:
    """The :class:`Profile` for ``profile`` (resolved as in :func:`resolve_profile`)."""
    return _PROFILES[resolve_profile(profile)]


def by_profile(profile: str | None, *, smoke: T, lesson: T, full: T) -> T:
    """Pick a size by profile, e.g. ``by_profile(profile, smoke=50, lesson=500, full=2000)``."""
    return {"smoke": smoke, "lesson": lesson, "full": full}[resolve_profile(profile)]


def seeds(profile: str | None = None) -> tuple[int, ...]:
    """The seeds a measurement is repeated over at this profile."""
    return get_profile(profile).seeds


def set_seed(seed: int) -> None:
    """Seed python, numpy and (if it is already imported or installed) torch, for repeatable runs."""
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    import numpy as np

    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is part of the pinned stack
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def device() -> str:
    """``"cuda"`` when a GPU is present, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def train_dtype() -> str:
    """The dtype to train in: ``"bf16"`` on a GPU that supports it, else ``"fp32"``."""
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


# ---------------------------------------------------------------------------------------------- folders


def repo_root() -> Path:
    """The repository checkout llmkit was installed from (editable install), else the working directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "notebooks").is_dir() else Path.cwd()


def outputs_root() -> Path:
    """Where run folders are made: ``$LLMKIT_OUTPUTS``, else ``<repo>/outputs``."""
    env = os.environ.get("LLMKIT_OUTPUTS")
    return Path(env).expanduser() if env else repo_root() / "outputs"


def cache_dir(*parts: str) -> Path:
    """A folder under the llmkit cache (``$LLMKIT_CACHE``, default ``~/.cache/llmkit``), created."""
    root = Path(os.environ.get("LLMKIT_CACHE") or Path.home() / ".cache" / "llmkit").expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(settings: Mapping[str, Any], rows: Iterable[str] = ()) -> str:
    """The name of a cached artifact: 16 hex digits of SHA-256 over ``settings`` (as sorted JSON) and then
    every one of ``rows`` (texts, ``"label\ttext"`` lines, ...) followed by a NUL byte. Every cache keys this way,
    so the same settings and data always find the same folder and any change finds a new one."""
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for row in rows:
        digest.update(row.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed over it: never half written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def new_run_id(now: _dt.datetime | None = None) -> str:
    """A sortable run id such as ``20261129-153012``."""
    return (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")


def new_run_dir(root: Path | str | None = None, run_id: str | None = None) -> Path:
    """Create a fresh run folder ``<root>/<run-id>`` and point ``<root>/latest`` at it.

    A run folder is never reused: if ``run_id`` is given and exists, this raises; if it was made up
    here and exists (two runs in one second), a suffix ``-2``, ``-3`` ... is added.
    """
    root = Path(root) if root is not None else outputs_root()
    root.mkdir(parents=True, exist_ok=True)
    if run_id is not None:
        path = root / run_id
        try:
            path.mkdir()
        except FileExistsError as exc:
            raise LlmkitError(f"{path}: run folder already exists; runs are never overwritten") from exc
    else:
        base = new_run_id()
        for n in range(1, 1000):
            path = root / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover
            raise LlmkitError(f"{root}: could not find a free run folder name for {base}")
    _point_latest(root, path)
    return path


def _point_latest(root: Path, path: Path) -> None:
    """Atomically replace the ``latest`` symlink (a plain file on systems without symlinks)."""
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(path.name)
        os.replace(tmp, link)
    except OSError:  # pragma: no cover - no symlinks here
        link.write_text(path.name + "\n", encoding="utf-8")


def notebook_dir(notebook: str, out_dir: Path | str | None = None) -> Path:
    """The folder a notebook writes its ledger and figures to: ``<run>/<notebook>/``.

    ``out_dir`` is the run folder (the runner passes it, as a papermill parameter and as
    ``$LLMKIT_OUT``). Run by hand in Jupyter with neither set, a new run folder is made, so an
    earlier run is never overwritten.
    """
    run = out_dir if out_dir not in (None, "") else os.environ.get("LLMKIT_OUT")
    run_path = Path(run).expanduser() if run else new_run_dir()
    path = run_path / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path
