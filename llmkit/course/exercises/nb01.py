"""Exercises of notebook 01 (loss derivation); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register
from llmkit.losses import logistic, multiclass


def _sigmoid_derivative(z: np.ndarray) -> np.ndarray:
    s = logistic.sigmoid(z)
    return s * (1.0 - s)


@register(
    "01.sigmoid_derivative",
    prompt="Write sigmoid_derivative(z): d sigma / dz elementwise, for a numpy array z.",
    reference=_sigmoid_derivative,
    wrong=logistic.sigmoid,
    hint="differentiate 1 / (1 + e^-z) with the chain rule and write the result in terms of sigma(z) itself.",
)
def _check_sigmoid_derivative(answer: Any) -> None:
    rng = np.random.default_rng(0)
    random_cases = [rng.normal(scale=s, size=n) for s, n in ((1.0, 7), (5.0, 50), (20.0, 11))]
    for z in (np.linspace(-6.0, 6.0, 25), np.array([0.0]), np.array([-30.0, 30.0]), *random_cases):
        expect_close(
            call(answer, z.copy()), _sigmoid_derivative(z), on=f"z = {np.array2string(z, threshold=4)}"
        )


def _bce_weight_gradient(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return X.T @ (logistic.sigmoid(X @ w) - y) / X.shape[0]


@register(
    "01.bce_gradient",
    prompt="Write bce_weight_gradient(X, y, w): the gradient of mean BCE(sigmoid(X w), y) with respect to w.",
    reference=_bce_weight_gradient,
    wrong=lambda X, y, w: X.T @ (y - logistic.sigmoid(X @ w)) / X.shape[0],
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
    reference=multiclass.softmax,
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
        expect_close(call(answer, z.copy()), multiclass.softmax(z), on=on)


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
    rng = np.random.default_rng(3)
    for T in (5, 100, 1000):
        cases[f"{T} random probabilities in (0, 1]"] = 1.0 - rng.random(T)
    for on, p in cases.items():
        expect_close(call(answer, p.copy()), _perplexity_from_probs(p), on=on)
