"""Generated data sets committed under ``<repo>/data/<name>/``: written whole, and found again even without a checkout.

A generator module (``diabetes_notes``, ``maintenance``) gives its files' contents (``{file name: text}``); this module
writes them atomically and finds the CSV: the committed copy in the repository, else a copy regenerated once into
the cache (an installed package has no ``data/`` folder).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from llmkit.core.io import atomic_write_bytes


def write_files(data_dir: str | Path, files: Mapping[str, str], out_dir: str | Path | None = None) -> Path:
    """Write each ``{name: text}`` into ``out_dir`` (default ``<repo>/<data_dir>``) atomically: a concurrent
    reader never sees half a file. Returns the folder."""
    from llmkit.core.config import repo_root

    out = Path(out_dir) if out_dir is not None else repo_root() / data_dir
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        atomic_write_bytes(out / name, text.encode("utf-8"))
    return out


def committed_csv(data_dir: str | Path, csv_name: str, write: Callable[[Path], object]) -> Path:
    """The committed ``<repo>/<data_dir>/<csv_name>``; if absent, the cache's copy, which ``write(folder)``
    generates the first time."""
    from llmkit.core.config import repo_root
    from llmkit.core.io import cache_dir

    path = repo_root() / data_dir / csv_name
    if not path.is_file():
        path = cache_dir("data", Path(data_dir).name) / csv_name
        if not path.is_file():
            write(path.parent)
    return path
