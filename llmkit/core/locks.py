"""Cross-process build locks: two processes (two ``llmkit run`` sharing one ``LLMKIT_CACHE``) that want the
same cache entry take turns, so one builds and the other waits and reuses it (:mod:`llmkit.core.io`).

The lock is ``flock`` on a ``<name>.lock`` file beside what is built. ``flock`` belongs to the open file, so
the kernel releases it when its process dies, ``kill -9`` included: a killed builder never blocks the next
one. The holder writes its pid into the file and removes the file when it finishes (still holding the lock;
a waiter that then gets the lock of the removed file sees it is gone and locks the new one), so a lock file
found later names a builder that never finished, and the next builder says so. Without ``fcntl`` (not POSIX)
there is no lock: two builders both build, and each atomic swap still leaves a whole version.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("llmkit")

_held: dict[Path, int] = {}  # lock file -> open descriptor, for every lock this process holds
_held_guard = threading.Lock()


def lock_path(target: str | Path) -> Path:
    """The lock file of a cache entry or any built path: ``<name>.lock`` beside it."""
    target = Path(target)
    return target.with_name(f"{target.name}.lock")


def acquire(target: str | Path) -> str:
    """Hold the lock of ``target``, waiting (with one line, ``waiting for another process building
    <target> (pid <pid>)``) while another process holds it; this process's pid goes into the lock file.
    Returns the pid found there, a builder that took the lock and never finished, or ``""``.

    Re-entrant within a process: a second acquire (a retry after a failed build) keeps the lock it holds,
    so a process never waits on itself. Threads of one process share it."""
    if fcntl is None:
        return ""
    lock = lock_path(target)
    with _held_guard:
        fd = _held.get(lock)
    if fd is None:
        fd = _open_locked(lock, Path(target))
        with _held_guard:
            _held[lock] = fd
    previous = _pid_in(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return previous


def release(target: str | Path, finished: bool) -> None:
    """Let go of the lock of ``target`` if this process holds it. ``finished`` removes the lock file; else
    it stays with this process's pid, for the next builder to report as a build that never finished."""
    lock = lock_path(target)
    with _held_guard:
        fd = _held.pop(lock, None)
    if fd is None:
        return
    if finished:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)  # while still holding it: see _open_locked
    os.close(fd)  # closing the file releases the flock


@contextlib.contextmanager
def build_lock(target: str | Path) -> Iterator[str]:
    """Hold the lock of ``target`` while building it (:func:`acquire`); yields the pid of an earlier builder
    that never finished, else ``""``. A block that raises leaves its pid in the lock file."""
    previous = acquire(target)
    finished = False
    try:
        yield previous
        finished = True
    finally:
        release(target, finished)


def _open_locked(lock: Path, target: Path) -> int:
    """An open descriptor of ``lock`` with its flock held, waiting for another holder."""
    said = False
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said:
                    log.warning(
                        "waiting for another process building %s (pid %s)", target, _pid_in(fd) or "?"
                    )
                    said = True
                fcntl.flock(fd, fcntl.LOCK_EX)  # interruptible: Ctrl-C raises here
            with contextlib.suppress(FileNotFoundError):
                now, held = os.stat(lock), os.fstat(fd)
                if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                    return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder finished and removed this file: lock the one at the path now


def _pid_in(fd: int) -> str:
    return os.pread(fd, 32, 0).decode(errors="replace").strip()
