from __future__ import annotations

import pytest

from llmkit.core import config, hardware, io
from llmkit.core.errors import LlmkitError


def test_profile_resolution_order(monkeypatch):
    assert config.resolve_profile() == "lesson"
    monkeypatch.setenv("LLMKIT_PROFILE", "smoke")
    assert config.resolve_profile() == "smoke"
    assert config.resolve_profile("full") == "full"  # the papermill parameter wins over the env


def test_bad_profile_is_one_line_error(monkeypatch):
    with pytest.raises(LlmkitError, match="profile: expected one of smoke, lesson, full, got 'fast'") as info:
        config.resolve_profile("fast")
    assert "\n" not in str(info.value)
    monkeypatch.setenv("LLMKIT_PROFILE", "nope")
    with pytest.raises(LlmkitError, match="'nope'"):
        config.resolve_profile()


def test_by_profile_and_seeds():
    assert config.by_profile("smoke", smoke=1, lesson=2, full=3) == 1
    assert config.by_profile("full", smoke=1, lesson=2, full=3) == 3
    assert len(config.seeds("full")) >= 3
    assert config.get_profile("smoke").budget_s == 60
    assert config.get_profile("lesson").budget_s == 240
    assert not config.get_profile("smoke").enforce_claims and config.get_profile("lesson").enforce_claims


def test_run_dirs_are_never_reused(tmp_path):
    first = config.new_run_dir(tmp_path)
    second = config.new_run_dir(tmp_path)
    assert first != second and first.is_dir() and second.is_dir()
    assert (tmp_path / "latest").resolve() == second.resolve()
    with pytest.raises(LlmkitError, match="never overwritten"):
        config.new_run_dir(tmp_path, run_id=first.name)


def test_notebook_dir_uses_env_or_makes_a_new_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_OUT", str(tmp_path / "run"))
    assert config.notebook_dir("01_x") == tmp_path / "run" / "01_x"
    monkeypatch.delenv("LLMKIT_OUT")
    made = config.notebook_dir("01_x")
    assert made.parent.parent == config.outputs_root()


def test_thread_count(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    monkeypatch.setenv("LLMKIT_THREADS", "3")
    assert hardware.thread_count() == 3
    monkeypatch.delenv("LLMKIT_THREADS")
    assert 1 <= hardware.thread_count(workers=64) <= hardware.thread_count(workers=1)
    monkeypatch.setenv("LLMKIT_THREADS", "many")
    with pytest.raises(LlmkitError, match="LLMKIT_THREADS"):
        hardware.thread_count()


def test_set_threads_leaves_the_cores_other_programs_keep_busy(monkeypatch):
    import os

    import torch

    assert 0 <= hardware.busy_cores(0.05) <= (os.cpu_count() or 1)  # the real sampler
    monkeypatch.delenv("LLMKIT_THREADS", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    monkeypatch.setattr(hardware, "available_cores", lambda: 4)
    before = torch.get_num_threads()
    try:
        for busy, expected in ((0, 4), (1, 3), (3, 1), (8, 1)):
            monkeypatch.setattr(hardware, "busy_cores", lambda busy=busy: busy)
            assert hardware.set_threads() == expected == hardware.thread_count()
        monkeypatch.setattr(hardware, "busy_cores", lambda: 0)
        assert hardware.set_threads(workers=2) == 2  # the share of 2 workers, not more
    finally:
        monkeypatch.setattr(hardware, "busy_cores", lambda: 0)
        hardware.set_threads()
        torch.set_num_threads(before)


def test_cache_dir_is_one_documented_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    assert io.cache_dir("models", "x") == tmp_path / "cache" / "models" / "x"
    assert (tmp_path / "cache" / "models" / "x").is_dir()


def test_seed_makes_torch_repeatable():
    import torch

    config.set_seed(7)
    a = torch.randn(3)
    config.set_seed(7)
    assert torch.equal(a, torch.randn(3))


def test_cache_key_hashes_settings_then_rows(tmp_path):
    import hashlib

    key = io.cache_key({"b": 1, "a": [2]}, ["x", "y"])
    digest = hashlib.sha256(b'{"a": [2], "b": 1}')
    digest.update(b"x\0y\0")
    assert key == digest.hexdigest()[:16]  # the keys every existing cache folder was named with
    assert key == io.cache_key({"a": [2], "b": 1}, iter(["x", "y"]))  # order of settings is irrelevant
    assert key != io.cache_key({"b": 1, "a": [2]}, ["xy"])
    path = io.atomic_write_text(tmp_path / "f.txt", "héllo\n")
    assert path.read_text(encoding="utf-8") == "héllo\n" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
