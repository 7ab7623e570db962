"""Dynamic int8 quantization with torch.ao, its tensors, and its safetensors file (notebook 06)."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError
from llmkit.core.io import atomic_file

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

from llmkit.compress.precision import Variant, megabytes, torch_run

_INT8_METADATA = {"format": "llmkit-int8-dynamic"}  # in the header of save_int8's safetensors file


def quantize_int8(model: PreTrainedModel, embeddings: bool = False) -> Any:
    """``torch.ao.quantization.quantize_dynamic`` on a copy: int8 Linear weights, one scale per matrix.

    ``embeddings=True`` also stores the word-embedding table as uint8 with a scale and offset per row
    (``float_qparams_weight_only_qconfig``): in MiniLM it holds half the parameters (30,522 x 384), which
    Linear-only quantization leaves in fp32. The small position and token-type tables stay fp32 (BERT
    looks token types up with non-contiguous indices, which the quantized lookup refuses).
    """
    import torch
    from torch.ao import quantization as tq

    spec: dict[Any, Any] = {torch.nn.Linear: tq.default_dynamic_qconfig}
    if embeddings:
        table = model.get_input_embeddings()
        spec[next(n for n, m in model.named_modules() if m is table)] = tq.float_qparams_weight_only_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return tq.quantize_dynamic(copy.deepcopy(model).eval(), spec, dtype=torch.qint8)


def _owned(key: str, prefixes: Mapping[str, Any]) -> bool:
    return any(key.startswith(f"{p}.") for p in prefixes)


def _quantized_modules(model: Any) -> dict[str, Any]:
    import torch.ao.nn.quantized as nnq
    import torch.ao.nn.quantized.dynamic as nnqd

    return {n: m for n, m in model.named_modules() if isinstance(m, nnqd.Linear | nnq.Embedding)}


def int8_tensors(qmodel: Any) -> dict[str, Any]:
    """A dynamically quantized model as plain tensors for safetensors: each quantized weight as its
    integer values (``.int8``/``.uint8``), ``.scale``, ``.zero_point`` (and ``.axis`` when per row);
    every other parameter and buffer as it is."""
    import torch

    tensors: dict[str, Any] = {}
    quantized = _quantized_modules(qmodel)
    for name, module in quantized.items():
        weight = module.weight()  # a quantized tensor
        tensors[f"{name}.weight.{str(weight.int_repr().dtype).removeprefix('torch.')}"] = weight.int_repr()
        if weight.qscheme() == torch.per_tensor_affine:
            tensors[f"{name}.weight.scale"] = torch.tensor([weight.q_scale()], dtype=torch.float64)
            tensors[f"{name}.weight.zero_point"] = torch.tensor([weight.q_zero_point()])
        else:  # per row (the embedding tables)
            tensors[f"{name}.weight.scale"] = weight.q_per_channel_scales()
            tensors[f"{name}.weight.zero_point"] = weight.q_per_channel_zero_points()
            tensors[f"{name}.weight.axis"] = torch.tensor([weight.q_per_channel_axis()])
        bias = module.bias() if callable(getattr(module, "bias", None)) else None
        if bias is not None:
            tensors[f"{name}.bias"] = bias
    for key, value in qmodel.state_dict().items():
        if not _owned(key, quantized) and isinstance(value, torch.Tensor) and not value.is_quantized:
            tensors[key] = value  # LayerNorms, position ids, anything left in fp32
    return {k: v.detach().contiguous() for k, v in tensors.items()}


def int8_variant(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    embeddings: bool = False,  # quantize the embedding tables too (see quantize_int8)
    name: str = "int8",
) -> Variant:
    """:func:`quantize_int8`; ``size_mb`` is the safetensors file :func:`save_int8` writes (int8 values and
    their scales as plain tensors: safetensors cannot hold torch's packed quantized parameters, and the
    course never writes pickles)."""
    from safetensors.torch import save

    qmodel = quantize_int8(model, embeddings)
    size = megabytes(len(save(int8_tensors(qmodel), metadata=_INT8_METADATA)))
    return Variant(name, "int8", torch_run(qmodel), size, tokenizer, qmodel, {"embeddings": embeddings})


def save_int8(qmodel: Any, path: str | Path) -> Path:
    """:func:`int8_tensors` of a :func:`quantize_int8` model into one safetensors file (atomic)."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_file(path) as tmp:
        save_file(int8_tensors(qmodel), str(tmp), metadata=_INT8_METADATA)
    return path


def load_int8(path: str | Path, template: PreTrainedModel) -> Any:
    """Rebuild a quantized model from :func:`save_int8`'s file; ``template`` is any fp32 model of the same
    architecture (a copy is filled in: its fp32 parts from the file, then quantized, then its int8
    weights and scales replaced by the file's)."""
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    owners = {k.rsplit(".weight.", 1)[0]: None for k in tensors if ".weight." in k}  # quantized modules
    fp32 = copy.deepcopy(template)
    missing, _ = fp32.load_state_dict(
        {k: v for k, v in tensors.items() if not _owned(k, owners)}, strict=False
    )
    if missing := [k for k in missing if not _owned(k, owners)]:
        raise LlmkitError(f"{path}: expected an int8 file of this architecture; it lacks {missing[:3]}")
    qmodel = quantize_int8(fp32, embeddings=any(k.endswith(".weight.uint8") for k in tensors))
    for name, module in _quantized_modules(qmodel).items():
        values = tensors[next(k for k in (f"{name}.weight.int8", f"{name}.weight.uint8") if k in tensors)]
        scale, zero = tensors[f"{name}.weight.scale"], tensors[f"{name}.weight.zero_point"]
        if f"{name}.weight.axis" in tensors:  # per row: the embedding table
            axis = int(tensors[f"{name}.weight.axis"])
            module._packed_params.set_weight(
                torch._make_per_channel_quantized_tensor(values, scale, zero, axis)
            )
        else:
            weight = torch._make_per_tensor_quantized_tensor(values, float(scale), int(zero))
            module.set_weight_bias(weight, tensors.get(f"{name}.bias"))
    return qmodel.eval()
