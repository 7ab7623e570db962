"""Monitoring a deployed classifier (notebook 08): the service's JSONL request log, and a drift check that
compares what the service has been sent with what the model was trained on.

Each line of the log is one request::

    {"time": 1764612345.123, "status": 200, "n_texts": 1, "batch_size": 17, "batch_requests": 17,
     "queue_ms": 4.1, "model_ms": 96.0, "latency_ms": 101.2, "truncated": 0, "words": [41], "oov": [0]}

``words`` and ``oov`` count, per text, its words and those not in the training vocabulary (see
:func:`llmkit.deploy.export.words`): enough for the drift check without keeping any patient's note. The raw
``texts`` are logged only when the service is started with ``log_texts``. Error responses log
``status``, ``error`` and ``latency_ms``.

The drift check (:func:`drift_report`) looks at two signals a classifier of notes is sensitive to:
text length (the Kolmogorov-Smirnov distance between the word counts seen and the training notes'), and
the out-of-vocabulary rate (words the training notes never used), against the rate of held-out notes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError
from llmkit.deploy.export import words

if TYPE_CHECKING:
    import pandas as pd


class RequestLog:
    """Appends one JSON line per request to ``path`` (flushed each time, so it can be read while serving);
    with ``path=None`` it only counts."""

    def __init__(
        self, path: str | Path | None, vocabulary: Iterable[str] = (), log_texts: bool = False
    ) -> None:
        self.path = Path(path) if path else None
        self.vocabulary = frozenset(vocabulary)
        self.log_texts = log_texts
        self.count = 0
        self._lock = threading.Lock()
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def features(self, texts: Sequence[str]) -> dict[str, Any]:
        """Per text: its word count and how many of its words the training texts never used."""
        split = [words(t) for t in texts]
        out: dict[str, Any] = {
            "words": [len(w) for w in split],
            "oov": [sum(x not in self.vocabulary for x in w) for w in split],
        }
        if self.log_texts:
            out["texts"] = list(texts)
        return out

    def write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.count += 1
            if self._file is not None:
                self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_log(path: str | Path) -> pd.DataFrame:
    """The request log as a DataFrame, one row per request, in order (``seq`` numbers them from 0)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise LlmkitError(f"{path}: no request log there; expected the JSONL file of `llmkit serve --log`")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = pd.DataFrame(rows)
    frame.insert(0, "seq", range(len(frame)))
    return frame


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs
    (``scipy.stats.ks_2samp``'s statistic; its ``method="asymp"`` returns it as computed, where the exact
    method re-rounds it to a multiple of ``1 / lcm(len(a), len(b))`` and also pays for an exact p-value)."""
    from scipy.stats import ks_2samp

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise LlmkitError(f"ks_distance: expected two non-empty samples, got {a.size} and {b.size} values")
    return float(ks_2samp(a, b, method="asymp").statistic)


@dataclass(frozen=True)
class DriftReport:
    """Recent inputs against the training texts; ``drifted`` when either signal passes its threshold."""

    n_texts: int  # texts in the window
    words_mean: float  # mean word count of the window
    reference_words_mean: float  # mean word count of the training texts
    length_ks: float  # KS distance between the window's word counts and the training texts'
    oov_rate: float  # share of the window's words outside the training vocabulary
    reference_oov_rate: float  # the same share for held-out texts of the training source
    max_length_ks: float
    max_oov_excess: float

    @property
    def length_drift(self) -> bool:
        return self.length_ks > self.max_length_ks

    @property
    def vocabulary_drift(self) -> bool:
        return self.oov_rate > self.reference_oov_rate + self.max_oov_excess

    @property
    def drifted(self) -> bool:
        return self.length_drift or self.vocabulary_drift

    def row(self) -> dict[str, Any]:
        return {**asdict(self), "length_drift": self.length_drift,
                "vocabulary_drift": self.vocabulary_drift, "drifted": self.drifted}  # fmt: skip


def drift_report(
    log: pd.DataFrame,  # read_log's frame, or any part of it (e.g. the last N requests)
    reference: dict[str, Any],  # a bundle's reference.json (export.reference_stats)
    max_length_ks: float = 0.2,  # length drift beyond this KS distance
    max_oov_excess: float = 0.02,  # vocabulary drift when the OOV rate exceeds the held-out rate by this
) -> DriftReport:
    """The drift check over the answered requests in ``log``."""
    if "words" not in log or "oov" not in log:
        raise LlmkitError("log: expected the columns words and oov of a request log (llmkit serve --log)")
    if not reference.get("word_counts"):
        raise LlmkitError("reference: expected a bundle's reference.json with word_counts")
    answered = log[log["status"] == 200]
    counts = [n for row in answered["words"] for n in row]
    oov = [n for row in answered["oov"] for n in row]
    if not counts:
        raise LlmkitError("log: no answered requests to check for drift")
    return DriftReport(
        n_texts=len(counts),
        words_mean=float(np.mean(counts)),
        reference_words_mean=float(np.mean(reference["word_counts"])),
        length_ks=ks_distance(counts, reference["word_counts"]),
        oov_rate=float(sum(oov) / max(1, sum(counts))),
        reference_oov_rate=float(reference.get("holdout_oov_rate", 0.0)),
        max_length_ks=max_length_ks,
        max_oov_excess=max_oov_excess,
    )
