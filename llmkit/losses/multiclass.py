"""Softmax and softmax cross-entropy by hand, with the gradient of softmax regression (notebook 01)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError
from llmkit.losses.arrays import Array, as_float
from llmkit.losses.logistic import logistic_lipschitz

# ------------------------------------------------------------------- multi-class: softmax cross-entropy


def log_softmax(logits: ArrayLike, axis: int = -1) -> Array:
    """log softmax, shifted by the max so exp never overflows."""
    z = as_float(logits)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits: ArrayLike, axis: int = -1) -> Array:
    """exp(z_k) / sum_j exp(z_j), stable for any logits (softmax(z) = softmax(z - max z))."""
    return np.exp(log_softmax(logits, axis=axis))


def one_hot(labels: ArrayLike, num_classes: int) -> Array:
    """[n] integer labels -> [n, num_classes] rows of zeros with a 1 at the label."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise LlmkitError(
            f"one_hot: expected [n] labels in 0..{num_classes - 1}, got shape {list(labels.shape)}"
        )
    return np.eye(num_classes)[labels]


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> float:
    """Mean -log softmax(z)[label] over rows.   logits [n, K], labels [n]."""
    logp = log_softmax(logits)  # [n, K]
    labels = np.asarray(labels)
    return float(-logp[np.arange(logp.shape[0]), labels].mean())


def softmax_cross_entropy_gradient(logits: ArrayLike, labels: ArrayLike) -> Array:
    """d(mean CE)/d(logits) = (softmax(z) - onehot(label)) / n.   # [n, K]"""
    z = as_float(logits)
    return (softmax(z) - one_hot(labels, z.shape[1])) / z.shape[0]


def _unpack_softmax(theta: Array, d: int, num_classes: int) -> tuple[Array, Array]:
    if theta.shape != ((d + 1) * num_classes,):
        raise LlmkitError(
            f"softmax regression: expected theta of shape [{(d + 1) * num_classes}], got {list(theta.shape)}"
        )
    W = theta[: d * num_classes].reshape(d, num_classes)  # [d, K]
    return W, theta[d * num_classes :]  # [K]


def softmax_regression_objective(
    theta: ArrayLike, X: ArrayLike, y: ArrayLike, num_classes: int, C: float | None = None
) -> float:
    """Mean softmax CE of z = X W + b (theta = [W.ravel(), b]), plus ||W||^2 / (2 C n) as in sklearn."""
    theta, X = as_float(theta), as_float(X)
    W, b = _unpack_softmax(theta, X.shape[1], num_classes)
    loss = softmax_cross_entropy(X @ W + b, y)
    if C is not None:
        loss += float((W * W).sum()) / (2.0 * C * X.shape[0])
    return loss


def softmax_regression_gradient(
    theta: ArrayLike, X: ArrayLike, y: ArrayLike, num_classes: int, C: float | None = None
) -> Array:
    """Gradient of :func:`softmax_regression_objective`: [X^T (P - Y) / n (+ W / (C n)), sum_rows (P - Y) / n]."""
    theta, X = as_float(theta), as_float(X)
    W, b = _unpack_softmax(theta, X.shape[1], num_classes)
    G = softmax_cross_entropy_gradient(X @ W + b, y)  # [n, K]
    grad_W = X.T @ G  # [d, K]
    if C is not None:
        grad_W = grad_W + W / (C * X.shape[0])
    return np.concatenate([grad_W.ravel(), G.sum(axis=0)])


def softmax_lipschitz(X: ArrayLike, C: float | None = None) -> float:
    """Curvature bound of :func:`softmax_regression_objective`: the softmax CE Hessian in the logits has
    eigenvalues <= 1/2, so L = lambda_max(X~^T X~) / (2 n) + 1 / (C n)."""
    return 2.0 * logistic_lipschitz(X, None) + (1.0 / (C * np.shape(X)[0]) if C is not None else 0.0)
