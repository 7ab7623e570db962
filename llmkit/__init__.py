"""llmkit: the helper package behind the llmkit course notebooks.

Importing llmkit is cheap (no torch, no transformers): every submodule loads its heavy
dependencies inside the functions that need them. Use the submodules directly::

    from llmkit import config, claims, assets, losses
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "assets",
    "course",
    "machine",
    "claims",
    "cli",
    "config",
    "data",
    "errors",
    "exercises",
    "losses",
    "runner",
}


def __getattr__(name: str) -> Any:
    # `llmkit.claims` works after a bare `import llmkit`, without importing everything up front.
    if name in _SUBMODULES:
        return importlib.import_module(f"llmkit.{name}")
    raise AttributeError(f"module 'llmkit' has no attribute {name!r}")


__all__ = sorted(_SUBMODULES | {"__version__"})
