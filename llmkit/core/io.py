"""Files that survive a crash: the cache folder, content-addressed cache keys, atomic writes and cached folders.

Every write that a reader (another notebook, a second process, the next run) may meet goes through
:func:`atomic_file` or :func:`atomic_folder`: the new version is written under a temporary name beside the
target and renamed over it only once complete, so a crash leaves the previous version, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
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

    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for row in rows:
        digest.update(row.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------------------------------ atomic writes


def _beside(path: Path, tag: str) -> Path:
    """A fresh hidden name next to ``path`` (same folder, so a rename never crosses file systems), ending
    in ``path``'s suffix: writers such as ``np.save`` or ONNX Runtime go by it."""
    import secrets

    return path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.{tag}{path.suffix}")


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (``np.save``, an ONNX export,
    safetensors' ``save_file``); renamed over ``path`` when the block exits normally, removed when it raises."""
    path = Path(path)
    tmp = _beside(path, "tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed over it: never half written."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed over it: never half written."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the system or
    the file system cannot."""
    import ctypes
    import errno
    import sys

    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.ENOENT):  # unsupported, or b just vanished
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(staging: Path, folder: Path) -> None:
    """Put the complete ``staging`` folder at ``folder``; what was there ends up at ``staging`` or is deleted."""
    if folder.exists() and _exchange(staging, folder):
        return  # staging now holds the old version, which atomic_folder deletes
    old = _beside(folder, "old")
    with contextlib.suppress(FileNotFoundError):  # a rename cannot replace a non-empty folder: move it aside
        os.rename(folder, old)
    try:
        os.rename(staging, folder)
    except OSError:
        if not folder.exists():  # nothing took its place: put the old version back and fail
            with contextlib.suppress(FileNotFoundError):
                os.rename(old, folder)
            raise
        # else another process swapped its own complete version in first: keep that one
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(folder: str | Path) -> Iterator[Path]:
    """A fresh staging folder beside ``folder`` to write a whole folder into (``save_pretrained``, a bundle).

    When the block exits normally the staging folder replaces ``folder``: on Linux the two are exchanged in
    one rename, so a reader always finds either the old complete folder or the new one; elsewhere the old one
    is renamed aside first (an instant with no folder, never a half one). When the block raises, the staging
    folder is deleted and the old folder is left untouched. Parent folders are created.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = _beside(folder, "staging")
    staging.mkdir()  # not tempfile.mkdtemp: its mode 0700 would become the folder's
    try:
        yield staging
        _swap_in(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ------------------------------------------------------------------------------------------ cached folders


@dataclass(frozen=True)
class CachedFolder:
    """One cache entry, ``cache_dir(kind)/cache_key(settings, rows)`` (see :func:`cached_folder`): complete
    exactly when its info file exists, because :meth:`save` writes that file last and swaps the whole folder
    in with :func:`atomic_folder`."""

    folder: Path
    key: str
    info_name: str  # the JSON file that marks the entry complete: settings, losses, seconds, ...
    reuse: bool = True  # False: :meth:`found` is always None, so the caller rebuilds and overwrites

    @property
    def info_path(self) -> Path:
        """Where the info file is."""
        return self.folder / self.info_name

    def found(self) -> dict[str, Any] | None:
        """The saved info of a complete entry, or None when there is none (or ``reuse`` is False)."""
        if not self.reuse or not self.info_path.is_file():
            return None
        return json.loads(self.info_path.read_text(encoding="utf-8"))

    def save(self, write: Callable[[Path], object], info: Mapping[str, Any]) -> Path:
        """``write(staging)`` the artifact into a staging folder, then the info file (JSON, indent 1), then
        swap the folder in; the entry's folder."""
        with atomic_folder(self.folder) as staging:
            write(staging)
            (staging / self.info_name).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        return self.folder


def cached_folder(
    kind: str,  # the cache's sub-folder: "finetuned", "distilled", "student", "dapt", ...
    settings: Mapping[str, Any],
    rows: Iterable[str] = (),
    *,
    info_name: str,
    cache: bool = True,  # False: never reuse (rebuild and overwrite)
) -> CachedFolder:
    """The cache entry of ``settings`` and ``rows`` (:func:`cache_key`) under ``kind``. A caller returns what
    it loads from ``entry.folder`` when ``entry.found()`` gives the saved info; else it builds, then
    ``entry.save(write, info)`` writes the artifact and the info file (last) and swaps the folder in."""
    key = cache_key(settings, rows)
    return CachedFolder(cache_dir(kind) / key, key, info_name, cache)
