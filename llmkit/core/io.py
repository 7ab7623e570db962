"""Files that survive a crash: the cache folder, content-addressed cache keys, atomic writes and cached folders.

Every write that a reader (another notebook, a second process, the next run) may meet goes through
:func:`atomic_file` or :func:`atomic_folder`: the new version is written under a temporary name beside the
target and renamed over it only once complete, so a crash (``kill -9`` included) leaves the previous version,
never half of one. A full disk fails in one :class:`~llmkit.core.errors.LlmkitError` that names the path and
the bytes it needed, with the previous version intact. Two processes that build the same cache entry at once
take turns (:func:`llmkit.core.locks.build_lock`): one builds, the other waits and reuses it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmkit.core import locks
from llmkit.core.errors import LlmkitError

log = logging.getLogger("llmkit")


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
    in ``path``'s suffix: writers such as ``np.save`` or ONNX Runtime go by it. The writer's pid is in the
    name, so :func:`_sweep` can tell a killed writer's leftover from a write in progress."""
    import secrets

    return path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.{tag}{path.suffix}")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _sweep(path: Path, tags: tuple[str, ...]) -> None:
    """Remove the temporary names (:func:`_beside`) that writers of ``path`` left when they were killed: those
    whose pid no longer runs on this machine. They were never read (a reader only opens ``path``); one line
    says what went. A shared cache across machines or pid namespaces would need the host in the name."""
    pattern = re.compile(
        rf"\.{re.escape(path.stem)}\.(\d+)-[0-9a-f]{{8}}\.(?:{'|'.join(tags)}){re.escape(path.suffix)}"
    )
    with contextlib.suppress(FileNotFoundError):
        gone = [
            (entry.name, int(match[1]))
            for entry in os.scandir(path.parent)
            if (match := pattern.fullmatch(entry.name)) and not _running(int(match[1]))
        ]
        for name, _ in gone:
            _remove(path.parent / name)
        if gone:
            pids = ", ".join(sorted({str(pid) for _, pid in gone}))
            log.warning("%s: removed %d leftover(s) of writes that never finished (process %s, killed?)",
                        path, len(gone), pids)  # fmt: skip


def _tree_bytes(path: Path) -> int:
    """Bytes in the files under ``path`` (a file or a folder); 0 where it is gone."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _disk_full(path: Path, err: OSError, needed_bytes: int | None, written: Path) -> LlmkitError:
    """The one-line error for a full disk (or quota) while writing ``path``: the bytes it needed (or at least
    the bytes written before the disk filled) and the bytes free there."""
    free = shutil.disk_usage(path.parent).free
    if needed_bytes is not None:
        need = f"it needs {needed_bytes:,} bytes"
    else:
        need = f"it needs more than the {_tree_bytes(written):,} bytes written before the disk filled"
    kept = "the previous version is intact" if path.exists() else "nothing was left there"
    return LlmkitError(
        f"cannot write {path}: {os.strerror(err.errno).lower()} ({need}; {free:,} are free); {kept}"
    )


_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}  # no space left, or over the quota


@contextlib.contextmanager
def atomic_file(
    path: str | Path,
    needed_bytes: int | None = None,  # what the writer will write, when known: named if the disk fills
) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (``np.save``, an ONNX export,
    safetensors' ``save_file``); renamed over ``path`` when the block exits normally, removed when it raises.

    A full disk raises :class:`LlmkitError` naming ``path`` and the bytes needed. A writer killed mid-write
    leaves its temporary file, which nothing reads; the next write of ``path`` removes it (:func:`_sweep`).
    """
    path = Path(path)
    _sweep(path, ("tmp",))
    tmp = _beside(path, "tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if err.errno in _FULL:
            raise _disk_full(path, err, needed_bytes, tmp) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed over it: never half written."""
    with atomic_file(path, len(data)) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed over it: never half written."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the system or
    the file system cannot."""
    import ctypes
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
    folder is deleted and the old folder is left untouched; a full disk raises :class:`LlmkitError` naming
    ``folder`` and the bytes written before it filled. Parent folders are created. A writer killed mid-write
    leaves its staging folder, which nothing reads; the next write of ``folder`` removes it (:func:`_sweep`).
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _sweep(folder, ("staging", "old"))
    staging = _beside(folder, "staging")
    staging.mkdir()  # not tempfile.mkdtemp: its mode 0700 would become the folder's
    try:
        yield staging
        _swap_in(staging, folder)
    except OSError as err:
        if err.errno in _FULL:
            raise _disk_full(folder, err, None, staging) from err
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ------------------------------------------------------------------------------------------ cached folders


@dataclass(frozen=True)
class CachedFolder:
    """One cache entry, ``cache_dir(kind)/cache_key(settings, rows)`` (see :func:`cached_folder`): complete
    exactly when its info file exists, because :meth:`save` writes that file last and swaps the whole folder
    in with :func:`atomic_folder`.

    Cache-or-build holds the entry's lock (:mod:`llmkit.core.locks`) from a :meth:`found` that finds nothing
    to the end of :meth:`save`: of two processes (two ``llmkit run``, one ``LLMKIT_CACHE``) one builds, the
    other waits and reuses. Callers build inside ``with entry:``, so a build that raises -- an interrupted
    notebook cell too -- gives the lock up at once (a kernel that stays alive would otherwise hold it and make
    another process wait); a finished build removes ``<key>.lock``, so one
    that stays beside an entry names a builder that never finished. Leftovers of a builder killed mid-build
    (staging folders beside the entry) are never read, since the entry counts only with its info file; the
    next builder removes them and logs one line, ``rebuilding <folder>: process <pid> began building it and
    never finished ...``.
    """

    folder: Path
    key: str
    info_name: str  # the JSON file that marks the entry complete: settings, losses, seconds, ...
    reuse: bool = True  # False: :meth:`found` is always None, so the caller rebuilds and overwrites

    @property
    def info_path(self) -> Path:
        """Where the info file is."""
        return self.folder / self.info_name

    def _saved(self) -> dict[str, Any] | None:
        if not self.reuse or not self.info_path.is_file():
            return None
        return json.loads(self.info_path.read_text(encoding="utf-8"))

    def found(self) -> dict[str, Any] | None:
        """The saved info of a complete entry, or None when there is none (or ``reuse`` is False): then this
        process holds the entry's build lock until :meth:`save`, and the caller builds."""
        if (saved := self._saved()) is not None:
            return saved
        unfinished = locks.acquire(self.folder)
        if (saved := self._saved()) is not None:
            log.info("reusing %s, built by another process while this one waited", self.folder)
            self.release()
            return saved
        leftovers = [
            p for p in self.folder.parent.iterdir() if p.name.startswith(".") and f".{self.key}." in p.name
        ]
        for path in leftovers:  # under the lock no other builder of this entry runs: all are a dead one's
            _remove(path)
        if unfinished or leftovers:
            who = f"process {unfinished}" if unfinished else "a process"
            removed = f"; removed {len(leftovers)} leftover(s)" if leftovers else ""
            reason = "began building it and never finished (killed, or its build failed)"
            log.warning("rebuilding %s: %s %s%s", self.folder, who, reason, removed)
        return None

    def save(self, write: Callable[[Path], object], info: Mapping[str, Any]) -> Path:
        """``write(staging)`` the artifact into a staging folder, then the info file (JSON, indent 1), then
        swap the folder in and release the build lock; the entry's folder."""
        locks.acquire(self.folder)  # held since found(); taken here by a caller that never asked
        finished = False
        try:
            with atomic_folder(self.folder) as staging:
                write(staging)
                text = json.dumps(info, indent=1) + "\n"
                (staging / self.info_name).write_text(text, encoding="utf-8")
            finished = True
        finally:
            locks.release(self.folder, finished)
        return self.folder

    def release(self) -> None:
        """Give up the build lock without building (nothing is left unfinished)."""
        locks.release(self.folder, finished=True)

    def __enter__(self) -> CachedFolder:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        locks.release(self.folder, finished=exc_type is None)  # a build that raised stays reported unfinished


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
    ``entry.save(write, info)`` writes the artifact and the info file (last), swaps the folder in and lets a
    waiting process go on (see :class:`CachedFolder` for the lock and what a killed build leaves)."""
    key = cache_key(settings, rows)
    return CachedFolder(cache_dir(kind) / key, key, info_name, cache)
