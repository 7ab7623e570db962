"""Shared test setup: every test runs offline, writes runs into a temporary folder, and keeps the
llmkit cache (converted models, generated corpora) shared across the session so it is built once."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    """A test never writes into the repository's outputs/ nor inherits a run folder or profile."""
    monkeypatch.setenv("LLMKIT_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.delenv("LLMKIT_OUT", raising=False)
    monkeypatch.delenv("LLMKIT_PROFILE", raising=False)
