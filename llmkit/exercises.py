"""Exercise checkers for every notebook: each exercise has an id, a checker, a reference solution and a hint.

In a notebook::

    def sigmoid_derivative(z):
        raise NotImplementedError  # your code here

    exercises.check("01.sigmoid_derivative", sigmoid_derivative)
    # -> "· 01.sigmoid_derivative: not attempted yet ..."  (never raises, so the notebook runs headless)
    # -> "✓ 01.sigmoid_derivative: correct ..."  or  "✗ 01.sigmoid_derivative: <what was wrong>  Hint: ..."

``exercises.hint(id)`` and ``exercises.solution(id)`` show the way. A notebook's exercises are registered
in this module under ids ``"NN.name"``; to add one, write a checker that raises ``AssertionError`` with a
message saying what was wrong, and decorate it with :func:`register` giving the reference solution and
a typical mistake (the tests check that the reference passes and the mistake fails).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from llmkit import losses
from llmkit.errors import LlmkitError

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


def get(id: str) -> Exercise:
    """The registered exercise ``id``; an unknown id raises with the closest known ids."""
    if id not in REGISTRY:
        close = difflib.get_close_matches(id, list(REGISTRY), n=3)
        known = close or sorted(REGISTRY)
        raise LlmkitError(f"no exercise {id!r}; {'did you mean' if close else 'known'}: {', '.join(known)}")
    return REGISTRY[id]


def ids(prefix: str = "") -> list[str]:
    """The registered exercise ids starting with ``prefix`` (e.g. ``"01."``), sorted."""
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


# ------------------------------------------------------------------------------- 00 · setup


def _matmul_flops(m: int, k: int, n: int) -> int:
    return 2 * m * k * n


@register(
    "00.matmul_flops",
    prompt="Write matmul_flops(m, k, n): floating-point operations of an (m x k) by (k x n) matmul.",
    reference=_matmul_flops,
    wrong=lambda m, k, n: m * k * n,
    hint="each of the m*n outputs is a dot product of length k: k multiplies and k adds.",
)
def _check_matmul_flops(answer: Any) -> None:
    for shape in ((2, 3, 4), (1024, 1024, 1024), (32, 384, 1536)):
        expect_close(call(answer, *shape), _matmul_flops(*shape), on=f"(m, k, n) = {shape}", rtol=1e-9)


def _fraction_of_peak(tokens_per_second: float, flops_per_token: float, peak_gflops: float) -> float:
    return tokens_per_second * flops_per_token / (peak_gflops * 1e9)


@register(
    "00.fraction_of_peak",
    prompt="Write fraction_of_peak(tokens_per_second, flops_per_token, peak_gflops).",
    reference=_fraction_of_peak,
    wrong=lambda t, f, p: t * f / p,
    hint="achieved FLOP/s = tokens/s x FLOPs per token; the peak is in GFLOP/s, i.e. 1e9 FLOP/s.",
)
def _check_fraction_of_peak(answer: Any) -> None:
    for args in ((1000.0, 6e7, 180.0), (52.5, 2e9, 90.0), (1.0, 1e9, 1.0)):
        expect_close(call(answer, *args), _fraction_of_peak(*args), on=f"{args}")


def _ci_parameters(seed: int) -> dict[str, Any]:
    return {"profile": "smoke", "seed": seed}


@register(
    "00.ci_parameters",
    prompt="Write ci_parameters(seed): the papermill parameters (a dict) that rerun a notebook at the CI profile.",
    reference=_ci_parameters,
    wrong=lambda seed: {"profile": "lesson", "seed": seed},
    hint="CI uses the profile whose budget is 60 s per notebook; the names are those of the parameters cell.",
)
def _check_ci_parameters(answer: Any) -> None:
    for seed in (3, 11):
        got = call(answer, seed)
        if not isinstance(got, dict):
            raise AssertionError(f"expected a dict like {{'name': value}}, got {type(got).__name__}")
        if got != _ci_parameters(seed):
            raise AssertionError(f"for seed {seed}: expected {_ci_parameters(seed)}, got {got}")


# ------------------------------------------------------------------------ 01 · loss derivation


def _sigmoid_derivative(z: np.ndarray) -> np.ndarray:
    s = losses.sigmoid(z)
    return s * (1.0 - s)


@register(
    "01.sigmoid_derivative",
    prompt="Write sigmoid_derivative(z): d sigma / dz elementwise, for a numpy array z.",
    reference=_sigmoid_derivative,
    wrong=losses.sigmoid,
    hint="differentiate 1 / (1 + e^-z) with the chain rule and write the result in terms of sigma(z) itself.",
)
def _check_sigmoid_derivative(answer: Any) -> None:
    for z in (np.linspace(-6.0, 6.0, 25), np.array([0.0]), np.array([-30.0, 30.0])):
        expect_close(
            call(answer, z.copy()), _sigmoid_derivative(z), on=f"z = {np.array2string(z, threshold=4)}"
        )


def _bce_weight_gradient(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return X.T @ (losses.sigmoid(X @ w) - y) / X.shape[0]


@register(
    "01.bce_gradient",
    prompt="Write bce_weight_gradient(X, y, w): the gradient of mean BCE(sigmoid(X w), y) with respect to w.",
    reference=_bce_weight_gradient,
    wrong=lambda X, y, w: X.T @ (y - losses.sigmoid(X @ w)) / X.shape[0],
    hint="per example the gradient is (y_hat - y) * x; average over the n rows: X.T @ (y_hat - y) / n.",
)
def _check_bce_gradient(answer: Any) -> None:
    rng = np.random.default_rng(1)
    for n, d in ((7, 3), (40, 5)):
        X, w = rng.normal(size=(n, d)), rng.normal(size=d)
        y = (rng.random(n) < 0.5).astype(np.float64)
        expect_close(
            call(answer, X.copy(), y.copy(), w.copy()),
            _bce_weight_gradient(X, y, w),
            on=f"random X of shape [{n}, {d}]",
        )


def _naive_softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


@register(
    "01.stable_softmax",
    prompt="Write softmax(logits): row-wise softmax of a [n, K] array that works for logits like 1000.",
    reference=losses.softmax,
    wrong=_naive_softmax,
    hint="softmax(z) = softmax(z - c) for any constant c; subtract each row's max before exp.",
)
def _check_stable_softmax(answer: Any) -> None:
    cases = {
        "small logits [[1, 2, 3], [0, 0, 0]]": np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]),
        "large logits [[1000, 0, -1000], [800, 801, 799]]": np.array(
            [[1000.0, 0.0, -1000.0], [800.0, 801.0, 799.0]]
        ),
        "random [5, 10] logits": np.random.default_rng(2).normal(scale=5.0, size=(5, 10)),
    }
    for on, z in cases.items():
        expect_close(call(answer, z.copy()), losses.softmax(z), on=on)


def _perplexity_from_probs(p: np.ndarray) -> float:
    return float(np.exp(-np.mean(np.log(p))))


@register(
    "01.perplexity",
    prompt="Write perplexity(p): the perplexity of a model that gave the true next tokens probabilities p ([T]).",
    reference=_perplexity_from_probs,
    wrong=lambda p: float(1.0 / np.mean(p)),
    hint="perplexity = exp(mean negative log-likelihood) = exp(-mean(log p)), a geometric, not arithmetic, mean.",
)
def _check_perplexity(answer: Any) -> None:
    cases = {
        "p = [1/50] * 8 (uniform over 50 tokens)": np.full(8, 1 / 50),
        "p = [0.5, 0.25, 0.125, 0.9]": np.array([0.5, 0.25, 0.125, 0.9]),
        "p = [1.0, 1.0] (a perfect model)": np.array([1.0, 1.0]),
    }
    for on, p in cases.items():
        expect_close(call(answer, p.copy()), _perplexity_from_probs(p), on=on)
