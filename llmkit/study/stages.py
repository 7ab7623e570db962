"""What the analyst engine's stages share: the table prepared for them (:class:`Prepared`) and what each gives
back (:class:`Result`). :mod:`llmkit.study.engine` makes both; :mod:`llmkit.study.textstages` uses them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from llmkit.study.schema import Schema
    from llmkit.study.splits import Split


@dataclass
class Prepared:
    """A table ready to model: the frame as read, its schema, the encoded target and the split."""

    frame: pd.DataFrame
    schema: Schema
    split: Split
    y: np.ndarray  # encoded target: 0..k-1 (classification) or floats (regression)
    source: str  # the file's path, or the name given with a DataFrame
    notes: list[str] = field(default_factory=list)  # what reading and splitting decided, for the notebook
    sensitive: list[str] = field(default_factory=list)  # columns the bundle is audited by (a binary target)

    @property
    def classification(self) -> bool:
        return self.schema.task != "regression"

    @cached_property
    def X(self) -> pd.DataFrame:  # noqa: N802 -- the features, as models take them
        """The feature columns ready for a model (numbers as floats, categories as strings), every row."""
        return self.schema.features_frame(self.frame)

    def rows(self, split: str) -> np.ndarray:
        return self.split.rows(split)

    def texts(self, rows: np.ndarray) -> list[str]:
        """The text columns of ``rows`` as one text each ("column: value" lines when there are several)."""
        cols = self.schema.text
        part = self.frame.iloc[rows][cols].fillna("").astype(str)
        if len(cols) == 1:
            return part[cols[0]].tolist()
        return [
            " \n".join(f"{c}: {v}" for c, v in zip(cols, r, strict=True))
            for r in part.itertuples(index=False)
        ]

    def describe(self) -> str:
        s = self.schema
        counts = ", ".join(f"{k} {len(self.rows(k))}" for k in ("train", "validation", "test"))
        what = f"{len(s.classes)} classes" if self.classification else "a number"
        return (
            f"{self.source}: {len(self.frame)} rows; target {s.target!r} ({s.task}, {what}); "
            f"{len(s.numeric)} numeric, {len(s.categorical)} categorical, {len(s.text)} text columns; "
            f"split {self.split.kind}: {counts}"
        )


@dataclass
class Result:
    """One stage's model: its test predictions (probabilities [n, k] or values [n]) or why it did not run."""

    stage: str
    model: str
    kind: str  # "floor", "tabular", "text", "transformer", "fusion", "student", "bundle"
    ran: bool
    why: str = ""  # what it saw (ran) or why not (skipped)
    pred: np.ndarray | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # size_mb, latency, the fitted object, ...
