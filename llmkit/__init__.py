"""llmkit: the helper package behind the llmkit course notebooks.

One subpackage per lifecycle stage, named after it and its notebook (``pretrain`` is notebook 02, ...), on
top of ``core``; the README's layout section shows the tree. Importing llmkit is cheap (no torch, no
transformers): modules load their heavy dependencies inside the functions that need them. Import the
modules directly::

    from llmkit.core import config
    from llmkit.finetune import loop, tasks
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "core",  # shared machinery: profiles, io, hardware, machine, evaluate, errors
    "course",  # claims, runner, cli, outline, exercises
    "assets",  # 00: the packaged weights and corpora
    "data",  # tables, real data sets, seeded generators
    "losses",  # 01
    "pretrain",  # 02
    "finetune",  # 03
    "transfer",  # 04
    "distill",  # 05
    "compress",  # 06
    "federated",  # 07
    "deploy",  # 08
    "study",  # the case studies
}


def __getattr__(name: str) -> Any:
    # `llmkit.course.claims` works after a bare `import llmkit`, without importing everything up front.
    if name in _SUBMODULES:
        return importlib.import_module(f"llmkit.{name}")
    raise AttributeError(f"module 'llmkit' has no attribute {name!r}")


__all__ = sorted(_SUBMODULES | {"__version__"})
