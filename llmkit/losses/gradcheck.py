"""Checking the hand-written gradients: finite differences, autograd, the torch losses, and the loss landscape
(notebook 01)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError
from llmkit.losses.arrays import Array, as_float

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
    a, b = as_float(a), as_float(b)
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
    center, d1, d2 = as_float(center), as_float(direction_1), as_float(direction_2)
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
    offsets = as_float(path) - as_float(center)  # [steps, p]
    _, singular, vt = np.linalg.svd(offsets, full_matrices=False)
    directions = vt[:2]  # [2, p], orthonormal rows
    explained = float((singular[:2] ** 2).sum() / max((singular**2).sum(), np.finfo(np.float64).tiny))
    return directions[0], directions[1], offsets @ directions.T, explained
