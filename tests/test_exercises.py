"""The exercise registry: every reference solution passes its own checker, every registered mistake
fails it, and a stub is "not attempted" without raising (so notebooks run headless)."""

from __future__ import annotations

import numpy as np
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.course import exercises

ALL = exercises.ids()


def _stub(*args):
    raise NotImplementedError


def test_notebook_01_registers_at_least_three_exercises():
    assert len(exercises.ids("01.")) >= 3


@pytest.mark.parametrize("exercise_id", ALL)
def test_reference_solution_passes(exercise_id):
    result = exercises.evaluate(exercise_id, exercises.solution(exercise_id))
    assert result.status == "passed", str(result)
    assert bool(result)


@pytest.mark.parametrize("exercise_id", ALL)
def test_registered_mistake_fails_with_a_hint(exercise_id):
    result = exercises.evaluate(exercise_id, exercises.get(exercise_id).wrong)
    assert result.status == "failed", str(result)
    assert "Hint:" in result.message and not bool(result)


@pytest.mark.parametrize("exercise_id", ALL)
@pytest.mark.parametrize("stub", [None, ..., _stub, lambda *a: None, lambda *a: ...])
def test_stub_is_not_attempted_and_does_not_raise(exercise_id, stub):
    assert exercises.evaluate(exercise_id, stub).status == "not attempted"


@pytest.mark.parametrize("exercise_id", ALL)
def test_a_crashing_or_wrong_type_answer_fails_cleanly(exercise_id):
    def crash(*args):
        raise ZeroDivisionError("boom")

    crashed = exercises.evaluate(exercise_id, crash)
    assert crashed.status == "failed" and "ZeroDivisionError: boom" in crashed.message
    assert exercises.evaluate(exercise_id, 42).status == "failed"  # not a function
    assert exercises.evaluate(exercise_id, lambda *a: "text").status == "failed"


def test_check_prints_one_line_with_a_mark(capsys):
    exercises.check("01.sigmoid_derivative", exercises.solution("01.sigmoid_derivative"))
    exercises.check("01.sigmoid_derivative", exercises.get("01.sigmoid_derivative").wrong)
    exercises.check("01.sigmoid_derivative", _stub)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✓ 01.sigmoid_derivative")
    assert lines[1].startswith("✗ 01.sigmoid_derivative") and "Hint:" in lines[1]
    assert lines[2].startswith("· 01.sigmoid_derivative: not attempted yet")


def test_failure_message_names_the_input():
    result = exercises.evaluate("01.stable_softmax", exercises.get("01.stable_softmax").wrong)
    assert "large logits" in result.message and "inf or nan" in result.message
    result = exercises.evaluate("01.perplexity", lambda p: float(np.exp(-np.mean(np.log(p)))) + 1)
    assert "expected 50" in result.message


def test_unknown_id_suggests_close_ids():
    with pytest.raises(LlmkitError, match="did you mean: 01.perplexity"):
        exercises.get("01.perplexty")
    assert exercises.hint("01.perplexity")


def test_register_rejects_a_duplicate_id():
    with pytest.raises(LlmkitError, match="registered twice"):
        exercises.register("01.perplexity", prompt="", reference=None, wrong=None, hint="")(lambda a: None)
