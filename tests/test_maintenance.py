"""The generated machine runs (llmkit.data.synth.maintenance) and the manufacturing study's helpers
(llmkit.study.maintenance): committed file, determinism, the failure rule recovered, the best achievable score."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.data.synth import maintenance as mt
from llmkit.study import engine
from llmkit.study import maintenance as mf

COMMITTED = Path(__file__).resolve().parent.parent / mt.DATA_DIR
HASH_SCRIPT = (
    "import hashlib; from llmkit.data.synth.maintenance import generate_runs as g; "
    "print(hashlib.sha256(g(300, seed=3).to_csv(index=False).encode()).hexdigest())"
)


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return mt.generate_runs(**mt.DATASET_CALL, with_truth=True)


def test_committed_files_are_what_the_generator_writes(truth):
    for name, text in mt.dataset_files(truth.drop(columns=["bearing_defect", "p_sensors"])).items():
        assert text.encode("utf-8") == (COMMITTED / name).read_bytes(), (
            f"{mt.DATA_DIR / name} is stale: regenerate it with `python -m llmkit.data.synth.maintenance`"
        )
    assert (COMMITTED / mt.CSV_NAME).stat().st_size < 1_500_000


def test_same_seed_same_bytes_whatever_the_hash_seed():
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.Popen([sys.executable, "-c", HASH_SCRIPT], stdout=subprocess.PIPE, text=True, env=env)
    here = hashlib.sha256(mt.generate_runs(300, seed=3).to_csv(index=False).encode()).hexdigest()
    assert other.communicate(timeout=60)[0].strip() == here
    assert not mt.generate_runs(300, seed=4).equals(mt.generate_runs(300, seed=3))


def test_the_rule_is_recovered_from_the_committed_columns(truth):
    committed = mt.load_machine_maintenance()
    sensors = 1 - np.prod(1 - mt.mechanisms(committed).to_numpy(), axis=1)
    np.testing.assert_allclose(sensors, truth["p_sensors"], rtol=0, atol=1e-12)
    # the notes' noise is the only trace of the defect, at the documented rates
    heard = mt.heard_noise(committed["note"])
    defect = truth["bearing_defect"].to_numpy() == 1
    assert abs(heard[defect].mean() - mt.HEARD_IF_DEFECT) < 0.06
    assert abs(heard[~defect].mean() - mt.HEARD_IF_HEALTHY) < 0.005
    # calibrated: the failures follow the best probability within binomial noise, overall and where it is high
    y = (committed["failure"] == "failure").to_numpy()
    p = mt.best_probability(committed)
    assert abs(y.sum() - p.sum()) < 3 * np.sqrt((p * (1 - p)).sum())
    high = p > 0.5
    assert abs(y[high].mean() - p[high].mean()) < 0.1


def test_failure_rate_and_the_best_achievable_score(truth):
    committed = mt.load_machine_maintenance()
    rate = (committed["failure"] == "failure").mean()
    assert 0.02 <= rate <= 0.05
    test = committed.iloc[mt.test_rows(committed)]
    best, sensors_only = mt.best_achievable_pr_auc(test), mt.best_achievable_pr_auc(test, sensors_only=True)
    assert 0.5 < best < 0.8 and sensors_only < best  # the notes carry signal the sensors do not
    assert f"{best:.4f}" in (COMMITTED / "README.md").read_text()
    assert len(test) == 2000 and test["timestamp"].min() > committed["timestamp"].iloc[7999]


def test_notes_never_say_the_outcome_and_come_in_four_styles():
    runs = mt.generate_runs(400, seed=1)
    assert not runs["note"].str.contains("fail", case=False).any()
    assert {mt.TECHNICIANS[t] for t in runs["technician"]} == {"full", "terse", "checklist", "shift"}
    quiet = runs["note"].str.lower().str.contains("|".join(mt.QUIET))
    assert (mt.heard_noise(runs["note"][quiet]) == 0).all()


def test_bad_input_is_one_line_naming_the_column():
    with pytest.raises(LlmkitError, match="n_runs"):
        mt.generate_runs(5)
    runs = mt.generate_runs(100, seed=0)
    with pytest.raises(LlmkitError, match="'torque_nm'"):
        mt.mechanisms(runs.drop(columns=["torque_nm"]))
    with pytest.raises(LlmkitError, match="'speed_rpm'"):
        mf.physics_features(runs.drop(columns=["speed_rpm"]), "runs.csv")
    with pytest.raises(LlmkitError, match="'air_temp_k' must be numeric"):
        mf.physics_features(runs.assign(air_temp_k="warm"), "runs.csv")


def test_physics_features_are_the_mechanisms_quantities():
    runs = mt.generate_runs(50, seed=2)
    out = mf.physics_features(runs)
    np.testing.assert_allclose(out["temp_diff_k"], runs["process_temp_k"] - runs["air_temp_k"])
    np.testing.assert_allclose(out["power_w"], runs["torque_nm"] * runs["speed_rpm"] * 2 * np.pi / 60)
    np.testing.assert_allclose(out["strain_min_nm"], runs["tool_wear_min"] * runs["torque_nm"])
    assert "power_w" not in runs  # the input is not changed


def test_text_fusion_uses_the_notes_and_scores_the_given_rows():
    runs = mt.generate_runs(3000, seed=5)
    p = engine.prepare(mf.physics_features(runs), "failure", positive="failure", time_column="timestamp")
    test = p.rows("test")[:300]
    fused = mf.text_fusion(p, test, seed=0)
    assert fused.test.shape == (300, 2) and fused.validation.shape == (len(p.rows("validation")), 2)
    np.testing.assert_allclose(fused.test.sum(1), 1)
    heard = mt.heard_noise(runs["note"].iloc[test]) == 1
    assert fused.test[heard, 1].mean() > 2 * fused.test[~heard, 1].mean()  # a heard noise raises the risk
    no_text = engine.prepare(runs.drop(columns=["note"]), "failure", positive="failure")
    with pytest.raises(LlmkitError, match="text column"):
        mf.text_fusion(no_text, no_text.rows("test"))


def test_alert_costs_counts_each_policy():
    y = np.array([1, 0, 0, 1, 0])
    p = np.array([0.9, 0.6, 0.1, 0.05, 0.3])
    table = mf.alert_costs(y, {"never": (p, np.inf), "at 0.25": (p, 0.25)}, cost_missed=20, cost_stop=1)
    never, low = table.iloc[0], table.iloc[1]
    assert (never["stops"], never["failures missed"], never["cost per run"]) == (0, 2, 8.0)
    assert (low["stops"], low["failures caught"], low["unneeded stops"]) == (3, 1, 2)
    assert low["cost per run"] == pytest.approx((20 * 1 + 2) / 5)
    with pytest.raises(LlmkitError, match="'bad' has 2 probabilities for 5 runs"):
        mf.alert_costs(y, {"bad": (p[:2], 0.5)}, 20, 1)


def test_sizes_per_profile_are_pinned():
    sizes = {k: mf.MaintenanceSettings.for_profile(k).test_rows for k in ("smoke", "lesson", "full")}
    assert sizes == {"smoke": 500, "lesson": None, "full": None}
