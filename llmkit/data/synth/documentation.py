"""A planted documentation bias for the synthetic notes (notebook 10, :mod:`llmkit.fairness`).

:func:`llmkit.data.synth.clinical_notes.generate_notes` takes ``under_documented=UnderDocumentation(...)``;
the default ``None`` leaves every note, label and cache key as it was.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmkit.core.errors import LlmkitError

SPLITS: tuple[str, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class UnderDocumentation:
    """A planted documentation bias (notebook 10): one group's diabetes is written down less.

    In the ``splits`` it touches (training and validation by default; the test notes stay clean), every note
    of a patient of sex ``sex`` mentions each present symptom ``symptom_rate`` times as often as usual (0.9 ->
    0.45 at 0.5), and of that group's *untreated* patients whose label rule is positive (no diabetes
    medication: diagnosable only from labs and symptoms), exactly ``round(missed * count)`` are recorded as
    label 0 -- a missed diagnosis -- and their notes mention no symptom at all. Treated patients keep their
    label: a chart that lists metformin documents the diabetes.
    """

    sex: str = "F"  # "F" or "M": the under-documented group
    symptom_rate: float = 0.5  # in (0, 1]: how often, relative to usual, a present symptom is mentioned
    missed: float = 0.5  # in [0, 1]: the share of the group's untreated positive patients recorded as 0
    splits: tuple[str, ...] = ("train", "validation")

    def __post_init__(self) -> None:
        if self.sex not in ("F", "M"):
            raise LlmkitError(f"UnderDocumentation.sex: expected 'F' or 'M', got {self.sex!r}")
        if not 0 < self.symptom_rate <= 1 or not 0 <= self.missed <= 1:
            raise LlmkitError(
                f"UnderDocumentation.symptom_rate, missed: expected (0, 1] and [0, 1], got "
                f"{self.symptom_rate}, {self.missed}"
            )
        if not set(self.splits) <= set(SPLITS):
            raise LlmkitError(f"UnderDocumentation.splits: expected some of {SPLITS}, got {self.splits}")


def under_document(
    bias: UnderDocumentation, patients: list[dict[str, Any]], split: list[str], labels: list[int], stream: str,
    medications: Sequence[str],  # the diabetes medications: a patient on one is treated
) -> list[float]:  # fmt: skip
    """Apply ``bias`` to ``labels`` in place and return each note's symptom rate."""
    rates = [1.0] * len(patients)
    group = [i for i, p in enumerate(patients) if p["sex"] == bias.sex and split[i] in bias.splits]
    for i in group:
        rates[i] = bias.symptom_rate
    untreated = [
        i for i in group if labels[i] == 1 and not set(patients[i]["medications"]) & set(medications)
    ]
    for i in random.Random(f"{stream}/missed").sample(untreated, round(bias.missed * len(untreated))):
        labels[i], rates[i] = 0, 0.0
    return rates
