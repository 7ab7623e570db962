"""The claims ledger: sources, outcomes (met / inconclusive / not met / failed), saving and rendering."""

from __future__ import annotations

import json
import math
import re

import pytest

from llmkit.core.errors import ClaimFailed, LlmkitError
from llmkit.course import claims
from llmkit.data import seed

COURSE = "two is at least one"
QUOTE = ("最终，模型在测试集上的准确率达到了95.5%", "in the end the model's test accuracy reached 95.5%")


def _ledger(tmp_path, profile="smoke", name="nb"):
    return claims.Ledger(name, profile=profile, out_dir=tmp_path)


def test_ledger_round_trip(tmp_path):
    ledger = _ledger(tmp_path, name="01_demo")
    ledger.metric("loss", 0.25, headline=True)
    ledger.metric("seconds", 1.5, timing=True)
    ledger.check("small error", 1e-9, "<", 1e-6, course=COURSE)
    data = json.loads(ledger.save().read_text())
    assert {"notebook", "profile", "seconds", "machine", "metrics", "claims"} <= set(data)
    assert data["headline"] == ["loss"] and data["timing"] == ["seconds"]
    (claim,) = data["claims"]
    assert claim["status"] == "met" and claim["passed"] is True
    assert claim["source"] == {"kind": "course", "text": COURSE, "gloss": "", "where": ""}
    assert data["machine"]["cores"] >= 1 and "cpu" in data["machine"]


def test_seed_quote_verified_and_section_found(tmp_path):
    ledger = _ledger(tmp_path)
    claim = ledger.check("accuracy", 0.9, ">=", 0.955, seed=QUOTE)
    assert claim.source["kind"] == "seed" and claim.source["where"] == "§5.4"
    assert claim.source["gloss"].startswith("in the end")
    with pytest.raises(LlmkitError, match="not found verbatim"):
        ledger.check("x", 1, ">", 0, seed=("模型在测试集上的准确率达到了99%", "made up"))
    with pytest.raises(LlmkitError, match="pair of strings"):
        ledger.check("x", 1, ">", 0, seed="a bare string")


def test_exactly_one_source(tmp_path):
    ledger = _ledger(tmp_path)
    with pytest.raises(LlmkitError, match="exactly one source"):
        ledger.check("x", 1, ">", 0)
    with pytest.raises(LlmkitError, match="exactly one source"):
        ledger.check("x", 1, ">", 0, course=COURSE, paper=("Hinton et al. 2015", "74 errors"))
    paper = ledger.check("x", 1, ">", 0, paper=("Hinton et al. 2015, §3", "74 test errors"))
    assert paper.source == {
        "kind": "paper",
        "text": "74 test errors",
        "gloss": "",
        "where": "Hinton et al. 2015, §3",
    }


def test_every_seed_quote_in_the_package_is_in_the_seed():
    """The copy the package reads is the seed itself (when the shared folder is at hand)."""
    from pathlib import Path

    shared = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_e4d5fc3bb0a83763.txt"
    if shared.exists():
        assert seed.SEED_FILE.read_bytes() == shared.read_bytes()
    assert "95.5%" in seed.seed_text()


def test_failed_claim_raises_only_when_enforced(tmp_path):
    smoke = _ledger(tmp_path / "a")
    assert smoke.check("too slow", 5.0, "<=", 1.0, course=COURSE).status == "failed"
    lesson = _ledger(tmp_path / "b", "lesson")
    with pytest.raises(ClaimFailed, match="too slow"):
        lesson.check("too slow", 5.0, "<=", 1.0, course=COURSE)
    saved = claims.load(tmp_path / "b" / "nb")
    assert saved["claims"][0]["passed"] is False and saved["claims"][0]["status"] == "failed"


def test_expected_failure_is_not_met_and_never_raises(tmp_path):
    lesson = _ledger(tmp_path, "lesson")
    claim = lesson.check(
        "gap", 6.5, "<=", 3, course=COURSE, expected_to_fail="6.5 points below: the model forgets"
    )
    assert claim.status == "not met" and not claim.passed and "forgets" in claim.reason
    met = lesson.check("gap2", 1.0, "<=", 3, course=COURSE, expected_to_fail="usually misses")
    assert met.status == "met" and "although declared" in met.reason
    with pytest.raises(LlmkitError, match="say why"):
        lesson.check("gap3", 1.0, "<=", 3, course=COURSE, expected_to_fail=" ")


def test_timing_claims_are_recorded_with_the_machine_unless_strict(tmp_path, monkeypatch):
    monkeypatch.delenv(claims.STRICT_TIMING_ENV, raising=False)
    lesson = _ledger(tmp_path / "a", "lesson")
    claim = lesson.check("speed-up", 1.2, ">=", 2.0, course=COURSE, timing=True)
    assert claim.status == "not met" and claim.timing and "cores, load" in claim.reason
    assert "speed-up" in lesson.timing
    monkeypatch.setenv(claims.STRICT_TIMING_ENV, "1")
    strict = _ledger(tmp_path / "b", "lesson")
    with pytest.raises(ClaimFailed):
        strict.check("speed-up", 1.2, ">=", 2.0, course=COURSE, timing=True)


@pytest.mark.parametrize(
    ("low", "high", "op", "target", "status"),
    [
        (0.98, 1.02, ">=", 0.97, "met"),
        (0.95, 1.01, ">=", 0.97, "inconclusive"),
        (0.90, 0.96, ">=", 0.97, "failed"),
        (-0.02, 0.01, "<", 0.0, "inconclusive"),
        (-0.05, -0.01, "<", 0.0, "met"),
        (0.01, 0.05, "<", 0.0, "failed"),
    ],
)
def test_interval_outcomes(tmp_path, low, high, op, target, status):
    claim = _ledger(tmp_path).check(
        "ratio", (low + high) / 2, op, target, course=COURSE, interval=(low, high)
    )
    assert claim.status == status and (claim.low, claim.high) == (low, high)


def test_inconclusive_never_raises_and_failed_interval_does(tmp_path):
    lesson = _ledger(tmp_path, "lesson")
    assert lesson.check("r", 0.99, ">=", 0.97, course=COURSE, interval=(0.95, 1.02)).status == "inconclusive"
    with pytest.raises(ClaimFailed, match="interval"):
        lesson.check("r2", 0.9, ">=", 0.97, course=COURSE, interval=(0.88, 0.93))
    with pytest.raises(LlmkitError, match="low <= high"):
        lesson.check("r3", 0.9, ">=", 0.97, course=COURSE, interval=(0.93, 0.88))


def test_evaluate_ops_and_nan(tmp_path):
    assert not claims.evaluate(math.nan, ">=", 0)
    assert claims.evaluate(2, ">=", 2) and not claims.evaluate(2, ">", 2)
    with pytest.raises(LlmkitError, match="claim op"):
        _ledger(tmp_path).check("x", 1, "=>", 1, course=COURSE)
    with pytest.raises(LlmkitError, match="course= must say"):
        _ledger(tmp_path / "b").check("x", 1, ">", 0, course=" ")


def test_ledger_never_overwritten(tmp_path):
    _ledger(tmp_path).save()
    with pytest.raises(LlmkitError, match="never overwritten"):
        _ledger(tmp_path)


def test_markdown_from_this_run(tmp_path):
    ledger = _ledger(tmp_path)
    ledger.metric("accuracy", 0.8765)
    ledger.check("acc", 0.8765, ">=", 0.955, seed=QUOTE, expected_to_fail="the generator's best is 0.950")
    text = ledger.markdown()
    assert "◐ not met" in text and "0.8765" in text and "§5.4" in text and "0.950" in text
    assert ledger.markdown(["accuracy"]).splitlines()[2] == "| accuracy | 0.8765 |"
    assert re.search(r"1 not met", ledger.summary())


def test_figure_saved_beside_ledger(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ledger = _ledger(tmp_path)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = ledger.figure(fig, "curve")
    plt.close(fig)
    assert path.exists() and path.suffix == ".png"
    assert json.loads(ledger.save().read_text())["figures"] == ["curve.png"]
