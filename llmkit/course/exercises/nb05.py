"""Exercises of notebook 05 (knowledge distillation); the registry and its helpers are in ``llmkit.course.exercises``.

The checkers compare against :mod:`llmkit.losses.kd`; the reference solutions are written out in numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register
from llmkit.losses import kd


def _softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _logit_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(5)
    return {
        "one row, z_s = [2, 0, -1], z_t = [0, 1, 3]": (
            np.array([[2.0, 0.0, -1.0]]),
            np.array([[0.0, 1.0, 3.0]]),
        ),
        "random [6, 10] logits": (rng.normal(scale=3, size=(6, 10)), rng.normal(scale=3, size=(6, 10))),
        "logits with row means far from 0": (
            rng.normal(size=(4, 5)) + np.array([[5.0], [-3.0], [10.0], [0.5]]),
            rng.normal(size=(4, 5)) - 2.0,
        ),
    }


@register(
    "05.softened_softmax",
    prompt="Write softened_softmax(z, T): softmax(z / T) of each row of the [n, K] logits z.",
    reference=lambda z, T: _softmax(np.asarray(z, dtype=np.float64) / T),
    wrong=lambda z, T: _softmax(np.asarray(z, dtype=np.float64) * T),
    hint="divide the logits by T before the softmax (T > 1 flattens the distribution, it does not sharpen it),"
    " and subtract each row's max first so exp never overflows.",
)
def _check_softened_softmax(answer: Any) -> None:
    z = np.array([[3.0, 1.0, -2.0], [0.0, 0.0, 0.0]])
    for T in (1.0, 2.0, 20.0, 0.5):
        expect_close(call(answer, z.copy(), T), kd.softened_softmax(z, T), on=f"z = {z.tolist()}, T = {T:g}")
    big = np.array([[1000.0, 990.0, 0.0]])
    expect_close(call(answer, big.copy(), 4.0), kd.softened_softmax(big, 4.0), on="large logits, T = 4")


def _kd_soft_gradient(z_s: np.ndarray, z_t: np.ndarray, T: float) -> np.ndarray:
    p_s, p_t = _softmax(z_s / T), _softmax(z_t / T)
    return T * (p_s - p_t) / z_s.shape[0]


@register(
    "05.kd_soft_gradient",
    prompt="Write kd_soft_gradient(z_s, z_t, T): the gradient in the student logits z_s of "
    "T^2 * mean_rows KL(softmax(z_t / T) || softmax(z_s / T)).",
    reference=_kd_soft_gradient,
    wrong=lambda z_s, z_t, T: (_softmax(z_s / T) - _softmax(z_t / T)) / (T * z_s.shape[0]),
    hint="the KL's gradient in z_s / T is p_s - p_t; the chain rule through z_s / T divides by T, the T^2 "
    "in front multiplies by T^2, and the mean over rows divides by n: T (p_s - p_t) / n.",
)
def _check_kd_soft_gradient(answer: Any) -> None:
    for on, (z_s, z_t) in _logit_pairs().items():
        for T in (1.0, 4.0, 20.0):
            expect_close(
                call(answer, z_s.copy(), z_t.copy(), T),
                kd.kd_soft_gradient(z_s, z_t, T),
                on=f"{on}, T = {T:g}",
            )


def _kd_loss(z_s: np.ndarray, z_t: np.ndarray, labels: np.ndarray, T: float, alpha: float) -> float:
    log_p_s, p_t = np.log(_softmax(z_s / T)), _softmax(z_t / T)
    kl = np.sum(p_t * (np.log(p_t) - log_p_s), axis=1).mean()
    ce = -np.log(_softmax(z_s))[np.arange(len(labels)), labels].mean()
    return float(alpha * T**2 * kl + (1 - alpha) * ce)


def _kd_loss_alpha_swapped(
    z_s: np.ndarray, z_t: np.ndarray, labels: np.ndarray, T: float, alpha: float
) -> float:
    return _kd_loss(z_s, z_t, labels, T, 1.0 - alpha)


@register(
    "05.kd_loss",
    prompt="Write kd_loss(z_s, z_t, labels, T, alpha): alpha weighs the T^2-scaled soft-target KL at "
    "temperature T, 1 - alpha the cross-entropy of softmax(z_s) (T = 1) with the labels.",
    reference=_kd_loss,
    wrong=_kd_loss_alpha_swapped,
    hint="alpha * T^2 * mean KL(p_t(T) || p_s(T)) + (1 - alpha) * mean CE(softmax(z_s), labels): alpha = 1 is "
    "soft targets only, alpha = 0 plain cross-entropy; the hard term uses T = 1.",
)
def _check_kd_loss(answer: Any) -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 10, size=6)
    for on, (z_s, z_t) in list(_logit_pairs().items())[1:2]:
        for T, alpha in ((1.0, 0.5), (4.0, 0.9), (20.0, 0.3), (2.0, 0.0), (2.0, 1.0)):
            expect_close(
                call(answer, z_s.copy(), z_t.copy(), labels.copy(), T, alpha),
                kd.kd_loss(z_s, z_t, labels, T, alpha),
                on=f"{on}, T = {T:g}, alpha = {alpha:g}",
            )
    for case in range(8):  # generated cases: random sizes, logit scales, temperatures and weights
        n, K = int(rng.integers(1, 9)), int(rng.integers(2, 12))
        scale = float(rng.uniform(0.5, 8.0))
        z_s, z_t = rng.normal(scale=scale, size=(n, K)), rng.normal(scale=scale, size=(n, K))
        y = rng.integers(0, K, size=n)
        T, alpha = float(rng.uniform(0.5, 20.0)), float(rng.uniform(0.0, 1.0))
        expect_close(
            call(answer, z_s.copy(), z_t.copy(), y.copy(), T, alpha),
            kd.kd_loss(z_s, z_t, y, T, alpha),
            on=f"generated case {case + 1}: [{n}, {K}] logits of scale {scale:.1f}, T = {T:.2f}, alpha = {alpha:.2f}",
        )


def _logit_matching(z_s: np.ndarray, z_t: np.ndarray) -> np.ndarray:
    n, K = z_s.shape
    centered_s = z_s - z_s.mean(axis=1, keepdims=True)
    centered_t = z_t - z_t.mean(axis=1, keepdims=True)
    return (centered_s - centered_t) / (K * n)


@register(
    "05.logit_matching",
    prompt="Write logit_matching(z_s, z_t): the limit of kd_soft_gradient(z_s, z_t, T) as T -> infinity.",
    reference=_logit_matching,
    wrong=lambda z_s, z_t: (z_s - z_t) / (z_s.shape[1] * z_s.shape[0]),
    hint="for large T, softmax(z / T)_k ~ (1 + (z_k - mean z) / T) / K: softmax ignores each row's mean, so "
    "centre every row before taking (z_s - z_t) / (K n). Hinton's (z_s - z_t) / (K n) assumes zero-mean logits.",
)
def _check_logit_matching(answer: Any) -> None:
    for on, (z_s, z_t) in _logit_pairs().items():
        expect_close(call(answer, z_s.copy(), z_t.copy()), kd.logit_matching_gradient(z_s, z_t), on=on)
