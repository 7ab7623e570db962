"""Binary cross-entropy and logistic regression by hand, with its gradient and gradient descent (notebook 01)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError
from llmkit.losses.arrays import Array, as_float, check_rows

# ------------------------------------------------------------------------------ binary: sigmoid and BCE


def sigmoid(z: ArrayLike) -> Array:
    """sigma(z) = 1 / (1 + exp(-z)), computed as exp(-softplus(-z)) so it never overflows."""
    z = as_float(z)
    return np.exp(-np.logaddexp(0.0, -z))


def bce_from_probs(p: ArrayLike, y: ArrayLike) -> float:
    """The textbook mean BCE, -mean(y log p + (1 - y) log(1 - p)), from probabilities.

    It breaks at confident predictions: in float64 sigmoid(40) rounds to exactly 1.0, so a wrong
    label there costs log(0) = inf. Kept to show *why* :func:`bce_with_logits` exists.
    """
    p, y = as_float(p), as_float(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def bce_with_logits(logits: ArrayLike, y: ArrayLike) -> float:
    """Mean binary cross-entropy from logits z, stable for any z.

    -[y log sigma(z) + (1 - y) log(1 - sigma(z))] simplifies to softplus(z) - y z, and
    softplus(z) = log(1 + e^z) = logaddexp(0, z) never overflows.
    """
    z, y = as_float(logits), as_float(y)  # [n], [n]
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def bce_gradient(logits: ArrayLike, y: ArrayLike) -> Array:
    """d(mean BCE)/d(logits) = (sigma(z) - y) / n: prediction minus label.   # [n]"""
    z, y = as_float(logits), as_float(y)
    return (sigmoid(z) - y) / z.shape[0]


# ------------------------------------------------------------ logistic regression, sklearn's objective


def logistic_objective(theta: ArrayLike, X: ArrayLike, y: ArrayLike, C: float | None = None) -> float:
    """Mean BCE of the linear model z = X w + b, plus ||w||^2 / (2 C n).

    scikit-learn's ``LogisticRegression(C=C)`` minimizes C * sum(log-loss) + ||w||^2 / 2 with the
    intercept unpenalized; dividing by C n gives this, so both have the same minimizer and this value
    is directly comparable. ``C=None`` means no penalty.
    """
    theta, X, y = as_float(theta), as_float(X), as_float(y)
    check_rows(X, y)
    w, b = theta[:-1], theta[-1]  # [d], scalar
    loss = bce_with_logits(X @ w + b, y)
    if C is not None:
        loss += float(w @ w) / (2.0 * C * X.shape[0])
    return loss


def logistic_gradient(theta: ArrayLike, X: ArrayLike, y: ArrayLike, C: float | None = None) -> Array:
    """Gradient of :func:`logistic_objective`: [X^T (sigma(Xw+b) - y)/n + w/(C n), sum(sigma - y)/n].  # [d+1]"""
    theta, X, y = as_float(theta), as_float(X), as_float(y)
    check_rows(X, y)
    w, b = theta[:-1], theta[-1]
    residual = bce_gradient(X @ w + b, y)  # [n] = (y_hat - y) / n
    grad_w = X.T @ residual  # [d]
    if C is not None:
        grad_w = grad_w + w / (C * X.shape[0])
    return np.append(grad_w, residual.sum())


def logistic_lipschitz(X: ArrayLike, C: float | None = None) -> float:
    """L, an upper bound on the curvature of :func:`logistic_objective`; step 1/L is always safe.

    The Hessian is X~^T S X~ / n (+ penalty) with X~ = [X, 1] and S = diag(sigma (1 - sigma)) <= 1/4,
    so L = lambda_max(X~^T X~) / (4 n) + 1 / (C n). At theta = 0 every sigma is 1/2 and the bound is
    attained; further from 0 the true curvature is smaller.
    """
    X = as_float(X)
    n = X.shape[0]
    X1 = np.hstack([X, np.ones((n, 1))])  # [n, d+1]
    top = float(np.linalg.eigvalsh(X1.T @ X1)[-1])
    return top / (4.0 * n) + (1.0 / (C * n) if C is not None else 0.0)


# --------------------------------------------------------------------------------- gradient descent


@dataclass(frozen=True)
class Descent:
    """What :func:`gradient_descent` returns."""

    theta: Array  # the last parameters
    losses: Array  # [steps_run + 1]: the loss before the first step and after each step
    diverged: bool  # the loss became inf or nan and the run stopped early
    path: Array | None = None  # [steps_run + 1, p]: every theta visited, if keep_path=True


def gradient_descent(
    loss: Callable[[Array], float],
    grad: Callable[[Array], Array],
    theta0: ArrayLike,
    *,
    learning_rate: float,  # the fixed step size eta
    steps: int,  # how many updates theta <- theta - eta * grad(theta)
    keep_path: bool = False,  # also return every theta visited (to plot the trajectory)
) -> Descent:
    """Full-batch gradient descent with a fixed step, written out: the whole algorithm is the loop."""
    if learning_rate <= 0 or steps < 0:
        raise LlmkitError(
            f"gradient_descent: expected learning_rate > 0 and steps >= 0, got {learning_rate}, {steps}"
        )
    theta = np.array(theta0, dtype=np.float64)  # a copy: the caller's array is never changed
    history, path = [loss(theta)], [theta]
    for _ in range(steps):
        theta = theta - learning_rate * grad(theta)
        history.append(loss(theta))
        if keep_path:
            path.append(theta)
        if not np.isfinite(history[-1]):
            break  # diverged: every further step would be inf or nan too
    return Descent(
        theta,
        np.array(history),
        diverged=not np.isfinite(history[-1]),
        path=np.array(path) if keep_path else None,
    )
