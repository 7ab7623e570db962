"""Faults survived, nothing lost (llmkit.core.io, llmkit.core.locks): ``kill -9`` mid-build, two processes on
one cache, a full disk. Writers run as child processes that the tests kill; each test takes a second or two."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmkit.core import io, locks
from llmkit.core.errors import LlmkitError

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import logging, sys, time
from pathlib import Path
logging.basicConfig(format="%(message)s", level=logging.INFO)
from llmkit.core import io
tmp = Path(sys.argv[1])
def wait_for(name):
    deadline = time.monotonic() + 30  # a child never outlives a failed test for long
    while not (tmp / name).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
"""


@pytest.fixture
def spawn(tmp_path):
    """Start a Python child with ``LLMKIT_CACHE`` under ``tmp_path`` running ``body``, its log in ``<name>.err``;
    every child still running when the test ends is killed."""
    started: list[subprocess.Popen] = []

    def start(body: str, name: str) -> subprocess.Popen:
        env = {**os.environ, "LLMKIT_CACHE": str(tmp_path / "cache")}
        with open(tmp_path / f"{name}.err", "w") as err:
            code = CHILD + textwrap.dedent(body)
            child = subprocess.Popen(
                [sys.executable, "-c", code, str(tmp_path)], env=env, cwd=ROOT, stderr=err
            )
        started.append(child)
        return child

    yield start
    for child in started:
        if child.poll() is None:
            _kill(child)


def _wait_until(ready, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _kill(child: subprocess.Popen) -> None:
    child.kill()  # SIGKILL: no finally, no atexit
    child.wait(timeout=10)  # reaped, so its pid no longer runs


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _entry(**kw) -> io.CachedFolder:
    return io.cached_folder("kind", {"seed": 0}, info_name="info.json", **kw)


BUILD_AND_HANG = """
entry = io.cached_folder("kind", {"seed": 0}, info_name="info.json", cache=REUSE)
assert entry.found() is None
def write(staging):
    with io.atomic_folder(staging) as inner:  # nested, as save_pretrained_folder does
        (inner / "weights").write_text("half")
        (tmp / "ready").touch()
        time.sleep(30)
entry.save(write, {"version": "killed"})
"""


def test_kill_9_mid_build_leaves_nothing_or_the_previous_entry_and_the_rerun_says_so(
    tmp_path, monkeypatch, caplog, spawn
):
    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    entry = _entry()
    child = spawn(BUILD_AND_HANG.replace("REUSE", "True"), "first")
    _wait_until((tmp_path / "ready").exists, "the child's build")
    _kill(child)
    assert not entry.folder.exists() and len(_hidden(entry.folder.parent)) == 2  # staging + nested staging
    assert locks.lock_path(entry.folder).read_text() == str(child.pid)  # the builder that never finished
    with open(locks.lock_path(entry.folder)) as lock:  # the killed holder's flock went with it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with caplog.at_level(logging.INFO, logger="llmkit"):
        assert entry.found() is None  # leftovers are not a hit
    assert [r.getMessage() for r in caplog.records] == [
        f"rebuilding {entry.folder}: process {child.pid} began building it and never finished "
        "(killed, or its build failed); removed 2 leftover(s)"
    ]
    entry.save(lambda staging: (staging / "weights").write_text("v1"), {"version": "v1"})
    assert [p.name for p in entry.folder.parent.iterdir()] == [entry.key]  # a finished build leaves no lock

    (tmp_path / "ready").unlink()  # now kill a forced rebuild (cache=False) over the complete v1
    child = spawn(BUILD_AND_HANG.replace("REUSE", "False"), "second")
    _wait_until((tmp_path / "ready").exists, "the child's rebuild")
    _kill(child)
    assert entry.found() == {"version": "v1"} and (entry.folder / "weights").read_text() == "v1"
    assert len(_hidden(entry.folder.parent)) == 2  # ignored by a reader; the next builder removes them


def test_kill_9_mid_write_keeps_the_old_bundle_and_file_and_the_next_write_cleans_up(tmp_path, caplog, spawn):
    bundle, path = tmp_path / "bundle", tmp_path / "f.bin"
    with io.atomic_folder(bundle) as staging:
        (staging / "card").write_text("v1")
    io.atomic_write_bytes(path, b"old")
    child = spawn("""
        with io.atomic_file(tmp / "f.bin") as part, io.atomic_folder(tmp / "bundle") as staging:
            part.write_bytes(b"ha")
            (staging / "card").write_text("v2")
            (tmp / "ready").touch()
            time.sleep(30)
    """, "writer")  # fmt: skip
    _wait_until((tmp_path / "ready").exists, "the child's write")
    _kill(child)
    assert (bundle / "card").read_text() == "v1" and path.read_bytes() == b"old"
    assert [re.sub(r"\d+-[0-9a-f]{8}", "PID-HEX", n) for n in _hidden(tmp_path)] == [
        ".bundle.PID-HEX.staging",
        ".f.PID-HEX.tmp.bin",
    ]
    with caplog.at_level(logging.WARNING, logger="llmkit"):
        io.atomic_write_bytes(path, b"new")
        with io.atomic_folder(bundle) as staging:
            (staging / "card").write_text("v3")
    assert [r.getMessage() for r in caplog.records] == [
        f"{target}: removed 1 leftover(s) of writes that never finished (process {child.pid}, killed?)"
        for target in (path, bundle)
    ]
    assert _hidden(tmp_path) == [] and (bundle / "card").read_text() == "v3" and path.read_bytes() == b"new"


BUILD_ONCE = """
entry = io.cached_folder("kind", {"seed": 0}, info_name="info.json")
if entry.found() is None:
    with open(tmp / "builds", "a") as count:
        count.write("built\\n")
    (tmp / "building").touch()
    wait_for("go")
    entry.save(lambda staging: (staging / "weights").write_text("w"), {"loss": 1.0})
assert entry.found() == {"loss": 1.0} and (entry.folder / "weights").read_text() == "w"
"""


def test_two_processes_on_one_cache_build_once_and_the_second_waits_and_reuses(tmp_path, spawn):
    first = spawn(BUILD_ONCE, "first")
    _wait_until((tmp_path / "building").exists, "the first build")
    second = spawn(BUILD_ONCE, "second")
    _wait_until(lambda: "waiting" in (tmp_path / "second.err").read_text(), "the second process to wait")
    (tmp_path / "go").touch()
    assert first.wait(timeout=10) == 0 and second.wait(timeout=10) == 0
    assert (tmp_path / "builds").read_text() == "built\n"  # one build
    folder = tmp_path / "cache" / "kind" / io.cache_key({"seed": 0})
    assert (tmp_path / "second.err").read_text().splitlines() == [
        f"waiting for another process building {folder} (pid {first.pid})",
        f"reusing {folder}, built by another process while this one waited",
    ]
    assert (tmp_path / "first.err").read_text() == ""


def test_a_waiter_goes_on_when_the_lock_holder_is_killed(tmp_path, spawn):
    holder = spawn(BUILD_ONCE, "holder")
    _wait_until((tmp_path / "building").exists, "the holder's build")
    waiter = spawn(BUILD_ONCE, "waiter")
    _wait_until(lambda: "waiting" in (tmp_path / "waiter.err").read_text(), "the waiter to wait")
    _kill(holder)  # it never writes "go": without the kernel releasing its flock the waiter would hang
    (tmp_path / "go").touch()
    assert waiter.wait(timeout=10) == 0
    assert (tmp_path / "builds").read_text() == "built\nbuilt\n"  # the waiter rebuilt what the holder left
    folder = tmp_path / "cache" / "kind" / io.cache_key({"seed": 0})
    assert (tmp_path / "waiter.err").read_text().splitlines()[1] == (
        f"rebuilding {folder}: process {holder.pid} began building it and never finished "
        "(killed, or its build failed)"
    )


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_names_the_path_and_the_bytes_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = io.atomic_write_text(tmp_path / "f.txt", "old\n")
    original = Path.write_bytes

    def half_then_full(self, data):
        original(self, data[:10])
        _disk_full()

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(LlmkitError) as caught:
        io.atomic_write_bytes(path, b"x" * 1000)
    message = str(caught.value)
    pattern = rf"cannot write {re.escape(str(path))}: no space left on device \(it needs 1,000 bytes; [\d,]+ are free\); "
    assert re.fullmatch(pattern + "the previous version is intact", message), message
    assert isinstance(caught.value.__cause__, OSError) and "\n" not in message
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    with pytest.raises(LlmkitError, match="nothing was left there"):
        io.atomic_write_text(tmp_path / "new.txt", "é")


def test_a_full_disk_while_saving_a_cache_entry_keeps_the_previous_version(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path))
    _entry().save(lambda staging: (staging / "weights").write_text("v1"), {"version": "v1"})
    entry = _entry(cache=False)

    def write(staging):
        (staging / "weights").write_text("12345")  # 5 bytes, then the disk is full
        _disk_full()

    with pytest.raises(LlmkitError) as caught:
        entry.save(write, {"version": "v2"})
    message = str(caught.value)
    needed = r"it needs more than the 5 bytes written before the disk filled; [\d,]+ are free"
    pattern = rf"cannot write {re.escape(str(entry.folder))}: no space left on device \({needed}\); "
    assert re.fullmatch(pattern + "the previous version is intact", message), message
    assert _entry().found() == {"version": "v1"} and (entry.folder / "weights").read_text() == "v1"
    assert _hidden(entry.folder.parent) == []  # the staging folder is gone


def test_a_retry_in_the_same_process_after_a_failed_build_never_waits_on_itself(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path))
    assert _entry().found() is None  # the build then raised before saving: this process keeps the lock
    with caplog.at_level(logging.INFO, logger="llmkit"), _entry() as entry:
        assert entry.found() is None  # re-entrant: no wait
        entry.save(lambda staging: (staging / "weights").write_text("w"), {"version": "v1"})
    assert [r.getMessage() for r in caplog.records] == [
        f"rebuilding {entry.folder}: process {os.getpid()} began building it and never finished "
        "(killed, or its build failed)"
    ]
    assert [p.name for p in entry.folder.parent.iterdir()] == [entry.key]


def test_a_build_that_raises_inside_with_entry_lets_another_process_build_at_once(
    tmp_path, monkeypatch, spawn
):
    """An interrupted notebook cell: the kernel lives on, but the lock must not (another process would wait)."""
    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(KeyboardInterrupt), _entry() as entry:
        assert entry.found() is None
        raise KeyboardInterrupt  # the student pressed stop mid-training
    child = spawn(BUILD_ONCE, "other")
    (tmp_path / "go").touch()
    assert child.wait(timeout=10) == 0
    assert "waiting" not in (tmp_path / "other.err").read_text()
    assert (tmp_path / "builds").read_text() == "built\n"
