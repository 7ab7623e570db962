"""The digits data, MLPs and their training loop for Hinton et al.'s distillation experiment (notebook 05)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import torch
    from torch import nn


NUM_CLASSES = 10  # the digits 0-9

# ------------------------------------------------------------------------------------------ recipe


@dataclass(frozen=True)
class MlpConfig:
    """How :func:`train_mlp` trains one net (Adam, a fixed number of epochs, no schedule)."""

    epochs: int = 1000  # passes over the training set
    batch_size: int = 0  # examples per Adam step; 0 = the whole training set (one step per epoch)
    learning_rate: float = 1e-2
    temperature: float = 8.0  # T of the soft targets; used only when teacher logits are given
    alpha: float = 0.1  # weight of the soft term alpha T^2 KL; (1 - alpha) weighs the hard-label CE

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 0:
            raise LlmkitError(
                f"MlpConfig: expected epochs >= 1 and batch_size >= 0, got {self.epochs} and {self.batch_size}"
            )
        if not self.learning_rate > 0:
            raise LlmkitError(f"MlpConfig.learning_rate: expected > 0, got {self.learning_rate!r}")
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise LlmkitError(f"MlpConfig.temperature: expected a finite T > 0, got {self.temperature!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise LlmkitError(f"MlpConfig.alpha: expected a weight in [0, 1], got {self.alpha!r}")


# -------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DigitsSplit:
    """Pixels scaled to [0, 1] (float32, [n, 64]) and labels 0-9 (int64, [n]) of each part."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray  # [0, 64] unless load_digits_split(val_size > 0)
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def part(self, name: Literal["train", "val", "test"]) -> tuple[np.ndarray, np.ndarray]:
        """(X, y) of one part."""
        if name not in ("train", "val", "test"):
            raise LlmkitError(f"DigitsSplit.part: expected 'train', 'val' or 'test', got {name!r}")
        X, y = getattr(self, f"X_{name}"), getattr(self, f"y_{name}")
        if len(y) == 0:
            raise LlmkitError(
                f"DigitsSplit.part: the {name!r} part is empty (load_digits_split(val_size=...))"
            )
        return X, y


def load_digits_split(seed: int = 0, test_size: float = 0.5, val_size: float = 0.0) -> DigitsSplit:
    """scikit-learn's digits (:func:`llmkit.data.real.digits`), split stratified by class.

    ``test_size`` of the images are the test set; ``val_size`` of the *remaining* training images are
    carved out as a validation set, so choosing T or alpha never touches the test set.
    """
    from sklearn.model_selection import train_test_split

    from llmkit.data.real import digits

    if not 0.0 < test_size < 1.0 or not 0.0 <= val_size < 1.0:
        raise LlmkitError(
            f"load_digits_split: expected 0 < test_size < 1 and 0 <= val_size < 1, got {test_size} and {val_size}"
        )
    table = digits()
    X = table.drop(columns="target").to_numpy(np.float32) / 16.0  # pixels are counts 0-16
    y = table["target"].to_numpy(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=seed
    )
    X_val, y_val = X_train[:0], y_train[:0]
    if val_size > 0:
        X_train, X_val, y_train, y_val = train_test_split(
            X_train, y_train, test_size=val_size, stratify=y_train, random_state=seed
        )
    return DigitsSplit(X_train, y_train, X_val, y_val, X_test, y_test)


# ------------------------------------------------------------------------------------------ models


def build_mlp(
    sizes: Sequence[int],  # [inputs, hidden..., outputs], e.g. (64, 512, 512, 10)
    dropout: float = 0.0,  # dropout after each hidden ReLU; 0 = none
    seed: int = 0,  # the initial weights
) -> nn.Sequential:
    """Linear -> ReLU (-> Dropout) per hidden layer, then a linear layer to the logits."""
    import torch
    from torch import nn

    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise LlmkitError(f"build_mlp: expected sizes [inputs, hidden..., outputs] all >= 1, got {sizes}")
    if not 0.0 <= dropout < 1.0:
        raise LlmkitError(f"build_mlp: expected dropout in [0, 1), got {dropout!r}")
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for width_in, width_out in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        layers += [nn.Dropout(dropout)] if dropout > 0 else []
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def _tensors(X: ArrayLike, y: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise LlmkitError(
            f"expected X of shape [n, d] and y of shape [n]; got X {list(X.shape)} and y {list(y.shape)}"
        )
    return torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))


def train_mlp(
    model: nn.Module,
    X: ArrayLike,  # [n, d] training inputs
    y: ArrayLike,  # [n] labels 0..K-1
    cfg: MlpConfig,
    teacher_logits: ArrayLike | None = None,  # [n, K] the teacher's logits on X: distill (else labels only)
    *,
    seed: int = 0,  # the minibatch order and the dropout masks
) -> np.ndarray:
    """Train ``model`` in place with Adam; return the mean training loss of each epoch.   # [epochs]

    Without ``teacher_logits`` the loss is cross-entropy on the labels; with them it is
    :func:`llmkit.losses.kd.torch_kd_loss` at ``cfg.temperature`` and ``cfg.alpha``. The model is left in
    eval mode (dropout off).
    """
    import torch
    import torch.nn.functional as F

    from llmkit.losses.kd import torch_kd_loss

    X_t, y_t = _tensors(X, y)
    n = X_t.shape[0]
    soft = None
    if teacher_logits is not None:
        soft = torch.as_tensor(np.asarray(teacher_logits, dtype=np.float32))
        if soft.ndim != 2 or soft.shape[0] != n:
            raise LlmkitError(f"train_mlp: expected teacher_logits of shape [{n}, K], got {list(soft.shape)}")
    torch.manual_seed(seed)
    order_rng = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    batch = cfg.batch_size if 0 < cfg.batch_size < n else n
    history = np.empty(cfg.epochs)
    model.train()
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=order_rng) if batch < n else None
        total = 0.0
        for start in range(0, n, batch):
            rows = slice(None) if order is None else order[start : start + batch]
            logits = model(X_t[rows])  # [b, K]
            if soft is None:
                loss = F.cross_entropy(logits, y_t[rows])
            else:
                loss = torch_kd_loss(logits, soft[rows], y_t[rows], cfg.temperature, cfg.alpha)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * logits.shape[0]
        history[epoch] = total / n
    model.eval()
    return history


def predict_logits(model: nn.Module, X: ArrayLike) -> np.ndarray:
    """The model's logits in eval mode (no dropout, no gradients): the teacher's soft targets.   # [n, K]"""
    import torch

    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(X, dtype=np.float32))).numpy()


def test_errors(model: nn.Module, X: ArrayLike, y: ArrayLike) -> int:
    """How many of the images ``X`` the model misclassifies (the paper's unit: errors, not accuracy)."""
    X_t, y_t = _tensors(X, y)
    return int((predict_logits(model, X_t.numpy()).argmax(axis=1) != y_t.numpy()).sum())


test_errors.__test__ = False  # a library function, not a pytest test
