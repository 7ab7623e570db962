"""A Variant -- one way to run the fine-tuned classifier -- and its fp32 and bf16 forms (notebook 06)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError
from llmkit.finetune.batching import EncodedTexts, collator

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


VARIANTS: tuple[str, ...] = ("fp32", "int8", "onnx_fp32", "onnx_int8", "pruned", "bf16")
Batch = Mapping[str, np.ndarray]  # input_ids, attention_mask: int64 [batch, tokens]


# -------------------------------------------------------------------------------------------- variants


@dataclass
class Variant:
    """One way of running a classifier: ``logits(batch)`` from padded numpy inputs, and its size on disk."""

    name: str  # what the tables and plots call it
    kind: str  # one of VARIANTS
    run: Callable[[Batch], np.ndarray]  # padded batch -> logits [batch, num_labels] (float32)
    size_mb: float  # bytes of its file / 1e6 (see the builder for which file)
    tokenizer: Any  # pads batches and encodes raw texts
    model: Any = None  # the torch module behind a PyTorch variant (None for ONNX)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. achieved sparsity, the file's path

    def logits(self, batch: Batch) -> np.ndarray:
        return np.asarray(self.run(batch), dtype=np.float32)

    def predict_proba(
        self,
        data: EncodedTexts | Sequence[str],  # encoded texts, or raw texts (tokenized here)
        batch_size: int = 64,
        max_length: int = 128,  # truncation, for raw texts only
    ) -> np.ndarray:
        """Class probabilities ``[n, num_labels]`` in the order of ``data``; longest texts run first."""
        if not isinstance(data, EncodedTexts):
            data = EncodedTexts(
                self.tokenizer(list(data), truncation=True, max_length=max_length)["input_ids"],
                [0] * len(data),
                self.tokenizer,
            )
        pad = collator(self.tokenizer)
        from llmkit.core.batches import longest_first

        out: list[np.ndarray] = [np.empty(0)] * len(data)
        for rows in longest_first(data.lengths, batch_size):
            batch = pad([{k: v for k, v in data[int(i)].items() if k != "labels"} for i in rows])
            logits = self.logits({k: batch[k].numpy() for k in ("input_ids", "attention_mask")})
            for i, row in zip(rows, logits, strict=True):
                out[i] = row
        logits = np.stack(out).astype(np.float64)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)


def megabytes(n_bytes: int) -> float:
    return n_bytes / 1e6


def torch_run(model: Any, bf16: bool = False) -> Callable[[Batch], np.ndarray]:
    import torch

    def run(batch: Batch) -> np.ndarray:
        inputs = {k: torch.from_numpy(np.asarray(batch[k])) for k in ("input_ids", "attention_mask")}
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(**inputs).logits.float().numpy()

    return run


def fp32_variant(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str = "fp32") -> Variant:
    """The model as it is; ``size_mb`` is its safetensors file (the exact bytes ``save_pretrained`` writes)."""
    from safetensors.torch import save

    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    return Variant(name, "fp32", torch_run(model.eval()), megabytes(len(save(state))), tokenizer, model)


def bf16_variant(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str = "bf16") -> Variant:
    """fp32 weights, forward pass under ``torch.autocast(bfloat16)``: the file stays fp32-sized."""
    from llmkit.core.hardware import bf16_supported

    if not bf16_supported("cpu"):
        raise LlmkitError("bf16: this CPU has no native bfloat16 math; expected one where bf16_supported()")
    variant = fp32_variant(model, tokenizer, name)
    return replace(variant, kind="bf16", run=torch_run(model.eval(), bf16=True))
