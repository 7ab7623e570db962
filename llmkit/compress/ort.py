"""The classifier exported to ONNX and run with ONNX Runtime, fp32 and int8 (notebook 06)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError
from llmkit.core.io import atomic_file

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

from llmkit.compress.precision import Batch, Variant, megabytes

# ------------------------------------------------------------------------------------------------ ONNX


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Silence warnings and the named loggers (advice that does not apply here) for one call."""
    saved = {name: logging.getLogger(name).level for name in loggers}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in loggers:
                logging.getLogger(name).setLevel(logging.ERROR)
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _logits_module(model: PreTrainedModel) -> Any:
    import torch

    class Logits(torch.nn.Module):
        """The classifier with tensors in and the logits tensor out: what ONNX export needs."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    return Logits(model).eval()


def save_onnx(model: PreTrainedModel, path: str | Path, opset: int = 18) -> Path:
    """Export ``model`` with ``torch.onnx.export`` (the TorchScript exporter) to one ``.onnx`` file, weights inside.

    Inputs ``input_ids`` and ``attention_mask`` (int64 ``[batch, sequence]``, both axes dynamic), output
    ``logits`` ``[batch, num_labels]``. Written to a temporary name, then renamed. The TorchScript exporter,
    not the dynamo one: on the 2-core reference CPU it exported a 2-layer MiniLM in 0.7 s against 6.0 s
    (dynamo, with or without its optimizer), the graph matched PyTorch to 3e-8 either way, and ONNX Runtime ran
    it no slower (2.5 against 3.4 ms for 3 texts); every bundle build and notebook 06 pay this export.
    """
    import torch

    if opset < 17:
        raise LlmkitError(f"opset: expected 17 or newer (LayerNormalization), got {opset!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = (torch.ones(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long))  # [batch, tokens]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    with _quiet("torch.onnx"), warnings.catch_warnings(), atomic_file(path) as tmp:
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice and tracer warnings
        torch.onnx.export(
            _logits_module(model), example, str(tmp), dynamo=False, dynamic_axes=axes, opset_version=opset,
            input_names=["input_ids", "attention_mask"], output_names=["logits"], verbose=False,
        )  # fmt: skip
    return path


def quantize_onnx(source: str | Path, path: str | Path) -> Path:
    """ONNX Runtime's dynamic int8 quantization (``QuantType.QInt8`` weights) of ``source`` into ``path``.

    MatMul weights become int8 with one scale per matrix, and so does the embedding ``Gather`` table.
    ONNX Runtime advises ``quant_pre_process`` first; its symbolic shape inference failed on the dynamo
    exporter's graph ("Incomplete symbolic shape inference"), quantizing without it works, so it is skipped.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    with atomic_file(path) as tmp, _quiet("root"):  # the pre-processing advice
        quantize_dynamic(Path(source), tmp, weight_type=QuantType.QInt8)
    return path


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with ``threads`` (default :func:`llmkit.core.hardware.thread_count`) that do
    not spin: a spinning pool keeps cores busy after each call and slows whatever runs next."""
    import onnxruntime as ort

    from llmkit.core.hardware import thread_count

    if not Path(path).is_file():
        raise LlmkitError(f"{path}: no ONNX file there; expected one written by save_onnx or quantize_onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or thread_count()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_onnx(
    path: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    kind: str = "onnx_fp32",  # "onnx_fp32" or "onnx_int8": what the file holds
    name: str | None = None,  # default: kind
) -> Variant:
    """A :class:`Variant` running the ONNX file at ``path``; ``size_mb`` is that file."""
    if kind not in ("onnx_fp32", "onnx_int8"):
        raise LlmkitError(f"kind: expected onnx_fp32 or onnx_int8, got {kind!r}")
    path = Path(path)
    session = onnx_session(path)

    def run(batch: Batch) -> np.ndarray:
        feed = {k: np.asarray(batch[k], dtype=np.int64) for k in ("input_ids", "attention_mask")}
        return session.run(["logits"], feed)[0]

    return Variant(
        name or kind, kind, run, megabytes(path.stat().st_size), tokenizer, details={"path": str(path)}
    )
