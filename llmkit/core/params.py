"""The one parameter counter: how many numbers a model holds (all, or only those that train)."""

from __future__ import annotations

from typing import Any


def parameter_count(model: Any, *, trainable_only: bool = False) -> int:
    """Distinct parameters of a torch module (a tied input/output embedding counted once, as
    ``model.parameters()`` yields it once); with ``trainable_only``, only those with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
