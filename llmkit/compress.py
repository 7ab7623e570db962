"""Compression and acceleration of a fine-tuned classifier (notebook 06; notebooks 05 and 08 and the case
study reuse the teacher and the exported files).

The recipe, top to bottom:

1. **One teacher for everyone** (:func:`finetuned_minilm`): MiniLM fine-tuned with notebook 03's recipe,
   cached as safetensors under ``$LLMKIT_CACHE/finetuned/<key>``, so a notebook never depends on another
   having run.
2. **Variants** (:func:`build_variants`), each a :class:`Variant` with the same ``logits`` /
   ``predict_proba`` and its ``size_mb`` on disk (MB = 10^6 bytes):

   * ``fp32`` -- the PyTorch model as it is;
   * ``int8`` -- ``torch.ao.quantization.quantize_dynamic``: Linear weights stored as int8 with one scale
     per matrix, activations quantized on the fly (optionally the embedding tables too, per row);
   * ``onnx_fp32`` / ``onnx_int8`` -- ``torch.onnx.export`` (dynamo), run by ONNX Runtime, and ONNX
     Runtime's own dynamic int8 quantization (which also quantizes the embedding ``Gather``);
   * ``pruned`` -- global L1 magnitude pruning of the encoder's Linear weights (zeros stored densely:
     the file is as large as fp32, and dense matmuls are no faster);
   * ``bf16`` -- fp32 weights, matmuls autocast to bfloat16 (only where the CPU has native bf16 math).
3. **Timing** (:func:`time_variants`): median latency per batch size, variants in alternating blocks with
   warm-up, as :func:`llmkit.throughput.compare` does for training; ONNX Runtime's threads do not spin,
   so they do not steal a core from the PyTorch variants timed next.
4. **Agreement and the Pareto front** (:func:`logit_agreement`, :func:`pareto_front`, :func:`plot_pareto`).
5. **Files for deployment** (:func:`save_classifier`, :func:`save_onnx`, :func:`load_onnx`,
   :func:`save_int8`, :func:`load_int8`): safetensors or ONNX only, never pickle, each written to a
   temporary name and renamed.

Measured here (MiniLM, 1 thread, batch 32 x 64 tokens, 2-core shared CPU with AVX512-VNNI and -BF16):
fp32 90.9 MB / 676 ms; torch int8 58.6 MB (Linear only; 23.7 MB with the word embeddings) / 112 ms,
4.2x faster; ONNX fp32 91.7 MB / 400 ms; ONNX int8 23.6 MB / 221 ms; bf16 autocast 216 ms; pruned 50%
as fp32. Teacher test accuracy 0.878; int8 variants 0.872-0.878, pruned 50% 0.873.

torch, transformers and onnxruntime load inside the functions, so importing this is cheap.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from llmkit.batching import EncodedTexts, collator
from llmkit.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from llmkit.finetune import TextTask

VARIANTS: tuple[str, ...] = ("fp32", "int8", "onnx_fp32", "onnx_int8", "pruned", "bf16")
Batch = Mapping[str, np.ndarray]  # input_ids, attention_mask: int64 [batch, tokens]
_INT8_METADATA = {"format": "llmkit-int8-dynamic"}  # in the header of save_int8's safetensors file

# ----------------------------------------------------------------------------------------- the teacher


def finetuned_minilm(
    task_name: str
    | TextTask = "diabetes_notes",  # one of llmkit.finetune.TASKS, or any TextTask (an analyst's)
    n_train: int = 1500,  # labeled training texts (a stratified subsample; the test split is untouched)
    epochs: int = 2,
    seed: int = 0,  # subsample, head initialization, data order, dropout
    bf16: bool | None = None,  # autocast training to bf16; None -> where throughput.bf16_supported()
    learning_rate: float = 1e-4,  # notebook 03's rate for the notes
    max_length: int = 128,  # tokens kept per training text
    name: str = "minilm",  # the encoder to fine-tune (a local folder works too, as in the tests)
    cache: bool = True,  # reuse $LLMKIT_CACHE/finetuned/<key>; False retrains and overwrites it
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict[str, Any]]:
    """MiniLM fine-tuned on ``task_name`` with notebook 03's loop, built once and cached as safetensors.

    The cache key hashes every setting, so notebooks 05, 06, 08 and the case study share one teacher
    when they ask for the same one; for a :class:`~llmkit.finetune.TextTask` it also hashes the training
    rows' texts and labels. ``info`` holds the settings, ``epoch_loss``, training ``seconds``, the
    ``folder`` and ``cached`` (True when loaded). The model is returned in eval mode.
    """
    from llmkit import finetune
    from llmkit.assets import load_classifier, load_tokenizer
    from llmkit.config import cache_dir, cache_key
    from llmkit.throughput import bf16_supported

    bf16 = bf16_supported() if bf16 is None else bool(bf16)
    cfg = finetune.FinetuneConfig(epochs=epochs, learning_rate=learning_rate, seed=seed, bf16=bf16)
    given = task_name if isinstance(task_name, finetune.TextTask) else None
    settings = {
        "name": name,
        "task": given.name if given else task_name,
        "n_train": n_train,
        "max_length": max_length,
        **asdict(cfg),
    }
    rows = []  # an analyst's table: its training rows are part of the key
    if given is not None:
        rows = [f"{y}\t{t}" for t, y in zip(given.texts("train"), given.labels("train"), strict=True)]
    key = cache_key(settings, rows)
    folder = cache_dir("finetuned") / key
    info_path = folder / "finetune_info.json"
    if cache and info_path.exists():
        info = {**json.loads(info_path.read_text()), "cached": True, "folder": str(folder)}
        model = load_classifier(str(folder), num_labels=len(info["label_names"])).eval()
        return model, load_tokenizer(str(folder)), info

    task = given or finetune.load_task(str(task_name))
    if n_train < len(task.split("train")):
        task = finetune.subsample(task, n_train, seed=seed)
    tokenizer = load_tokenizer(name)
    train = finetune.encode_task(tokenizer, task, "train", max_length)
    model = finetune.build_classifier(name, num_labels=task.num_labels, seed=seed)
    start = time.perf_counter()
    result = finetune.train_classifier(model, train, cfg=cfg, progress=False)
    info = {
        **settings,
        "key": key,
        "label_names": list(task.label_names),
        "epoch_loss": result.epoch_loss,
        "seconds": round(time.perf_counter() - start, 1),
    }
    save_classifier(model, tokenizer, folder, {info_path.name: json.dumps(info, indent=1) + "\n"})
    return model.eval(), tokenizer, {**info, "cached": False, "folder": str(folder)}


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
        order = np.argsort([-n for n in data.lengths], kind="stable")
        out: list[np.ndarray] = [np.empty(0)] * len(data)
        for start in range(0, len(data), batch_size):
            rows = order[start : start + batch_size]
            batch = pad([{k: v for k, v in data[int(i)].items() if k != "labels"} for i in rows])
            logits = self.logits({k: batch[k].numpy() for k in ("input_ids", "attention_mask")})
            for i, row in zip(rows, logits, strict=True):
                out[i] = row
        logits = np.stack(out).astype(np.float64)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)


def _mb(n_bytes: int) -> float:
    return n_bytes / 1e6


def _torch_run(model: Any, bf16: bool = False) -> Callable[[Batch], np.ndarray]:
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
    return Variant(name, "fp32", _torch_run(model.eval()), _mb(len(save(state))), tokenizer, model)


def bf16_variant(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str = "bf16") -> Variant:
    """fp32 weights, forward pass under ``torch.autocast(bfloat16)``: the file stays fp32-sized."""
    from llmkit.throughput import bf16_supported

    if not bf16_supported("cpu"):
        raise LlmkitError("bf16: this CPU has no native bfloat16 math; expected one where bf16_supported()")
    variant = fp32_variant(model, tokenizer, name)
    return replace(variant, kind="bf16", run=_torch_run(model.eval(), bf16=True))


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
    size = _mb(len(save(int8_tensors(qmodel), metadata=_INT8_METADATA)))
    return Variant(name, "int8", _torch_run(qmodel), size, tokenizer, qmodel, {"embeddings": embeddings})


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


def available_variants() -> tuple[str, ...]:
    """:data:`VARIANTS` this machine can run (``bf16`` only where the CPU has native bf16 math)."""
    from llmkit.throughput import bf16_supported

    return tuple(v for v in VARIANTS if v != "bf16" or bf16_supported("cpu"))


def build_variants(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    folder: str | Path,  # where the ONNX files are written (model.onnx, model.int8.onnx)
    names: Sequence[str] | None = None,  # a subset of VARIANTS; None -> available_variants()
    sparsity: float = 0.5,  # for "pruned"
    int8_embeddings: bool = False,  # for "int8": quantize the embedding tables too
) -> dict[str, Variant]:
    """Every requested variant of ``model``, keyed by kind, ready for :func:`time_variants`."""
    names = list(available_variants() if names is None else names)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise LlmkitError(f"variant names: expected some of {', '.join(VARIANTS)}, got {unknown}")
    folder = Path(folder)
    out: dict[str, Variant] = {}
    for kind in names:
        if kind == "fp32":
            out[kind] = fp32_variant(model, tokenizer)
        elif kind == "int8":
            out[kind] = int8_variant(model, tokenizer, int8_embeddings)
        elif kind == "onnx_fp32":
            out[kind] = load_onnx(save_onnx(model, folder / "model.onnx"), tokenizer)
        elif kind == "onnx_int8":
            source = folder / "model.onnx"
            if not source.exists():
                save_onnx(model, source)
            out[kind] = load_onnx(quantize_onnx(source, folder / "model.int8.onnx"), tokenizer, kind)
        elif kind == "pruned":
            out[kind] = pruned_variant(model, tokenizer, sparsity)
        else:
            out[kind] = bf16_variant(model, tokenizer)
    return out


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
    """Export ``model`` with ``torch.onnx.export`` (dynamo) to one ``.onnx`` file, weights inside.

    Inputs ``input_ids`` and ``attention_mask`` (int64 ``[batch, sequence]``, both axes dynamic), output
    ``logits`` ``[batch, num_labels]``. Written to a temporary name, then renamed.
    """
    import torch

    if opset < 17:
        raise LlmkitError(f"opset: expected 17 or newer (LayerNormalization), got {opset!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = (torch.ones(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long))  # [batch, tokens]
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    shapes = {"input_ids": {0: batch, 1: sequence}, "attention_mask": {0: batch, 1: sequence}}
    with _quiet("torch.onnx"):  # e.g. "torchvision is not installed": no vision ops here
        program = torch.onnx.export(
            _logits_module(model), example, dynamo=True, dynamic_shapes=shapes, opset_version=opset,
            input_names=["input_ids", "attention_mask"], output_names=["logits"], verbose=False,
        )  # fmt: skip
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    program.save(str(tmp), external_data=False)
    os.replace(tmp, path)
    return path


def quantize_onnx(source: str | Path, path: str | Path) -> Path:
    """ONNX Runtime's dynamic int8 quantization (``QuantType.QInt8`` weights) of ``source`` into ``path``.

    MatMul weights become int8 with one scale per matrix, and so does the embedding ``Gather`` table.
    ONNX Runtime advises ``quant_pre_process`` first; its symbolic shape inference fails on the dynamo
    export here ("Incomplete symbolic shape inference"), and quantizing without it works, so it is skipped.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.onnx")
    with _quiet("root"):  # the pre-processing advice
        quantize_dynamic(Path(source), tmp, weight_type=QuantType.QInt8)
    os.replace(tmp, path)
    return path


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with ``threads`` (default :func:`llmkit.config.thread_count`) that do
    not spin: a spinning pool keeps cores busy after each call and slows whatever runs next."""
    import onnxruntime as ort

    from llmkit.config import thread_count

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

    return Variant(name or kind, kind, run, _mb(path.stat().st_size), tokenizer, details={"path": str(path)})


# ----------------------------------------------------------------------------------- safetensors files


def save_classifier(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    folder: str | Path,  # replaced as a whole if it exists
    files: Mapping[str, str] | None = None,  # extra text files to put beside the weights, name -> text
) -> Path:
    """A classifier for deployment, written atomically (:func:`llmkit.assets.save_pretrained_folder`)."""
    from llmkit.assets import save_pretrained_folder

    return save_pretrained_folder(model, tokenizer, folder, dict(files or {}))


def save_int8(qmodel: Any, path: str | Path) -> Path:
    """:func:`int8_tensors` of a :func:`quantize_int8` model into one safetensors file (atomic)."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(int8_tensors(qmodel), str(tmp), metadata=_INT8_METADATA)
    os.replace(tmp, path)
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


# ---------------------------------------------------------------------------------------------- timing


def timing_batch(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],  # repeated if fewer than batch_size
    batch_size: int,
    length: int = 64,  # positions per row: texts truncated, shorter ones padded
) -> dict[str, np.ndarray]:
    """A fixed ``[batch_size, length]`` batch of real texts for latency measurements."""
    if batch_size < 1 or length < 2 or not texts:
        raise LlmkitError(
            f"timing_batch: expected texts, batch_size >= 1, length >= 2; got {batch_size}, {length}"
        )
    rows = [texts[i % len(texts)] for i in range(batch_size)]
    enc = tokenizer(rows, truncation=True, max_length=length, padding="max_length", return_tensors="np")
    return {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}


def latency_ms(variant: Variant, batch: Batch, repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of one ``variant.logits(batch)`` in milliseconds, after ``warmup`` calls."""
    from llmkit.machine import median_ms

    return median_ms(lambda: variant.logits(batch), repeats, warmup)


@dataclass
class Latencies:
    """Per variant and batch size, the median latency of each timed round."""

    ms: dict[str, dict[int, list[float]]]  # variant name -> batch size -> one median per round
    length: int  # positions per row
    threads: int  # torch threads while timing (ONNX Runtime sessions use config.thread_count())

    def median(self, name: str, batch_size: int) -> float:
        return statistics.median(self.ms[name][batch_size])

    def speedup(self, fast: str, slow: str, batch_size: int) -> float:
        """Median over rounds of slow/fast latency, each round's pair timed back to back."""
        pairs = zip(self.ms[slow][batch_size], self.ms[fast][batch_size], strict=True)
        return statistics.median(s / f for s, f in pairs)

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [
            {
                "variant": n,
                "batch_size": b,
                "latency_ms": statistics.median(t),
                "ms_per_example": statistics.median(t) / b,
            }
            for n, by_batch in self.ms.items()
            for b, t in by_batch.items()
        ]
        return pd.DataFrame(rows)


def time_variants(
    variants: Mapping[str, Variant] | Sequence[Variant],
    batches: Mapping[int, Batch] | None = None,  # batch size -> a batch from timing_batch, for every variant
    rounds: int = 3,
    repeats: int = 5,  # calls per variant, batch and round; the round's value is their median
    warmup: int = 2,  # untimed calls per variant and batch before the first round
    progress: bool = True,
    *,
    texts: Sequence[str] | None = None,  # instead of batches: each variant's tokenizer encodes these
    sizes: Sequence[int] = (1, 32),  # the batch sizes built from texts
    length: int = 64,  # positions per row of the batches built from texts
) -> Latencies:
    """Median latency of every variant at every batch size, timed in ``rounds`` alternating blocks.

    On a shared machine speed drifts; flipping the order every round spreads the drift over all
    variants, and :meth:`Latencies.speedup` compares pairs timed within the same round. Variants with
    different tokenizers (a distilled student has its own vocabulary) take ``texts``: each gets
    :func:`timing_batch` of the same texts at the same ``length``, through its own tokenizer.
    """
    import torch
    from tqdm.auto import tqdm

    from llmkit.machine import median_ms

    items = list(variants.values()) if isinstance(variants, Mapping) else list(variants)
    if (
        rounds < 1
        or repeats < 1
        or not items
        or (batches is None) == (texts is None)
        or not (batches or sizes)
    ):
        raise LlmkitError(
            "time_variants: expected variants, either batches or texts, rounds >= 1, repeats >= 1; "
            f"got {len(items)} variants, batches={batches is not None}, texts={texts is not None}, {rounds}, {repeats}"
        )
    built: dict[int, dict[int, Batch]] = {}  # id(tokenizer) -> batch size -> batch
    if texts is not None:
        for v in items:
            if id(v.tokenizer) not in built:
                built[id(v.tokenizer)] = {b: timing_batch(v.tokenizer, texts, b, length) for b in sizes}
    own = {v.name: batches if batches is not None else built[id(v.tokenizer)] for v in items}
    ms: dict[str, dict[int, list[float]]] = {v.name: {b: [] for b in own[v.name]} for v in items}
    for v in items:
        for batch in own[v.name].values():
            for _ in range(warmup):
                v.logits(batch)
    for r in tqdm(range(rounds), desc="timing", disable=not progress, leave=False):
        for v in items if r % 2 == 0 else list(reversed(items)):
            for size, batch in own[v.name].items():
                ms[v.name][size].append(
                    median_ms(lambda v=v, batch=batch: v.logits(batch), repeats, warmup=0)
                )
    length = int(next(iter(own[items[0].name].values()))["input_ids"].shape[1])
    return Latencies(ms, length, torch.get_num_threads())


def logit_agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """How far ``other``'s logits (or probabilities) ``[n, k]`` are from ``reference``'s.

    ``max_abs_diff`` and ``mean_abs_diff`` over all entries; ``argmax_agreement``: share of rows
    whose predicted class is the same.
    """
    a, b = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] == 0:
        raise LlmkitError(
            f"logit_agreement: expected two arrays of one shape [n, k], got {a.shape} and {b.shape}"
        )
    diff = np.abs(a - b)
    agree = float((a.argmax(axis=1) == b.argmax(axis=1)).mean())
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()), "argmax_agreement": agree}


# ------------------------------------------------------------------------------------------------ Pareto


class Point(NamedTuple):
    """One variant on the size / latency / accuracy map (a plain tuple in this order works too)."""

    name: str
    size_mb: float
    latency_ms: float
    accuracy: float


_COSTS = ("size_mb", "latency_ms")
_AXIS_LABELS = {"size_mb": "size on disk (MB)", "latency_ms": "median latency (ms)"}


def _points(rows: Sequence[Sequence[Any]]) -> list[Point]:
    points = [Point(str(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in rows]
    if not points:
        raise LlmkitError("rows: expected at least one (name, size_mb, latency_ms, accuracy), got none")
    for p in points:
        if not (p.size_mb > 0 and p.latency_ms > 0 and 0.0 <= p.accuracy <= 1.0):
            raise LlmkitError(
                f"row {p.name!r}: expected size_mb > 0, latency_ms > 0, accuracy in [0, 1], got {tuple(p)[1:]}"
            )
    if len({p.name for p in points}) != len(points):
        raise LlmkitError(f"rows: expected unique names, got {[p.name for p in points]}")
    return points


def pareto_front(rows: Sequence[Sequence[Any]], costs: Sequence[str] = _COSTS) -> list[str]:
    """Names of the rows no other row dominates (in the order given).

    Row ``a`` dominates ``b`` when it is no worse on every cost in ``costs`` (lower is better) and on
    accuracy (higher is better), and strictly better on at least one.
    """
    points = _points(rows)
    bad = [c for c in costs if c not in _COSTS]
    if bad or not costs:
        raise LlmkitError(f"costs: expected some of {', '.join(_COSTS)}, got {list(costs)}")

    def dominates(a: Point, b: Point) -> bool:
        no_worse = all(getattr(a, c) <= getattr(b, c) for c in costs) and a.accuracy >= b.accuracy
        better = any(getattr(a, c) < getattr(b, c) for c in costs) or a.accuracy > b.accuracy
        return no_worse and better

    return [p.name for p in points if not any(dominates(q, p) for q in points)]


def plot_pareto(
    rows: Sequence[Sequence[Any]],
    x: str = "size_mb",  # "size_mb" or "latency_ms"
    xlabel: str | None = None,  # e.g. "median latency at batch 32 (ms)"; default names the unit
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Accuracy against size or latency, every variant labeled, the 2-D Pareto front as a step line."""
    from llmkit.evaluate import _axes

    if x not in _COSTS:
        raise LlmkitError(f"x: expected one of {', '.join(_COSTS)}, got {x!r}")
    points = _points(rows)
    front = set(pareto_front(points, (x,)))
    fig, ax = _axes(ax, (6.4, 4.4))
    spots: dict[tuple[float, float], list[Point]] = {}  # variants at the same spot share one label
    for p in points:
        spots.setdefault((getattr(p, x), p.accuracy), []).append(p)
    for (px, py), here in spots.items():
        on = any(p.name in front for p in here)
        ax.scatter(px, py, color="C0" if on else "C7", zorder=3, s=40 if on else 25)
        label = " = ".join(p.name for p in here)
        ax.annotate(label, (px, py), textcoords="offset points", xytext=(5, 4), fontsize=8)
    line = sorted((getattr(p, x), p.accuracy) for p in points if p.name in front)
    ax.step([a for a, _ in line], [b for _, b in line], where="post", color="C0", label="Pareto front")
    ax.set(xlabel=xlabel or _AXIS_LABELS[x], ylabel="test accuracy (fraction correct)")
    ax.set_title(title or f"Accuracy vs {_AXIS_LABELS[x].split(' (')[0]}")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig
