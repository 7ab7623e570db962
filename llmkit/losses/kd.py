"""The knowledge-distillation loss by hand: softened softmax, the KL and soft cross-entropy terms, their
gradient and its T² scaling, checked against torch (notebooks 01 and 05)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError
from llmkit.losses.arrays import Array, as_float
from llmkit.losses.multiclass import (
    log_softmax,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_gradient,
)

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
    return softmax(as_float(logits) / temperature)


def mean_entropy(probs: ArrayLike) -> float:
    """Mean over rows of H(p) = -sum_k p_k log p_k (nats), with 0 log 0 = 0.   probs [n, K]."""
    p = as_float(probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return float(-terms.sum(axis=-1).mean())


def kd_kl(student_logits: ArrayLike, teacher_logits: ArrayLike, temperature: float) -> float:
    """The soft-target loss T^2 * mean_rows KL(p_t(T) || p_s(T)) = T^2 * mean sum_k p_t (log p_t - log p_s).

    It is >= 0 and is 0 exactly when the student's softened distribution equals the teacher's (for
    example when the logits match, or differ by a constant per row).
    """
    _check_temperature(temperature)
    zs, zt = as_float(student_logits), as_float(teacher_logits)
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
    zs, zt = as_float(student_logits), as_float(teacher_logits)
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
    zs, zt = as_float(student_logits), as_float(teacher_logits)
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
    zs, zt = as_float(student_logits), as_float(teacher_logits)
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
    """:func:`kd_loss` from PyTorch's own ``kl_div`` and ``cross_entropy``; the loss :mod:`llmkit.distill.kdtrain` trains with.

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
