"""Files that survive a crash: the cache folder, content-addressed cache keys and atomic writes."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


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
