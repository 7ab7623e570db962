from __future__ import annotations

import json
import math

import pytest

from llmkit import claims
from llmkit.errors import ClaimFailed, LlmkitError

SEED = "a sentence of the seed text"


def test_ledger_writes_required_fields(tmp_path):
    ledger = claims.Ledger("01_demo", profile="smoke", out_dir=tmp_path)
    ledger.metric("accuracy", 0.9, headline=True)
    ledger.log(f1=0.8, loss=0.1)
    ledger.check("small error", 1e-9, "<", 1e-6, seed=SEED)
    path = ledger.save()
    assert path == tmp_path / "01_demo" / "metrics.json"
    data = json.loads(path.read_text())
    assert {"notebook", "profile", "seconds", "metrics", "claims"} <= set(data)
    assert data["notebook"] == "01_demo" and data["profile"] == "smoke" and data["seconds"] >= 0
    assert data["metrics"]["accuracy"] == 0.9 and data["headline"] == ["accuracy"]
    (claim,) = data["claims"]
    assert claim == {
        "name": "small error",
        "value": 1e-9,
        "op": "<",
        "target": 1e-6,
        "passed": True,
        "seed": SEED,
    }


def test_failed_claim_recorded_at_smoke_raises_at_lesson(tmp_path):
    smoke = claims.Ledger("nb", profile="smoke", out_dir=tmp_path / "a")
    assert not smoke.check("too slow", 5.0, "<=", 1.0, seed=SEED).passed
    lesson = claims.Ledger("nb", profile="lesson", out_dir=tmp_path / "b")
    with pytest.raises(ClaimFailed, match="too slow"):
        lesson.check("too slow", 5.0, "<=", 1.0, seed=SEED)
    # the failure is saved before raising, so the report shows it
    saved = claims.load(tmp_path / "b" / "nb")
    assert saved["claims"][0]["passed"] is False


def test_nan_never_passes_and_ops_validated(tmp_path):
    assert not claims.evaluate(math.nan, ">=", 0)
    assert claims.evaluate(2, ">=", 2) and not claims.evaluate(2, ">", 2)
    ledger = claims.Ledger("nb", profile="smoke", out_dir=tmp_path)
    with pytest.raises(LlmkitError, match="claim op"):
        ledger.check("x", 1, "=>", 1, seed=SEED)
    with pytest.raises(LlmkitError, match="seed must quote"):
        ledger.check("x", 1, ">", 0, seed=" ")
    with pytest.raises(LlmkitError, match="metric 'acc': expected a number"):
        ledger.metric("acc", "high")


def test_a_ledger_is_never_overwritten(tmp_path):
    claims.Ledger("nb", profile="smoke", out_dir=tmp_path).save()
    with pytest.raises(LlmkitError, match="never overwritten"):
        claims.Ledger("nb", profile="smoke", out_dir=tmp_path)


def test_figure_saved_beside_ledger(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ledger = claims.Ledger("nb", profile="smoke", out_dir=tmp_path)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = ledger.figure(fig, "curve")
    plt.close(fig)
    assert path.exists() and path.suffix == ".png"
    assert json.loads(ledger.save().read_text())["figures"] == ["curve.png"]
