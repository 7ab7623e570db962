"""A deployable bundle: one folder a service loads, built from a fine-tuned classifier (notebook 08; the
healthcare case study builds its own with the same function).

:func:`build_bundle` writes, atomically (a staging folder swapped in at the end,
:func:`llmkit.core.io.atomic_folder`)::

    bundle/
      model.safetensors, config.json   the PyTorch fp32 model (save_pretrained; never a pickle)
      model.int8.onnx                  its ONNX Runtime int8 export (compress.save_onnx + quantize_onnx)
      tokenizer.json, vocab.txt, ...   the tokenizer
      reference.json                   what the drift check compares inputs with: the training texts'
                                       word vocabulary and word counts
      model_card.json                  training data, metrics, intended use, limitations, version

:func:`load_bundle` reads it back and checks it; :func:`load_predictor` turns it into a
:class:`Predictor` (texts in, class probabilities out; table rows in, ``predict_rows``, for a bundle whose card's
``input`` says its model was trained on records as text, :mod:`llmkit.deploy.rows`) for one backend:

* ``torch_fp32`` -- the safetensors model in PyTorch;
* ``onnx_int8`` -- the int8 graph in ONNX Runtime, tokenized with ``tokenizers`` alone: this backend never
  imports torch or transformers, so a service running it starts in about a second.

Importing this module is cheap (numpy only).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError
from llmkit.core.io import atomic_folder, atomic_write_text

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

BACKENDS: tuple[str, ...] = ("torch_fp32", "onnx_int8")
FILES = {"torch_fp32": "model.safetensors", "onnx_int8": "model.int8.onnx"}
CARD_FILE, REFERENCE_FILE = "model_card.json", "reference.json"
_WORD = re.compile(r"[a-z]+")  # words for the drift check: lowercase letters only (numbers vary freely)

# ---------------------------------------------------------------------------------------- the card


@dataclass
class ModelCard:
    """What a hospital IT team reads before running the model (Mitchell et al., *Model Cards*, 2019)."""

    name: str  # e.g. "diabetes-notes-minilm"
    version: str  # bump on every retraining, e.g. "1.0.0"
    task: str  # one sentence: what the model predicts from what
    labels: list[str]  # labels[i] is what class i means
    training_data: dict[str, Any]  # source, size, label rate, license, how it was made
    metrics: dict[str, float]  # e.g. {"test_accuracy": 0.88}, measured on named data
    intended_use: str  # who may use it for what
    limitations: list[str]  # where it fails or must not be used
    max_length: int = 128  # tokens per text; longer texts are truncated (and flagged)
    extra: dict[str, Any] = field(default_factory=dict)  # anything else: teacher settings, contacts
    # what /predict takes: {"kind": "texts"}, or table rows, rows.rows_input(Schema.to_dict()) (llmkit.deploy.rows)
    input: dict[str, Any] = field(default_factory=lambda: {"kind": "texts"})
    # what an audit across groups measured on the test rows (llmkit.fairness.card.card_section); None: no audit
    fairness: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("name", "version", "task", "intended_use"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise LlmkitError(
                    f"model card {name}: expected a non-empty string, got {getattr(self, name)!r}"
                )
        if not self.labels or not all(isinstance(x, str) for x in self.labels):
            raise LlmkitError(f"model card labels: expected a list of label names, got {self.labels!r}")
        if not self.training_data or not self.limitations:
            raise LlmkitError(
                "model card: training_data and limitations must be filled in (a card without them misleads)"
            )
        if not isinstance(self.max_length, int) or self.max_length < 2:
            raise LlmkitError(f"model card max_length: expected an integer >= 2, got {self.max_length!r}")
        if self.fairness is not None and not isinstance(self.fairness, dict):
            raise LlmkitError(
                f"model card fairness: expected a dict (fairness.card.card_section) or None, "
                f"got {type(self.fairness).__name__}"
            )
        if self.fairness is not None:
            try:  # /metadata answers strict JSON: no NaN, nothing numpy
                json.dumps(self.fairness, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise LlmkitError(f"model card fairness: expected plain JSON (no NaN), got {exc}") from None
        from llmkit.deploy.rows import input_of

        self.input = input_of({"input": self.input})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        known = set(cls.__dataclass_fields__)
        missing = [k for k in ("name", "version", "task", "labels", "training_data", "metrics",
                               "intended_use", "limitations") if k not in data]  # fmt: skip
        if missing:
            raise LlmkitError(f"model card: missing {', '.join(missing)}")
        card = {k: v for k, v in data.items() if k in known and k != "extra"}
        extra = {**dict(data.get("extra", {})), **{k: v for k, v in data.items() if k not in known}}
        return cls(**card, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------ drift data


def words(text: str) -> list[str]:
    """The words the drift check counts: runs of letters, lowercased (``"HbA1c 8.1%"`` -> ``hba``, ``c``)."""
    return _WORD.findall(text.lower())


def reference_stats(texts: Sequence[str], holdout: Sequence[str] = ()) -> dict[str, Any]:
    """What inputs are compared with: the ``texts``' word vocabulary, their word counts, and the
    out-of-vocabulary rate of ``holdout`` texts from the same source (the rate to expect without drift)."""
    if not texts:
        raise LlmkitError("reference texts: expected the training texts, got none")
    vocabulary = sorted({w for t in texts for w in words(t)})
    known = set(vocabulary)
    held = [w for t in holdout for w in words(t)]
    return {
        "vocabulary": vocabulary,
        "word_counts": sorted(len(words(t)) for t in texts),
        "holdout_oov_rate": sum(w not in known for w in held) / len(held) if held else 0.0,
        "n_texts": len(texts),
    }


# -------------------------------------------------------------------------------------------- bundles


def build_bundle(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    folder: str | Path,  # replaced as a whole if it exists
    card: ModelCard | Mapping[str, Any],
    reference_texts: Sequence[str],  # the training texts (for the drift check's vocabulary and lengths)
    holdout_texts: Sequence[str] = (),  # texts of the same source not trained on (the no-drift OOV rate)
    onnx: bool = True,  # also write the ONNX Runtime int8 export (the fp32 graph is a temporary step)
) -> Path:
    """Write the bundle of ``model`` (see the module docstring) and return its folder."""
    from llmkit.compress import ort
    from llmkit.finetune import loop

    card = card if isinstance(card, ModelCard) else ModelCard.from_dict(card)
    if len(card.labels) != model.config.num_labels:
        raise LlmkitError(
            f"model card labels: {len(card.labels)} names for a model with {model.config.num_labels} classes"
        )
    folder = Path(folder)
    with atomic_folder(folder) as staging:  # a failure leaves no half bundle and the old one untouched
        start = time.perf_counter()
        loop.save_classifier(model.eval(), tokenizer, staging)  # safetensors + tokenizer
        if onnx:
            fp32 = ort.save_onnx(model, staging / "model.fp32.onnx")
            ort.quantize_onnx(fp32, staging / FILES["onnx_int8"])
            fp32.unlink()
        reference = reference_stats(reference_texts, holdout_texts)
        (staging / REFERENCE_FILE).write_text(json.dumps(reference) + "\n", encoding="utf-8")
        backends = [b for b in BACKENDS if (staging / FILES[b]).exists()]
        files = {p.name: p.stat().st_size for p in sorted(staging.iterdir()) if p.is_file()}
        body = {**card.to_dict(), "backends": backends, "files_bytes": files,
                "build_seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
        (staging / CARD_FILE).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    return folder


def add_metrics(folder: str | Path, metrics: Mapping[str, float]) -> dict[str, Any]:
    """Add ``metrics`` measured on the bundle's own files to its model card (rewritten atomically); the card."""
    path = Path(folder) / CARD_FILE
    card = load_bundle(folder).card
    card["metrics"] = {**card.get("metrics", {}), **{k: float(v) for k, v in metrics.items()}}
    atomic_write_text(path, json.dumps(card, indent=1) + "\n")
    return card


def update_card(folder: str | Path, **fields: Any) -> dict[str, Any]:
    """Replace card ``fields`` of a built bundle (e.g. ``fairness=``, ``limitations=``, measured after the build on
    the bundle's own predictions), checked as a :class:`ModelCard`, rewritten atomically; the card."""
    path = Path(folder) / CARD_FILE
    card = load_bundle(folder).card
    unknown = sorted(set(fields) - set(ModelCard.__dataclass_fields__))
    if unknown:
        raise LlmkitError(
            f"model card: unknown fields {unknown}; expected some of {list(ModelCard.__dataclass_fields__)}"
        )
    card.update(fields)
    ModelCard.from_dict(card)  # the same checks as at build time
    atomic_write_text(path, json.dumps(card, indent=1, allow_nan=False) + "\n")
    return card


@dataclass(frozen=True)
class Bundle:
    """A bundle read back: its folder, card (as written, with ``backends`` and ``files_bytes``) and reference."""

    folder: Path
    card: dict[str, Any]
    reference: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        return list(self.card["labels"])

    @property
    def max_length(self) -> int:
        return int(self.card.get("max_length", 128))

    @property
    def backends(self) -> list[str]:
        return list(self.card.get("backends", []))


def load_bundle(folder: str | Path) -> Bundle:
    """Read and check a folder written by :func:`build_bundle`."""
    folder = Path(folder)
    path = folder / CARD_FILE
    if not path.is_file():
        raise LlmkitError(
            f"{folder}: no {CARD_FILE}; expected a bundle folder written by export.build_bundle"
        )
    card = json.loads(path.read_text(encoding="utf-8"))
    ModelCard.from_dict(
        {k: v for k, v in card.items() if k not in ("backends", "files_bytes", "build_seconds")}
    )
    ref_path = folder / REFERENCE_FILE
    reference = json.loads(ref_path.read_text(encoding="utf-8")) if ref_path.is_file() else {}
    return Bundle(folder, card, reference)


# ---------------------------------------------------------------------------------------- predictors


@dataclass
class Prediction:
    """The model's answer for a list of texts, in their order."""

    probabilities: np.ndarray  # [texts, labels] float64, rows sum to 1
    tokens: list[int]  # tokens the model saw per text (after truncation)
    truncated: list[bool]  # the text had more than max_length tokens and was cut


class Predictor:
    """Texts in, class probabilities out, for one backend of a bundle. Not thread-safe: one caller at a time
    (the service runs every model call on a single worker thread)."""

    def __init__(self, bundle: Bundle, backend: str, threads: int) -> None:
        from tokenizers import Tokenizer

        if backend not in BACKENDS:
            raise LlmkitError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
        if backend not in bundle.backends:
            raise LlmkitError(
                f"backend {backend!r}: not in bundle {bundle.folder} (it has {bundle.backends})"
            )
        if not isinstance(threads, int) or threads < 1:
            raise LlmkitError(f"threads: expected a positive integer, got {threads!r}")
        self.bundle, self.backend, self.threads = bundle, backend, threads
        self.tokenizer = Tokenizer.from_file(str(bundle.folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(bundle.max_length)
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        self._run = self._onnx() if backend == "onnx_int8" else self._torch()

    def _onnx(self) -> Any:
        from llmkit.compress.ort import onnx_session

        session = onnx_session(self.bundle.folder / FILES["onnx_int8"], self.threads)
        return lambda ids, mask: session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]

    def _torch(self) -> Any:
        import torch

        from llmkit.assets.models import load_classifier

        torch.set_num_threads(self.threads)
        model = load_classifier(str(self.bundle.folder), num_labels=len(self.bundle.labels)).eval()

        def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return model(
                    input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
                ).logits.numpy()

        return run

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[int], list[bool]]:
        """Token ids and mask ``[texts, longest]`` (int64, padded to the longest text), lengths, truncation."""
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        ids = np.full((len(texts), max(lengths)), self.pad_id, dtype=np.int64)  # [texts, tokens]
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)], mask[row, : len(e.ids)] = e.ids, 1
        return ids, mask, lengths, [bool(e.overflowing) for e in encodings]

    def predict(self, texts: Sequence[str]) -> Prediction:
        """One model call on all ``texts`` (one padded batch)."""
        if not texts:
            raise LlmkitError("texts: expected at least one text, got none")
        ids, mask, lengths, truncated = self.encode(texts)
        logits = np.asarray(self._run(ids, mask), dtype=np.float64)  # [texts, labels]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return Prediction(exp / exp.sum(axis=1, keepdims=True), lengths, truncated)

    def predict_rows(self, rows: Sequence[Mapping[str, Any]], batch_size: int = 32) -> np.ndarray:
        """Probabilities ``[rows, labels]`` for table rows (``{column: value}``) of a bundle trained on records
        as text: each row checked against the card's schema and written as the training rows were
        (:class:`llmkit.deploy.rows.RowReader`, which ``llmkit serve`` uses too); a bad row is a ``RowError``."""
        from llmkit.deploy.rows import RowError, RowReader

        reader = RowReader.of(self.bundle.card)
        if reader is None:
            raise RowError("wrong_input", "rows", f"predict_rows: bundle {self.bundle.folder} takes texts "
                           "(predict_many); its model was not trained on table rows")  # fmt: skip
        return self.predict_many(reader.texts(rows), batch_size)

    def predict_many(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Probabilities ``[texts, labels]`` in the order given, longest texts batched together (little padding)."""
        lengths = [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]
        from llmkit.core.batches import longest_first

        out = np.empty((len(texts), len(self.bundle.labels)))
        for rows in longest_first(lengths, batch_size):
            out[rows] = self.predict([texts[i] for i in rows]).probabilities
        return out


def load_predictor(
    bundle: Bundle | str | Path, backend: str = "onnx_int8", threads: int | None = None
) -> Predictor:
    """A :class:`Predictor` for ``backend``; ``threads`` defaults to :func:`llmkit.core.hardware.thread_count`."""
    from llmkit.core.hardware import thread_count

    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    return Predictor(bundle, backend, threads or thread_count())


def throughput(predictor: Predictor, texts: Sequence[str], batch_size: int, seconds: float = 2.0) -> float:
    """In-process texts per second: ``predictor.predict`` on consecutive batches of ``batch_size`` texts
    (cycling through ``texts``) for about ``seconds``, after one untimed batch."""
    if batch_size < 1 or not texts:
        raise LlmkitError(
            f"throughput: expected texts and batch_size >= 1, got {len(texts)} texts, {batch_size}"
        )
    rows = [texts[i % len(texts)] for i in range(max(len(texts), batch_size))]
    predictor.predict(rows[:batch_size])
    done, i, start = 0, 0, time.perf_counter()
    while True:
        predictor.predict([rows[(i + k) % len(rows)] for k in range(batch_size)])
        done, i = done + batch_size, (i + batch_size) % len(rows)
        if (elapsed := time.perf_counter() - start) >= seconds:
            return done / elapsed
