"""Profiles, seeds and run folders: the settings every notebook shares."""

from __future__ import annotations

import datetime as _dt
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from llmkit.core.errors import LlmkitError

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


# ---------------------------------------------------------------------------------------------- folders


def repo_root() -> Path:
    """The repository checkout llmkit was installed from (editable install), else the working directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "notebooks").is_dir() else Path.cwd()


def outputs_root() -> Path:
    """Where run folders are made: ``$LLMKIT_OUTPUTS``, else ``<repo>/outputs``."""
    env = os.environ.get("LLMKIT_OUTPUTS")
    return Path(env).expanduser() if env else repo_root() / "outputs"


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
