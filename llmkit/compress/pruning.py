"""Magnitude pruning of the encoder's Linear weights (notebook 06)."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

from llmkit.compress.precision import Variant, fp32_variant


def prune_encoder(model: PreTrainedModel, sparsity: float) -> tuple[PreTrainedModel, float]:
    """A copy of ``model`` with the smallest ``sparsity`` share of its encoder's Linear weights set to zero.

    ``prune.global_unstructured`` with ``L1Unstructured`` ranks all those weights together (a layer may
    lose more than another), then ``prune.remove`` makes the zeros permanent. Returns the copy and the
    achieved sparsity over those weights.
    """
    import torch
    from torch.nn.utils import prune

    if not isinstance(sparsity, int | float) or not 0.0 <= sparsity < 1.0:
        raise LlmkitError(f"sparsity: expected a fraction in [0, 1), got {sparsity!r}")
    pruned = copy.deepcopy(model).eval()
    linears = [m for m in pruned.base_model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise LlmkitError(f"prune_encoder: {type(model).__name__} has no Linear layers in its encoder")
    params = [(m, "weight") for m in linears]
    if sparsity > 0:
        prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=float(sparsity))
        for module, attr in params:
            prune.remove(module, attr)
    zeros = sum(int((m.weight == 0).sum()) for m in linears)
    return pruned, zeros / sum(m.weight.numel() for m in linears)


def pruned_variant(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, sparsity: float = 0.5, name: str | None = None
) -> Variant:
    """:func:`prune_encoder`; ``size_mb`` is its dense safetensors file (zeros cost as much as any weight)."""
    pruned, achieved = prune_encoder(model, sparsity)
    variant = fp32_variant(pruned, tokenizer, name or f"pruned {sparsity:.0%}")
    variant.details["sparsity"] = achieved
    return replace(variant, kind="pruned")
