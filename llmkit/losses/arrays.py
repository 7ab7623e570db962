"""Input checks shared by the hand-written losses."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError

Array = np.ndarray


def as_float(a: ArrayLike) -> Array:
    return np.asarray(a, dtype=np.float64)


def check_rows(X: Array, y: Array) -> None:
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise LlmkitError(
            f"expected X of shape [n, d] and y of shape [n]; got X {list(X.shape)} and y {list(y.shape)}"
        )
