"""Batches for inference, longest texts first: the one place that orders rows by length and gives them back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def longest_first(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Row indices in batches of ``batch_size``, longest rows first (ties keep their order).

    Rows of about the same length share a batch, so a batch pads little; write each batch's outputs to
    ``out[rows]`` and ``out`` is back in the input order.
    """
    order = np.argsort([-int(n) for n in lengths], kind="stable")
    for start in range(0, len(order), max(1, int(batch_size))):
        yield order[start : start + batch_size]
