"""llmkit.core.io: atomic files and folders survive a crash mid-write; cached folders are found by key."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from llmkit.core import io


class Crash(Exception):
    """What a writer raises halfway through."""


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_file_bytes_and_text_write_and_replace(tmp_path):
    assert io.atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert io.atomic_write_text(tmp_path / "a.txt", "héllo\n").read_text(encoding="utf-8") == "héllo\n"
    io.atomic_write_text(tmp_path / "a.txt", "again\n")
    with io.atomic_file(tmp_path / "v.npy") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".npy" and tmp.name.startswith(".")
        np.save(tmp, np.arange(3))  # np.save keeps a name that ends in .npy
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), np.arange(3))
    assert (tmp_path / "a.txt").read_text() == "again\n" and _names(tmp_path) == ["a.bin", "a.txt", "v.npy"]


def test_a_crash_mid_write_keeps_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = io.atomic_write_text(tmp_path / "f.txt", "old\n")
    with pytest.raises(Crash), io.atomic_file(path) as tmp:
        tmp.write_text("half")
        raise Crash
    original = type(path).write_bytes

    def half_then_crash(self, data):
        original(self, data[:1])
        raise Crash

    monkeypatch.setattr(type(path), "write_bytes", half_then_crash)
    with pytest.raises(Crash):
        io.atomic_write_bytes(path, b"new\n")
    assert path.read_text() == "old\n" and _names(tmp_path) == ["f.txt"]


def test_atomic_folder_replaces_a_full_folder_and_a_crash_keeps_it(tmp_path):
    folder = tmp_path / "model"
    with io.atomic_folder(folder) as staging:
        assert staging.is_dir() and staging.parent == tmp_path and not folder.exists()
        (staging / "weights").write_text("v1")
        (staging / "sub").mkdir()
        (staging / "sub" / "x").write_text("1")
    assert _names(folder) == ["sub", "weights"]
    with io.atomic_folder(folder) as staging:
        assert (folder / "weights").read_text() == "v1"  # the old one is whole while the new one is written
        (staging / "weights").write_text("v2")
    assert _names(folder) == ["weights"] and (folder / "weights").read_text() == "v2"
    with pytest.raises(Crash), io.atomic_folder(folder) as staging:
        (staging / "weights").write_text("half")
        raise Crash
    assert _names(folder) == ["weights"] and (folder / "weights").read_text() == "v2"
    assert _names(tmp_path) == ["model"]  # no staging or old folder left
    with io.atomic_folder(tmp_path / "new" / "deep") as staging:  # parents are created
        (staging / "f").write_text("x")
    assert (tmp_path / "new" / "deep" / "f").read_text() == "x"


def test_atomic_folder_without_an_exchange_renames_the_old_one_aside(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_exchange", lambda a, b: False)  # a system without renameat2
    folder = tmp_path / "bundle"
    for version in ("v1", "v2"):
        with io.atomic_folder(folder) as staging:
            (staging / "card").write_text(version)
    assert (folder / "card").read_text() == "v2" and _names(tmp_path) == ["bundle"]


def test_cached_folder_writes_the_info_last_and_finds_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path))
    settings, rows = {"seed": 0}, ["a", "b"]
    entry = io.cached_folder("kind", settings, rows, info_name="info.json")
    assert entry.key == io.cache_key(settings, rows) and entry.folder == tmp_path / "kind" / entry.key
    assert entry.found() is None

    def crash(staging):
        (staging / "weights").write_text("half")
        raise Crash

    with pytest.raises(Crash):
        entry.save(crash, {"loss": 1.0})
    assert entry.found() is None and _names(tmp_path / "kind") == [f"{entry.key}.lock"]  # the lock stays
    entry.save(lambda staging: (staging / "weights").write_text("w"), {"loss": 1.0})
    assert json.loads(entry.info_path.read_text()) == entry.found() == {"loss": 1.0}
    with io.cached_folder("kind", settings, rows, info_name="info.json", cache=False) as again:
        assert again.found() is None  # and holds the lock until the block ends
    with io.cached_folder("kind", settings, ["ab"], info_name="info.json") as other:
        assert other.found() is None


def test_embed_texts_keys_by_cache_key_and_says_when_an_old_key_is_rebuilt(tmp_path, monkeypatch, caplog):
    import torch

    from llmkit.assets import models
    from llmkit.federated import hospitals

    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path))
    calls = []

    def fake_embed(texts, model, tokenizer, batch_size, max_length):
        calls.append(list(texts))
        return torch.ones(len(texts), 4)

    monkeypatch.setattr(models, "embed", fake_embed)
    monkeypatch.setattr(models, "load_encoder", lambda name: None)
    monkeypatch.setattr(models, "load_tokenizer", lambda name: None)
    texts = ["one note", "another"]
    legacy = tmp_path / "embeddings" / f"minilm-{hospitals._legacy_key(texts, 'minilm', 256)}.npy"
    legacy.parent.mkdir(parents=True)
    np.save(legacy, np.zeros((2, 4), np.float32))
    with caplog.at_level(logging.WARNING, logger="llmkit"):
        first = hospitals.embed_texts(texts)
    assert [r.getMessage() for r in caplog.records if "old way" in r.getMessage()] != []
    key = io.cache_key({"model": "minilm", "max_length": 256}, texts)
    assert (tmp_path / "embeddings" / f"minilm-{key}.npy").is_file() and first.dtype == np.float32
    caplog.clear()
    np.testing.assert_array_equal(hospitals.embed_texts(texts), first)  # found: no second embedding
    assert len(calls) == 1 and not caplog.records


def test_longest_first_batches_restore_the_input_order():
    from llmkit.core.batches import longest_first

    lengths = [3, 9, 1, 9, 4, 7, 2]
    batches = list(longest_first(lengths, 3))
    assert [b.tolist() for b in batches] == [[1, 3, 5], [4, 0, 6], [2]]  # ties (the two 9s) keep their order
    out = [None] * len(lengths)
    for rows in batches:
        for i in rows:
            out[i] = lengths[i] * 10
    assert out == [n * 10 for n in lengths]
