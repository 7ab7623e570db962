"""Exercise checkers for every notebook: each exercise has an id, a checker, a reference solution and a hint.

In a notebook::

    def sigmoid_derivative(z):
        raise NotImplementedError  # your code here

    exercises.check("01.sigmoid_derivative", sigmoid_derivative)
    # -> "· 01.sigmoid_derivative: not attempted yet ..."  (never raises, so the notebook runs headless)
    # -> "✓ 01.sigmoid_derivative: correct ..."  or  "✗ 01.sigmoid_derivative: <what was wrong>  Hint: ..."

``exercises.hint(id)`` and ``exercises.solution(id)`` show the way.

Notebook NN's exercises live in ``llmkit/course/exercises/nbNN.py`` under ids ``"NN.name"`` (this file holds
only the registry). To add one, write a checker that raises ``AssertionError`` with a message saying
what was wrong, and decorate it with :func:`register` giving the reference solution and a typical
mistake; ``tests/test_exercises.py`` checks every registered exercise: the reference passes, the
mistake fails, a stub is "not attempted". The ``nbNN`` modules are imported on first use.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from llmkit.core.errors import LlmkitError

Status = Literal["passed", "failed", "not attempted"]
MARKS: dict[str, str] = {"passed": "✓", "failed": "✗", "not attempted": "·"}


@dataclass(frozen=True)
class Exercise:
    """One registered exercise."""

    id: str  # "NN.name": the notebook number, then a short name
    prompt: str  # one sentence: what the learner writes
    checker: Callable[[Any], None]  # runs the answer on test inputs; raises AssertionError if it is wrong
    reference: Any  # the reference solution (a function or a value), shown by solution(id)
    wrong: Any  # a typical mistake; the tests check that the checker rejects it
    hint: str  # shown after a wrong answer, and by hint(id)


@dataclass(frozen=True)
class Result:
    """The outcome of checking one answer."""

    id: str
    status: Status
    message: str  # one line, without the mark

    def __bool__(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        return f"{MARKS[self.status]} {self.id}: {self.message}"


REGISTRY: dict[str, Exercise] = {}


class NotAttempted(Exception):
    """Raised inside a checker when the answer is still the stub."""


def register(id: str, *, prompt: str, reference: Any, wrong: Any, hint: str) -> Callable:
    """Decorator: register the decorated checker as exercise ``id``."""

    def decorate(checker: Callable[[Any], None]) -> Callable[[Any], None]:
        if id in REGISTRY:
            raise LlmkitError(f"exercise {id!r} is registered twice")
        REGISTRY[id] = Exercise(id, prompt, checker, reference, wrong, hint)
        return checker

    return decorate


def _load_all() -> None:
    """Import every ``llmkit.course.exercises.nbNN`` module once, so that their exercises are registered."""
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("nb"):
            importlib.import_module(f"{__name__}.{module.name}")


def get(id: str) -> Exercise:
    """The registered exercise ``id``; an unknown id raises with the closest known ids."""
    _load_all()
    if id not in REGISTRY:
        close = difflib.get_close_matches(id, list(REGISTRY), n=3)
        known = close or sorted(REGISTRY)
        raise LlmkitError(f"no exercise {id!r}; {'did you mean' if close else 'known'}: {', '.join(known)}")
    return REGISTRY[id]


def ids(prefix: str = "") -> list[str]:
    """The registered exercise ids starting with ``prefix`` (e.g. ``"01."``), sorted."""
    _load_all()
    return sorted(i for i in REGISTRY if i.startswith(prefix))


def hint(id: str) -> str:
    """The hint of exercise ``id``."""
    return get(id).hint


def solution(id: str) -> Any:
    """The reference solution of exercise ``id`` (a function or a value)."""
    return get(id).reference


def _is_stub(value: Any) -> bool:
    return value is None or value is Ellipsis


def evaluate(id: str, answer: Any) -> Result:
    """Check ``answer`` against exercise ``id`` and return the :class:`Result`; never raises for a bad answer.

    An answer that is ``None`` or ``...``, a function that raises ``NotImplementedError``, or one that
    returns ``None`` or ``...`` counts as not attempted yet.
    """
    exercise = get(id)
    if _is_stub(answer):
        return Result(id, "not attempted", "not attempted yet (replace the stub with your answer)")
    try:
        with np.errstate(all="ignore"):  # a naive answer may overflow; the checker reports the nan
            exercise.checker(answer)
    except (NotAttempted, NotImplementedError):
        return Result(id, "not attempted", "not attempted yet (replace the stub with your answer)")
    except AssertionError as exc:
        return Result(id, "failed", f"{exc}  Hint: {exercise.hint}")
    except Exception as exc:  # the learner's code crashed: say how, don't crash the notebook
        return Result(id, "failed", f"your answer raised {type(exc).__name__}: {exc}  Hint: {exercise.hint}")
    return Result(id, "passed", "correct")


def check(id: str, answer: Any) -> None:
    """Check ``answer`` and print one line: ✓ correct, ✗ what was wrong and a hint, or · not attempted."""
    print(evaluate(id, answer))


# --------------------------------------------------------------------------- helpers for checkers


def call(answer: Any, *args: Any) -> Any:
    """Call the learner's function; a stub result (None, ...) means not attempted."""
    if not callable(answer):
        raise AssertionError(f"expected a function, got {type(answer).__name__} {answer!r}")
    out = answer(*args)
    if _is_stub(out):
        raise NotAttempted
    return out


def expect_close(got: Any, expected: Any, *, on: str, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Raise AssertionError naming the input ``on`` unless ``got`` matches ``expected`` in shape and value."""
    try:
        got_arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"on {on}: expected numbers, got {type(got).__name__}") from exc
    exp_arr = np.asarray(expected, dtype=np.float64)
    if got_arr.shape != exp_arr.shape:
        raise AssertionError(f"on {on}: expected shape {list(exp_arr.shape)}, got {list(got_arr.shape)}")
    if not np.all(np.isfinite(got_arr)):
        raise AssertionError(f"on {on}: your answer contains inf or nan")
    if not np.allclose(got_arr, exp_arr, rtol=rtol, atol=atol):
        worst = int(np.argmax(np.abs(got_arr - exp_arr).reshape(-1)))
        raise AssertionError(
            f"on {on}: expected {exp_arr.reshape(-1)[worst]:.6g}, got {got_arr.reshape(-1)[worst]:.6g} "
            f"(at flat index {worst})"
        )
