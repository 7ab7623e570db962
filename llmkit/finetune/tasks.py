"""Text-classification tasks: the diabetes notes and the drug reviews, loaded, subsampled and tokenized
(notebook 03)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from llmkit.core.errors import LlmkitError
from llmkit.finetune.batching import EncodedTexts, encode

if TYPE_CHECKING:
    import pandas as pd
    from transformers import PreTrainedTokenizerBase


TASKS: tuple[str, ...] = ("drug_sentiment", "drug_condition", "diabetes_notes")

# ------------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class TextTask:
    """A text classification task: one table of ``text``, ``label`` (0..k-1) and ``split``."""

    name: str
    frame: pd.DataFrame  # columns text, label, split ("train", "test", maybe "validation"), maybe more
    label_names: tuple[str, ...]  # label_names[i] is what label i means

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def split(self, split: str) -> pd.DataFrame:
        rows = self.frame[self.frame["split"] == split]
        if rows.empty:
            have = ", ".join(sorted(self.frame["split"].unique()))
            raise LlmkitError(f"task {self.name!r}: no rows in split {split!r}; it has: {have}")
        return rows

    def texts(self, split: str) -> list[str]:
        return self.split(split)["text"].tolist()

    def labels(self, split: str) -> np.ndarray:
        return self.split(split)["label"].to_numpy(dtype=np.int64)

    def majority_accuracy(self, split: str = "test") -> float:
        """Accuracy of always predicting the most common *training* label: the floor to beat."""
        majority = np.bincount(self.labels("train"), minlength=self.num_labels).argmax()
        return float((self.labels(split) == majority).mean())


def _drug_frame() -> pd.DataFrame:
    import pandas as pd

    from llmkit.data.real import drug_reviews

    parts = [drug_reviews(s).assign(split=s) for s in ("train", "test")]
    return pd.concat(parts, ignore_index=True).rename(columns={"review": "text"})


def load_task(name: str, top_conditions: int = 4) -> TextTask:
    """One of :data:`TASKS`, ready to encode.

    * ``drug_sentiment``: Drugs.com reviews, 0 = negative (1-4 stars), 1 = positive (7-10); neutral
      (5-6) dropped: 546 train / 343 test, majority 0.723. A hard, small, real task.
    * ``drug_condition``: the reviews of the ``top_conditions`` most common conditions in the training
      split; the label is which condition the review is about.
    * ``diabetes_notes``: the synthetic notes (train 3000 / validation 1000 / test 1000), 1 = diabetes;
      best achievable accuracy 0.95 (5% label noise). Column ``shifted`` marks the test notes written
      in paraphrases the training notes never use.
    """
    from llmkit.data.tables import validate_frame

    if name == "drug_sentiment":
        df = _drug_frame()
        df = df[df["rating"] != "neutral"].assign(label=lambda d: (d["rating"] == "positive").astype("int64"))
        names: tuple[str, ...] = ("negative", "positive")
    elif name == "drug_condition":
        if not isinstance(top_conditions, int) or top_conditions < 2:
            raise LlmkitError(f"top_conditions: expected an integer >= 2, got {top_conditions!r}")
        df = _drug_frame()
        names = tuple(df[df["split"] == "train"]["condition"].value_counts().index[:top_conditions])
        df = df[df["condition"].isin(names)].assign(label=lambda d: d["condition"].map(names.index))
    elif name == "diabetes_notes":
        from llmkit.data.synth.diabetes_notes import load_diabetes_notes

        df = load_diabetes_notes().rename(columns={"note": "text"})
        names = ("no diabetes", "diabetes")
    else:
        raise LlmkitError(f"task: expected one of {', '.join(TASKS)}, got {name!r}")
    extra = ["shifted"] if name == "diabetes_notes" else []  # 1 = a test note in unseen paraphrases
    df = df[["text", "label", "split", *extra]].reset_index(drop=True)
    validate_frame(df, name=name, text_column="text", label_column="label", split_column="split")
    return TextTask(name, df, names)


def subsample(task: TextTask, n: int, split: str = "train", seed: int = 0) -> TextTask:
    """The task with only ``n`` rows of ``split``, stratified by label and seeded; other splits unchanged.

    Notebook 04's data-efficiency curves call it with n = 16, 32, ...; each class keeps its share.
    """
    from sklearn.model_selection import train_test_split

    rows = task.split(split)
    if not isinstance(n, int) or not task.num_labels <= n <= len(rows):
        raise LlmkitError(
            f"n: expected an integer in [{task.num_labels}, {len(rows)}] for {split!r}, got {n!r}"
        )
    if n == len(rows):
        return task
    keep, _ = train_test_split(rows.index, train_size=n, stratify=rows["label"], random_state=seed)
    dropped = rows.index.difference(keep)
    return replace(task, frame=task.frame.drop(index=dropped))


def encode_task(
    tokenizer: PreTrainedTokenizerBase, task: TextTask, split: str, max_length: int = 128
) -> EncodedTexts:
    """:func:`encode` of one split of ``task``."""
    return encode(tokenizer, task.texts(split), task.labels(split), max_length)
