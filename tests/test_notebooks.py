"""Every notebook executed once, by papermill through the course runner, at the smoke profile.

This one execution gives both guarantees: a cell that raises fails the notebook (the runner records
papermill's error), and the ledger it wrote is checked here: its profile, its budget, every claim's
source (each seed quote found verbatim in the seed text), and the same metrics on a second run.
"""

from __future__ import annotations

import json
import math

import pytest

from llmkit.core import config
from llmkit.course import claims, runner
from llmkit.data import seed as seed_file

NOTEBOOKS = runner.discover()
SMOKE_BUDGET_S = config.get_profile("smoke").budget_s
# Notebooks that must test at least one sentence of the seed itself.
MUST_QUOTE_SEED = (
    "01_loss_derivation",
    "02_pretraining",
    "03_fine_tuning",
    "healthcare_diabetes",
    "finance_credit_risk",
    "09_large_language_model",
    "10_fairness_transparency",
    "manufacturing_maintenance",
    "retail_recommendation",
)
_RUNS: dict[str, object] = {}


def _ledger(run_dir, stem):
    return json.loads((run_dir / stem / "metrics.json").read_text())


@pytest.fixture(scope="module")
def run_root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_smoke_within_budget(path, run_root):
    run_dir, (result,) = runner.run_course([str(path)], "smoke", run_root / path.stem, echo=False)
    assert result.status == "passed", result.error
    _RUNS[path.stem] = run_dir
    ledger = _ledger(run_dir, path.stem)
    assert ledger["profile"] == "smoke" and ledger["notebook"] == path.stem
    assert ledger["seconds"] <= SMOKE_BUDGET_S, f"{path.stem}: {ledger['seconds']:.1f} s at smoke"
    assert (run_dir / path.stem / f"{path.stem}.html").exists()
    assert (run_dir / "index.html").exists()
    assert ledger["claims"], f"{path.stem}: no claims"
    seed = seed_file.seed_text()
    for c in ledger["claims"]:
        source = c["source"]
        assert source["kind"] in claims.SOURCE_KINDS, c["name"]
        assert c["status"] in claims.STATUSES, c["name"]
        if source["kind"] == "seed":
            assert source["text"] in seed and source["gloss"], c["name"]
    if path.stem in MUST_QUOTE_SEED:
        assert any(c["source"]["kind"] == "seed" for c in ledger["claims"]), (
            f"{path.stem} quotes no seed sentence"
        )


def test_same_seed_same_metrics(tmp_path):
    """Determinism: notebook 01 again at smoke gives exactly the non-timing metrics of its run above."""
    path = runner.find_notebook("01")
    first = _RUNS.get(path.stem) or runner.run_course([str(path)], "smoke", tmp_path / "a", echo=False)[0]
    second, _ = runner.run_course([str(path)], "smoke", tmp_path / "b", echo=False)
    a, b = _ledger(first, path.stem), _ledger(second, path.stem)
    timing = set(a["timing"])
    for name, value in a["metrics"].items():
        if name not in timing:
            other = b["metrics"][name]
            assert value == other or (math.isnan(value) and math.isnan(other)), name
