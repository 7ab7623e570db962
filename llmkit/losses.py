"""The loss functions of the course, written out by hand: notebook 01 (BCE, softmax cross-entropy,
next-token loss, perplexity, gradient descent) and notebook 05 (knowledge distillation: softened
softmax, the T^2-scaled soft-target loss, its mix with the hard-label loss, and their gradients).

Everything here is plain numpy in float64, so that each formula reads like the derivation in the
notebook and a finite-difference check is accurate to ~1e-9. PyTorch appears only as the independent
reference the notebook checks against (:func:`autograd_gradient` and the ``torch_*`` losses); it is
imported inside those functions, so importing this module stays cheap.

Conventions: ``X`` is ``[n, d]`` (rows are examples), labels ``y`` are ``[n]``, and every loss is the
*mean* over examples (the empirical risk), never the sum. A logistic-regression parameter vector is
``theta = [w_1 .. w_d, b]`` (``[d + 1]``), intercept last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from llmkit.errors import LlmkitError

Array = np.ndarray


def _as_float(a: ArrayLike) -> Array:
    return np.asarray(a, dtype=np.float64)


def _check_rows(X: Array, y: Array) -> None:
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise LlmkitError(
            f"expected X of shape [n, d] and y of shape [n]; got X {list(X.shape)} and y {list(y.shape)}"
        )


# ------------------------------------------------------------------------------ binary: sigmoid and BCE


def sigmoid(z: ArrayLike) -> Array:
    """sigma(z) = 1 / (1 + exp(-z)), computed as exp(-softplus(-z)) so it never overflows."""
    z = _as_float(z)
    return np.exp(-np.logaddexp(0.0, -z))


def bce_from_probs(p: ArrayLike, y: ArrayLike) -> float:
    """The textbook mean BCE, -mean(y log p + (1 - y) log(1 - p)), from probabilities.

    It breaks at confident predictions: in float64 sigmoid(40) rounds to exactly 1.0, so a wrong
    label there costs log(0) = inf. Kept to show *why* :func:`bce_with_logits` exists.
    """
    p, y = _as_float(p), _as_float(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def bce_with_logits(logits: ArrayLike, y: ArrayLike) -> float:
    """Mean binary cross-entropy from logits z, stable for any z.

    -[y log sigma(z) + (1 - y) log(1 - sigma(z))] simplifies to softplus(z) - y z, and
    softplus(z) = log(1 + e^z) = logaddexp(0, z) never overflows.
    """
    z, y = _as_float(logits), _as_float(y)  # [n], [n]
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def bce_gradient(logits: ArrayLike, y: ArrayLike) -> Array:
    """d(mean BCE)/d(logits) = (sigma(z) - y) / n: prediction minus label.   # [n]"""
    z, y = _as_float(logits), _as_float(y)
    return (sigmoid(z) - y) / z.shape[0]


# ------------------------------------------------------------ logistic regression, sklearn's objective


def logistic_objective(theta: ArrayLike, X: ArrayLike, y: ArrayLike, C: float | None = None) -> float:
    """Mean BCE of the linear model z = X w + b, plus ||w||^2 / (2 C n).

    scikit-learn's ``LogisticRegression(C=C)`` minimizes C * sum(log-loss) + ||w||^2 / 2 with the
    intercept unpenalized; dividing by C n gives this, so both have the same minimizer and this value
    is directly comparable. ``C=None`` means no penalty.
    """
    theta, X, y = _as_float(theta), _as_float(X), _as_float(y)
    _check_rows(X, y)
    w, b = theta[:-1], theta[-1]  # [d], scalar
    loss = bce_with_logits(X @ w + b, y)
    if C is not None:
        loss += float(w @ w) / (2.0 * C * X.shape[0])
    return loss


def logistic_gradient(theta: ArrayLike, X: ArrayLike, y: ArrayLike, C: float | None = None) -> Array:
    """Gradient of :func:`logistic_objective`: [X^T (sigma(Xw+b) - y)/n + w/(C n), sum(sigma - y)/n].  # [d+1]"""
    theta, X, y = _as_float(theta), _as_float(X), _as_float(y)
    _check_rows(X, y)
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
    X = _as_float(X)
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


# ------------------------------------------------------------------- multi-class: softmax cross-entropy


def log_softmax(logits: ArrayLike, axis: int = -1) -> Array:
    """log softmax, shifted by the max so exp never overflows."""
    z = _as_float(logits)
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
    z = _as_float(logits)
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
    theta, X = _as_float(theta), _as_float(X)
    W, b = _unpack_softmax(theta, X.shape[1], num_classes)
    loss = softmax_cross_entropy(X @ W + b, y)
    if C is not None:
        loss += float((W * W).sum()) / (2.0 * C * X.shape[0])
    return loss


def softmax_regression_gradient(
    theta: ArrayLike, X: ArrayLike, y: ArrayLike, num_classes: int, C: float | None = None
) -> Array:
    """Gradient of :func:`softmax_regression_objective`: [X^T (P - Y) / n (+ W / (C n)), sum_rows (P - Y) / n]."""
    theta, X = _as_float(theta), _as_float(X)
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


# ---------------------------------------------------------------------- next-token loss and perplexity


def next_token_nll(log_probs: ArrayLike, targets: ArrayLike) -> float:
    """Mean negative log-likelihood (nats per token) of ``targets`` [T] under ``log_probs``.

    ``log_probs`` is [T, V] (one next-token distribution per position) or [V] (the same distribution at
    every position, as for a unigram model).
    """
    logp, targets = _as_float(log_probs), np.asarray(targets)
    picked = logp[targets] if logp.ndim == 1 else logp[np.arange(targets.shape[0]), targets]  # [T]
    return float(-picked.mean())


def perplexity(mean_nll: float) -> float:
    """exp(mean NLL): the number of equally likely tokens the model is as unsure as."""
    return float(np.exp(mean_nll))


def uniform_log_probs(vocab_size: int) -> Array:
    """The know-nothing model: log(1/V) for every token.   # [V]"""
    return np.full(vocab_size, -np.log(vocab_size))


def unigram_log_probs(token_ids: ArrayLike, vocab_size: int, smoothing: float = 1.0) -> Array:
    """Token frequencies with add-``smoothing`` (Laplace) counts, as log-probabilities.   # [V]"""
    counts = np.bincount(np.asarray(token_ids), minlength=vocab_size).astype(np.float64) + smoothing
    return np.log(counts / counts.sum())


# --------------------------------------------------------------------- checking a derived gradient


def numerical_gradient(f: Callable[[Array], float], theta: ArrayLike, eps: float = 1e-6) -> Array:
    """Central differences (f(theta + eps e_i) - f(theta - eps e_i)) / (2 eps), one coordinate at a time.

    The error is O(eps^2) from truncation plus O(machine eps / eps) from rounding: in float64 with
    eps = 1e-6 both are around 1e-10 relative.
    """
    theta = np.array(theta, dtype=np.float64)
    grad = np.empty_like(theta)
    flat, gflat = theta.reshape(-1), grad.reshape(-1)  # views
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(theta)
        flat[i] = old - eps
        down = f(theta)
        flat[i] = old
        gflat[i] = (up - down) / (2.0 * eps)
    return grad


def autograd_gradient(f: Callable[[Any], Any], theta: ArrayLike) -> Array:
    """The gradient PyTorch's autograd computes for ``f`` (a function of a float64 tensor) at ``theta``."""
    import torch

    t = torch.tensor(np.asarray(theta, dtype=np.float64), requires_grad=True)
    f(t).backward()
    return t.grad.detach().numpy().copy()


def relative_error(a: ArrayLike, b: ArrayLike) -> float:
    """max|a - b| / max(max|a|, max|b|): the largest error, relative to the gradient's scale."""
    a, b = _as_float(a), _as_float(b)
    if a.shape != b.shape:
        raise LlmkitError(f"relative_error: shapes differ, {list(a.shape)} vs {list(b.shape)}")
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    return float(np.abs(a - b).max(initial=0.0) / scale) if scale > 0 else 0.0


def torch_logistic_objective(theta: Any, X: ArrayLike, y: ArrayLike, C: float | None = None) -> Any:
    """:func:`logistic_objective` from PyTorch's own BCE (``binary_cross_entropy_with_logits``)."""
    import torch
    import torch.nn.functional as F

    X_t = torch.as_tensor(np.asarray(X, dtype=np.float64))
    y_t = torch.as_tensor(np.asarray(y, dtype=np.float64))
    w, b = theta[:-1], theta[-1]
    loss = F.binary_cross_entropy_with_logits(X_t @ w + b, y_t)
    if C is not None:
        loss = loss + torch.dot(w, w) / (2.0 * C * X_t.shape[0])
    return loss


def torch_softmax_cross_entropy(logits: Any, labels: ArrayLike) -> Any:
    """:func:`softmax_cross_entropy` from PyTorch's own ``cross_entropy``."""
    import torch
    import torch.nn.functional as F

    return F.cross_entropy(logits, torch.as_tensor(np.asarray(labels), dtype=torch.long))


# ----------------------------------------------------------------------------------- loss landscape


def landscape_2d(
    loss: Callable[[Array], float],
    center: ArrayLike,  # [p] the point the slice goes through (e.g. the optimum)
    direction_1: ArrayLike,  # [p] the x-axis direction
    direction_2: ArrayLike,  # [p] the y-axis direction
    span: float = 1.0,  # the grid covers [-span, span] along each direction
    num: int = 41,  # grid points per axis
) -> tuple[Array, Array, Array]:
    """loss(center + a d1 + b d2) on a num x num grid: returns (a [num], b [num], losses [num(b), num(a)])."""
    center, d1, d2 = _as_float(center), _as_float(direction_1), _as_float(direction_2)
    alphas = np.linspace(-span, span, num)
    betas = np.linspace(-span, span, num)
    grid = np.array([[loss(center + a * d1 + b * d2) for a in alphas] for b in betas])
    return alphas, betas, grid


def trajectory_plane(path: ArrayLike, center: ArrayLike) -> tuple[Array, Array, Array, float]:
    """The plane a descent path mostly moves in: the top two principal directions of ``path - center``.

    Returns (direction_1 [p], direction_2 [p], the path's coordinates in that plane [steps, 2], the
    fraction of the path's squared distance from ``center`` that the plane explains). A slice of the
    loss through ``center`` along these directions (:func:`landscape_2d`) shows the path in context.
    """
    offsets = _as_float(path) - _as_float(center)  # [steps, p]
    _, singular, vt = np.linalg.svd(offsets, full_matrices=False)
    directions = vt[:2]  # [2, p], orthonormal rows
    explained = float((singular[:2] ** 2).sum() / max((singular**2).sum(), np.finfo(np.float64).tiny))
    return directions[0], directions[1], offsets @ directions.T, explained


# ------------------------------------------------------------------ knowledge distillation (notebook 05)
# Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network". z_s and z_t are the
# student's and the teacher's logits [n, K]; p(T) = softmax(z / T) is a distribution softened by the
# temperature T. The soft term is T^2 * KL(p_t(T) || p_s(T)): its gradient in z_s is T (p_s - p_t), and
# without the T^2 it would be (p_s - p_t) / T, which shrinks like 1/T^2 as T grows (p_s - p_t ~ 1/T);
# the T^2 keeps the soft term on the scale of the hard-label CE whatever T is.


def _check_temperature(temperature: float) -> None:
    if not (np.isfinite(temperature) and temperature > 0):
        raise LlmkitError(f"temperature: expected a finite T > 0, got {temperature!r}")


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise LlmkitError(f"alpha: expected a weight in [0, 1] (1 = soft targets only), got {alpha!r}")


def _check_logit_pair(student: Array, teacher: Array) -> None:
    if student.ndim != 2 or student.shape != teacher.shape:
        raise LlmkitError(
            "expected student and teacher logits of the same shape [n, K]; "
            f"got student {list(student.shape)} and teacher {list(teacher.shape)}"
        )


def softened_softmax(logits: ArrayLike, temperature: float) -> Array:
    """p(T) = softmax(z / T): T = 1 is the usual softmax, T > 1 flattens it, T -> inf tends to uniform."""
    _check_temperature(temperature)
    return softmax(_as_float(logits) / temperature)


def mean_entropy(probs: ArrayLike) -> float:
    """Mean over rows of H(p) = -sum_k p_k log p_k (nats), with 0 log 0 = 0.   probs [n, K]."""
    p = _as_float(probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return float(-terms.sum(axis=-1).mean())


def kd_kl(student_logits: ArrayLike, teacher_logits: ArrayLike, temperature: float) -> float:
    """The soft-target loss T^2 * mean_rows KL(p_t(T) || p_s(T)) = T^2 * mean sum_k p_t (log p_t - log p_s).

    It is >= 0 and is 0 exactly when the student's softened distribution equals the teacher's (for
    example when the logits match, or differ by a constant per row).
    """
    _check_temperature(temperature)
    zs, zt = _as_float(student_logits), _as_float(teacher_logits)
    _check_logit_pair(zs, zt)
    log_ps, log_pt = log_softmax(zs / temperature), log_softmax(zt / temperature)  # [n, K]
    kl_rows = (np.exp(log_pt) * (log_pt - log_ps)).sum(axis=1)  # [n]
    return float(temperature**2 * kl_rows.mean())


def kd_soft_cross_entropy(student_logits: ArrayLike, teacher_logits: ArrayLike, temperature: float) -> float:
    """T^2 * mean_rows -sum_k p_t(T) log p_s(T): the soft targets used as cross-entropy labels.

    It equals :func:`kd_kl` + T^2 * mean H(p_t(T)). The teacher's entropy does not depend on the
    student, so both losses have the same gradient and the same minimizer; only the KL form is 0 at the
    optimum, which makes it the one to print.
    """
    _check_temperature(temperature)
    zs, zt = _as_float(student_logits), _as_float(teacher_logits)
    _check_logit_pair(zs, zt)
    pt = softmax(zt / temperature)  # [n, K]
    return float(temperature**2 * -(pt * log_softmax(zs / temperature)).sum(axis=1).mean())


def kd_loss(
    student_logits: ArrayLike,  # [n, K] z_s
    teacher_logits: ArrayLike,  # [n, K] z_t, the soft targets' logits
    labels: ArrayLike,  # [n] the hard labels
    temperature: float,  # T of the soft term; the hard term is always at T = 1
    alpha: float,  # the weight of the soft term: 1 = soft targets only, 0 = labels only
) -> float:
    """The distillation objective alpha * T^2 * KL(p_t(T) || p_s(T)) + (1 - alpha) * CE(softmax(z_s), y).

    ``alpha`` weighs the *soft* (teacher) side, as in Hinton et al.'s "weighted average of two
    objectives"; alpha = 0 is plain cross-entropy on the labels (:func:`softmax_cross_entropy`).
    """
    _check_alpha(alpha)
    soft = kd_kl(student_logits, teacher_logits, temperature)
    return alpha * soft + (1.0 - alpha) * softmax_cross_entropy(student_logits, labels)


def kd_soft_gradient(student_logits: ArrayLike, teacher_logits: ArrayLike, temperature: float) -> Array:
    """d(:func:`kd_kl`)/d(z_s) = T (p_s(T) - p_t(T)) / n.   # [n, K]

    Per example, the unscaled KL (or soft CE) has gradient (p_s(T) - p_t(T)) / T: the chain rule through
    z / T brings a 1/T. Multiplying the loss by T^2 turns it into T (p_s(T) - p_t(T)). The 1/n is the
    mean over the batch.
    """
    _check_temperature(temperature)
    zs, zt = _as_float(student_logits), _as_float(teacher_logits)
    _check_logit_pair(zs, zt)
    return temperature * (softmax(zs / temperature) - softmax(zt / temperature)) / zs.shape[0]


def kd_gradient(
    student_logits: ArrayLike, teacher_logits: ArrayLike, labels: ArrayLike, temperature: float, alpha: float
) -> Array:
    """d(:func:`kd_loss`)/d(z_s) = [alpha T (p_s(T) - p_t(T)) + (1 - alpha) (p_s(1) - onehot(y))] / n.  # [n, K]"""
    _check_alpha(alpha)
    soft = kd_soft_gradient(student_logits, teacher_logits, temperature)
    return alpha * soft + (1.0 - alpha) * softmax_cross_entropy_gradient(student_logits, labels)


def logit_matching_gradient(student_logits: ArrayLike, teacher_logits: ArrayLike) -> Array:
    """Hinton's high-temperature limit of :func:`kd_soft_gradient`: (c(z_s) - c(z_t)) / (K n).   # [n, K]

    c(z) = z - mean_k z subtracts each row's mean. For T >> |z|, softmax(z / T)_k ~ (1 + c(z)_k / T) / K,
    so T (p_s - p_t) -> (c(z_s) - c(z_t)) / K, with an error of order max|z| / T: distilling at a high
    temperature is matching the logits, the gradient of mean_rows ||c(z_s) - c(z_t)||^2 / (2 K). For
    zero-mean logits it is (z_s - z_t) / (K n); without the T^2 factor, Hinton's 1 / (K T^2) (z_s - z_t).
    """
    zs, zt = _as_float(student_logits), _as_float(teacher_logits)
    _check_logit_pair(zs, zt)
    centered = (zs - zs.mean(axis=1, keepdims=True)) - (zt - zt.mean(axis=1, keepdims=True))
    return centered / (zs.shape[1] * zs.shape[0])


def torch_kd_loss(
    student_logits: Any,  # [n, K] tensor (gradients flow into it)
    teacher_logits: Any,  # [n, K] tensor or array; treated as constant targets
    labels: Any,  # [n] class indices
    temperature: float,
    alpha: float,
) -> Any:
    """:func:`kd_loss` from PyTorch's own ``kl_div`` and ``cross_entropy``; the loss :mod:`llmkit.distill` trains with.

    ``kl_div(log p_s, log p_t, log_target=True, reduction="batchmean")`` is mean_rows KL(p_t || p_s):
    note the order, the *target* distribution goes second.
    """
    import torch
    import torch.nn.functional as F

    _check_temperature(temperature)
    _check_alpha(alpha)
    zt = torch.as_tensor(teacher_logits, dtype=student_logits.dtype).detach()
    if zt.shape != student_logits.shape:
        raise LlmkitError(
            "expected student and teacher logits of the same shape [n, K]; "
            f"got student {list(student_logits.shape)} and teacher {list(zt.shape)}"
        )
    log_ps = F.log_softmax(student_logits / temperature, dim=1)
    log_pt = F.log_softmax(zt / temperature, dim=1)
    soft = F.kl_div(log_ps, log_pt, log_target=True, reduction="batchmean") * temperature**2
    hard = F.cross_entropy(student_logits, torch.as_tensor(labels, dtype=torch.long))
    return alpha * soft + (1.0 - alpha) * hard
