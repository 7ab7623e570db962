"""LoRA adapters with peft, and a randomly initialized classifier to compare against (notebook 04)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    from transformers import PreTrainedModel


# ------------------------------------------------------------------------------------------ models


def build_random_classifier(name: str = "minilm", num_labels: int = 2, seed: int = 0) -> PreTrainedModel:
    """MiniLM's architecture (the same config) with randomly initialized weights: **not** pretrained."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from llmkit.assets.models import resolve_model

    config = AutoConfig.from_pretrained(resolve_model(name), num_labels=num_labels)
    torch.manual_seed(seed)
    return AutoModelForSequenceClassification.from_config(config)


def add_lora(
    model: PreTrainedModel,
    r: int = 8,  # rank of each adapter B A
    alpha: int | None = None,  # scale alpha / r; None -> 2 r, the common choice
    dropout: float = 0.1,
    target_modules: Sequence[str] = ("query", "value"),  # the attention projections, as in Hu et al. 2021
) -> Any:
    """Wrap ``model`` with LoRA adapters (``peft``); only the adapters and the classification head train.

    Each target ``W`` [out, in] gets ``B`` [out, r] (zeros) and ``A`` [r, in] (random), so training starts
    exactly at the pretrained model and adds ``r (in + out)`` parameters per target.
    """
    from peft import LoraConfig, TaskType, get_peft_model

    if not isinstance(r, int) or r < 1:
        raise LlmkitError(f"r: expected a positive integer rank, got {r!r}")
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,  # keeps the new head trainable (modules_to_save)
        r=r,
        lora_alpha=alpha if alpha is not None else 2 * r,
        lora_dropout=dropout,
        target_modules=list(target_modules),
    )
    return get_peft_model(model, config)


def trainable_parameters(model: PreTrainedModel) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (a peft model's frozen base included in ``total``)."""
    from llmkit.core.params import parameter_count

    return parameter_count(model, trainable_only=True), parameter_count(model)


def lora_parameter_count(shapes: Sequence[tuple[int, int]], r: int) -> int:
    """Adapter parameters for target weights of ``shapes`` ``[(out, in), ...]``: ``r (in + out)`` each."""
    return sum(r * (n_in + n_out) for n_out, n_in in shapes)
