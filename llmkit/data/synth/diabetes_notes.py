"""The committed diabetes-notes data set (``data/diabetes_notes``): its generator call, its data card, and the
loader every notebook uses (``python -m llmkit.data.synth.diabetes_notes`` rewrites it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError
from llmkit.data.synth import committed
from llmkit.data.synth.clinical_notes import (
    DIABETES_MEDICATIONS,
    GLUCOSE_CUTOFF,
    HBA1C_CUTOFF,
    HELD_OUT_FAMILIES,
    LIST_COLUMNS,
    SPLITS,
    VITAL_COLUMNS,
    best_achievable_accuracy,
    generate_notes,
    generate_unlabeled_notes,
)  # fmt: skip
from llmkit.data.synth.clinical_vocabulary import FAMILIES

if TYPE_CHECKING:
    import pandas as pd

DATASET_CALL: dict[str, Any] = {"n_notes": 5000, "seed": 0, "label_noise": 0.05}  # the committed file
DATA_DIR = Path("data") / "diabetes_notes"  # relative to the repository root
CSV_NAME = "diabetes_notes.csv"


# --------------------------------------------------------------------------------- committed file


def _readme(df: pd.DataFrame) -> str:
    call = ", ".join(f"{k}={v!r}" for k, v in DATASET_CALL.items())
    groups = [(s, df.split == s) for s in SPLITS]
    groups += [(f"test, shifted={k}", (df.split == "test") & (df.shifted == k)) for k in (0, 1)]
    rows = [
        f"| {name} | {int(rows.sum())} | {df.label[rows].mean():.3f} | {best_achievable_accuracy(df[rows]):.4f} |"
        for name, rows in groups
    ]
    families = "\n".join(
        f"| {c} | {f} | {', '.join(forms)} | {'**held out**' if f'{c}:{f}' in HELD_OUT_FAMILIES else ''} |"
        for c, fams in FAMILIES.items()
        for f, forms in fams.items()
    )
    return f"""# diabetes_notes -- synthetic clinical notes for diabetes detection

Generated, not real: no patient exists. License: CC0 1.0 (public domain dedication).

`{CSV_NAME}` ({len(df)} rows) is written by `llmkit.data.synth.diabetes_notes.write_dataset()`
(`python -m llmkit.data.synth.diabetes_notes`), which calls `generate_notes({call})`.
`tests/test_clinical_notes.py` regenerates it and checks it byte for byte. Load it with
`llmkit.data.synth.diabetes_notes.load_diabetes_notes(split=None)`.

## Label rule

    rule  = hba1c >= {HBA1C_CUTOFF} or fasting_glucose >= {GLUCOSE_CUTOFF} or on a diabetes medication ({", ".join(DIABETES_MEDICATIONS)})
    label = rule, flipped in exactly round({DATASET_CALL["label_noise"]} * rows) rows of each split and each half of test

The flips are independent of everything else, so the rule is the best classifier and its accuracy is the
ceiling for any model. Every note lists the complete medications and, whenever they do not settle the rule,
every lab the rule needs (as a number or its ADA category), so the ceiling holds for the text alone too.
A lab is omitted only when the rest of the note already makes the rule positive, so a missing lab is weak
evidence of a positive label: a shortcut a model can learn without understanding anything.

| split | rows | positive rate | best achievable accuracy |
|---|---|---|---|
{chr(10).join(rows)}

## Columns

| column | meaning |
|---|---|
| patient_id | P00001 ... |
| note | the free-text note (one line) |
| label | 1 = diabetes by the rule above, after label noise |
| split | train / validation / test (60 / 20 / 20) |
| shifted | 1 = a test note written in the held-out families (half of test); 0 otherwise |
| age, sex | years; F or M |
| bmi | kg/m2 |
| fasting_glucose | mg/dL |
| hba1c | % |
| systolic_bp, diastolic_bp | mmHg |
| family_history | 1 = a first- or second-degree relative with diabetes |
| conditions, symptoms, medications | `;`-separated names; empty = none |
| families | `;`-separated paraphrase families the note used (`concept:family`) |

## Paraphrase families

`held_out_families` defaults to `HELD_OUT_FAMILIES`, marked below: those families never occur in train or
validation notes, nor in the test notes with `shifted == 0`. The test notes with `shifted == 1` name every
concept that has a held-out family in a held-out family, so comparing the two halves of test measures what
unseen paraphrase costs a model.
Unlabeled notes for pretraining are not committed: `generate_unlabeled_notes(n_notes=20000, seed=0)` makes
them on demand (a few seconds), from other patients, with every family.

| concept | family | surface forms | |
|---|---|---|---|
{families}
"""


def dataset_files(df: pd.DataFrame) -> dict[str, str]:
    """The committed files' contents for a generated frame: ``{file name: text}``."""
    return {CSV_NAME: df.to_csv(index=False, lineterminator="\n"), "README.md": _readme(df)}


def write_dataset(out_dir: str | Path | None = None) -> Path:
    """Write ``diabetes_notes.csv`` and its ``README.md`` (default: ``<repo>/data/diabetes_notes``)."""
    return committed.write_files(DATA_DIR, dataset_files(generate_notes(**DATASET_CALL)), out_dir) / CSV_NAME


def load_diabetes_notes(split: str | None = None) -> pd.DataFrame:
    """The committed labeled notes (all splits, or one); regenerated into the cache if the file is absent."""
    from llmkit.data.tables import read_table

    if split is not None and split not in SPLITS:
        raise LlmkitError(f"split: expected one of {', '.join(SPLITS)} or None, got {split!r}")
    path = committed.committed_csv(DATA_DIR, CSV_NAME, write_dataset)
    df = read_table(
        path, text_column="note", label_column="label", split_column="split", feature_columns=VITAL_COLUMNS
    )
    for key in LIST_COLUMNS:  # an empty list reads back as NaN
        df[key] = df[key].fillna("")
    return df if split is None else df[df["split"] == split].reset_index(drop=True)


if __name__ == "__main__":
    csv = write_dataset()
    data = load_diabetes_notes()
    print(f"{csv}: {len(data)} rows, best achievable accuracy {best_achievable_accuracy(data):.4f}")
    start = time.perf_counter()
    unlabeled = generate_unlabeled_notes(20000)
    print(f"{len(unlabeled)} unlabeled notes in {time.perf_counter() - start:.2f} s")
