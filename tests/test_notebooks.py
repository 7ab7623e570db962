"""Every notebook executed by papermill at the smoke profile, within its budget.

(`make test` also runs them under nbval; this file checks what nbval cannot: the ledger, the
budget, and that the same seed gives the same metrics.)
"""

from __future__ import annotations

import json
import math

import pytest

from llmkit import config, runner

NOTEBOOKS = runner.discover()
SMOKE_BUDGET_S = config.get_profile("smoke").budget_s


def _ledger(run_dir, path):
    return json.loads((run_dir / path.stem / "metrics.json").read_text())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_smoke_within_budget(path, tmp_path):
    run_dir, (result,) = runner.run_course([str(path)], "smoke", tmp_path / "run", echo=False)
    assert result.status == "passed", result.error
    ledger = _ledger(run_dir, path)
    assert ledger["profile"] == "smoke" and ledger["notebook"] == path.stem
    assert ledger["seconds"] <= SMOKE_BUDGET_S, f"{path.stem}: {ledger['seconds']:.1f} s at smoke"
    assert (run_dir / path.stem / f"{path.stem}.html").exists()
    assert (run_dir / "index.html").exists()


def test_same_seed_same_metrics(tmp_path):
    """Determinism: the loss-derivation notebook twice at smoke gives identical non-timing metrics."""
    path = runner.find_notebook("01")
    first, _ = runner.run_course([str(path)], "smoke", tmp_path / "a", echo=False)
    second, _ = runner.run_course([str(path)], "smoke", tmp_path / "b", echo=False)
    a, b = _ledger(first, path), _ledger(second, path)
    timing = set(a["timing"])
    for name, value in a["metrics"].items():
        if name not in timing:
            other = b["metrics"][name]
            assert value == other or (math.isnan(value) and math.isnan(other)), name
