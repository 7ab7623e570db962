"""Hospitals as federated clients (notebook 07): who holds which patients, and in which words.

A :class:`Federation` is the hospitals' private training data plus one shared test set that every method is
scored on. Two tasks:

* **diabetes notes** (:func:`load_note_federations`): the committed notes' train split shared out over
  ``n`` hospitals. Non-IID: each class is split over the hospitals by Dirichlet(alpha) proportions (label
  skew; alpha = 0.3 leaves some hospitals with almost only one class), and each hospital's notes are
  rewritten in its own house style (:data:`llmkit.data.synth.clinical_notes.HOSPITAL_STYLES`: one writes
  T2DM and HbA1c, another "type 2 diabetes" and "glycated hemoglobin", another lay words). IID: the same
  notes dealt out uniformly at random. Features are frozen MiniLM sentence embeddings (cached on disk),
  times sqrt(384) so that each coordinate is of unit scale;
* **Pima** (:func:`load_pima_federations`): the real MASS ``Pima.tr`` records (200 women) over the same
  hospitals, ``Pima.te`` (332) as the test set; seven standardized measurements.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd


# -------------------------------------------------------------------------------------- partitions


def iid_partition(n: int, n_clients: int, seed: int = 0) -> list[np.ndarray]:
    """Row indices ``0..n-1`` dealt out uniformly at random into ``n_clients`` near-equal parts."""
    if n_clients < 1 or n < n_clients:
        raise LlmkitError(f"n_clients: expected 1 <= n_clients <= n = {n}, got {n_clients}")
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, n_clients)]


def dirichlet_partition(
    labels: Sequence[int] | np.ndarray,
    n_clients: int,
    alpha: float,
    seed: int = 0,
    min_size: int = 10,  # redraw until every client holds at least this many rows
) -> list[np.ndarray]:
    """Label skew: each class's rows split over the clients by proportions drawn from Dirichlet(alpha).

    Small ``alpha`` (0.1-0.5) gives each client a very different class mix; large ``alpha`` tends to IID
    (Hsu, Qi & Brown 2019). Returns each client's sorted row indices.
    """
    y = np.asarray(labels)
    if alpha <= 0:
        raise LlmkitError(f"alpha: expected a positive concentration, got {alpha}")
    if n_clients < 1 or len(y) < n_clients * min_size:
        raise LlmkitError(
            f"n_clients: {n_clients} clients of >= {min_size} rows need more than {len(y)} rows"
        )
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        parts: list[list[int]] = [[] for _ in range(n_clients)]
        for c in np.unique(y):
            rows = rng.permutation(np.flatnonzero(y == c))
            cuts = (np.cumsum(rng.dirichlet([alpha] * n_clients))[:-1] * len(rows)).astype(int)
            for k, chunk in enumerate(np.split(rows, cuts)):
                parts[k] += chunk.tolist()
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    raise LlmkitError(f"dirichlet_partition: no draw gave every client >= {min_size} rows; lower min_size")


def partition_counts(
    labels: Sequence[int] | np.ndarray, parts: Sequence[np.ndarray], n_classes: int = 2
) -> np.ndarray:
    """``[clients, classes]`` row counts."""
    y = np.asarray(labels)
    return np.stack([np.bincount(y[p], minlength=n_classes) for p in parts])


# -------------------------------------------------------------------------------------- federation


@dataclass(frozen=True)
class Federation:
    """The hospitals' private training data and the shared test set."""

    task: str  # "diabetes_notes" | "pima"
    partition: str  # "iid" | "dirichlet"
    x: tuple[np.ndarray, ...]  # per hospital [n_k, dim] float32
    y: tuple[np.ndarray, ...]  # per hospital [n_k] int64
    x_test: np.ndarray
    y_test: np.ndarray
    styles: tuple[str, ...]  # each hospital's house style ("" when the task has none)
    texts: tuple[tuple[str, ...], ...] = ()  # each hospital's raw notes (what must never leave it)

    @property
    def n_hospitals(self) -> int:
        return len(self.x)

    @property
    def dim(self) -> int:
        return int(self.x[0].shape[1])

    @property
    def sizes(self) -> list[int]:
        return [len(y) for y in self.y]

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """Every hospital's data in one place: what centralized training would need."""
        return np.concatenate(self.x), np.concatenate(self.y)

    def counts(self) -> np.ndarray:
        """``[hospitals, 2]``: negatives and positives per hospital."""
        return np.stack([np.bincount(y, minlength=2) for y in self.y])

    def private_bytes(self) -> list[bytes]:
        """What must stay at the hospitals: each note's text and each row of features, as stored."""
        out = [t.encode("utf-8") for texts in self.texts for t in texts]
        return out + [row.tobytes() for x in self.x for row in x]


def _split(task: str, partition: str, x: np.ndarray, y: np.ndarray, parts: list[np.ndarray], test: tuple, styles,
           texts: Sequence[str] | None = None) -> Federation:  # fmt: skip
    return Federation(
        task, partition, tuple(x[p] for p in parts), tuple(y[p] for p in parts), test[0], test[1],
        tuple(styles), tuple(tuple(texts[i] for i in p) for p in parts) if texts is not None else (),
    )  # fmt: skip


# -------------------------------------------------------------------------------------- embeddings


def embed_texts(
    texts: Sequence[str], name: str = "minilm", max_length: int = 256, batch_size: int = 32
) -> np.ndarray:
    """Frozen MiniLM sentence embeddings ``[n, 384]`` (:func:`llmkit.assets.models.embed`), cached on disk by
    content: ``$LLMKIT_CACHE/embeddings/<name>-<cache_key>.npy``, keyed like every other cache."""
    from llmkit.core.io import atomic_file, cache_dir, cache_key

    folder = cache_dir("embeddings")
    path = folder / f"{name}-{cache_key({'model': name, 'max_length': max_length}, texts)}.npy"
    if path.is_file():
        return np.load(path)
    legacy = folder / f"{name}-{_legacy_key(texts, name, max_length)}.npy"
    if legacy.is_file():
        logging.getLogger("llmkit").warning(
            "embeddings cache: %s was keyed the old way (24-hex sha256); rebuilding it once as %s",
            legacy.name, path.name,
        )  # fmt: skip
    from llmkit.assets.models import embed, load_encoder, load_tokenizer

    vectors = embed(list(texts), load_encoder(name), load_tokenizer(name), batch_size, max_length).numpy()
    with atomic_file(path) as tmp:  # a concurrent reader never sees half a file
        np.save(tmp, vectors.astype(np.float32))
    return vectors.astype(np.float32)


def _legacy_key(texts: Sequence[str], name: str, max_length: int) -> str:
    """The key :func:`embed_texts` named its files with before it used ``cache_key``: only to say so when such
    a file is found (the cache is rebuilt under the new name; the old file is left for older checkouts)."""
    import hashlib

    digest = hashlib.sha256(f"{name}|{max_length}|".encode() + "\x00".join(texts).encode("utf-8"))
    return digest.hexdigest()[:24]


# ------------------------------------------------------------------------------------------ tasks


def _subsample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or n >= len(df):
        return df.reset_index(drop=True)
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(df, train_size=n, stratify=df["label"], random_state=seed)
    return keep.sort_index().reset_index(drop=True)


def load_note_federations(
    n_hospitals: int = 5,
    alpha: float = 0.3,
    seed: int = 0,
    n_train: int | None = None,  # notes shared out (default: the whole train split, 3,000)
    n_test: int | None = None,  # shared test notes (default: the whole test split, 1,000)
    house_styles: bool = True,  # rewrite each non-IID hospital's notes in its style
) -> dict[str, Federation]:
    """``{"non_iid": ..., "iid": ...}``: the same pooled notes, split by Dirichlet label skew or at random."""
    from llmkit.data.synth.clinical_notes import HOSPITAL_STYLES, restyle_notes
    from llmkit.data.synth.diabetes_notes import load_diabetes_notes

    styles = list(HOSPITAL_STYLES)[:n_hospitals] if house_styles else ["mixed"] * n_hospitals
    if len(styles) < n_hospitals:
        styles += ["mixed"] * (n_hospitals - len(styles))
    train = _subsample(load_diabetes_notes("train"), n_train, seed)
    test = _subsample(load_diabetes_notes("test"), n_test, seed)
    parts = dirichlet_partition(train["label"].to_numpy(), n_hospitals, alpha, seed)
    notes = train["note"].tolist()
    if house_styles:
        for k, rows in enumerate(parts):
            notes_k = restyle_notes(train.iloc[rows], styles[k], seed=seed)["note"].tolist()
            for i, note in zip(rows, notes_k, strict=True):
                notes[i] = note
    # MiniLM's embeddings are unit vectors, so each coordinate is ~1/sqrt(384): scaled by sqrt(dim) the head
    # sees unit-scale inputs (a fixed constant, no statistics of anyone's data)
    x = embed_texts(notes)
    scale = np.float32(np.sqrt(x.shape[1]))
    x, y = x * scale, train["label"].to_numpy(np.int64)
    shared = (embed_texts(test["note"].tolist()) * scale, test["label"].to_numpy(np.int64))
    iid_parts = iid_partition(len(y), n_hospitals, seed)
    return {
        "non_iid": _split("diabetes_notes", "dirichlet", x, y, parts, shared, styles, notes),
        "iid": _split(
            "diabetes_notes", "iid", x, y, iid_parts, shared, ["pooled at random"] * n_hospitals, notes
        ),
    }


PIMA_FEATURES: tuple[str, ...] = ("npreg", "glu", "bp", "skin", "bmi", "ped", "age")


def load_pima_federations(n_hospitals: int = 5, alpha: float = 0.3, seed: int = 0) -> dict[str, Federation]:
    """``{"non_iid", "iid"}`` federations of the real Pima records (MASS ``Pima.tr`` / ``Pima.te``).

    Standardized with the training records' mean and standard deviation: the seven sums and sums of
    squares a secure-aggregation round would give the server, taken here directly.
    """
    from llmkit.data.real import pima

    train, test = pima("train"), pima("test")
    x = train[list(PIMA_FEATURES)].to_numpy(np.float64)
    mean, std = x.mean(0), x.std(0)
    x = ((x - mean) / std).astype(np.float32)
    x_test = ((test[list(PIMA_FEATURES)].to_numpy(np.float64) - mean) / std).astype(np.float32)
    y, shared = train["diabetes"].to_numpy(np.int64), (x_test, test["diabetes"].to_numpy(np.int64))
    parts = dirichlet_partition(y, n_hospitals, alpha, seed, min_size=8)
    return {
        "non_iid": _split("pima", "dirichlet", x, y, parts, shared, [""] * n_hospitals),
        "iid": _split(
            "pima", "iid", x, y, iid_partition(len(y), n_hospitals, seed), shared, [""] * n_hospitals
        ),
    }


def hospital_table(fed: Federation) -> pd.DataFrame:
    """One row per hospital: its style, notes, positives and positive rate."""
    import pandas as pd

    counts = fed.counts()
    return pd.DataFrame(
        {
            "hospital": [f"H{k + 1}" for k in range(fed.n_hospitals)],
            "style": list(fed.styles),
            "records": counts.sum(1),
            "negative": counts[:, 0],
            "positive": counts[:, 1],
            "positive_rate": counts[:, 1] / counts.sum(1),
        }
    )


def plot_partition(feds: dict[str, Federation], ax: Any = None, title: str = "") -> Any:
    """Stacked bars: negatives and positives at each hospital, one group of bars per partition."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(feds)
    for j, (name, fed) in enumerate(feds.items()):
        counts = fed.counts()
        pos = np.arange(fed.n_hospitals) + j * width
        ax.bar(pos, counts[:, 0], width, label=f"{name}: no diabetes", color=f"C{2 * j}", edgecolor="white")
        ax.bar(pos, counts[:, 1], width, bottom=counts[:, 0], label=f"{name}: diabetes", color=f"C{2 * j + 1}",
               edgecolor="white")  # fmt: skip
    ax.set_xticks(np.arange(len(next(iter(feds.values())).y)) + width * (len(feds) - 1) / 2)
    ax.set_xticklabels([f"H{k + 1}" for k in range(len(next(iter(feds.values())).y))])
    ax.set_xlabel("hospital")
    ax.set_ylabel("records")
    ax.set_title(title or "Who holds which patients")
    ax.legend(fontsize=8)
    return ax
