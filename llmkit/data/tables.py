"""Read and validate a user's table: the analyst path into every notebook and case study.

:func:`read_table` reads a CSV, TSV, Parquet, JSONL or Excel file (chosen by its extension; the reading,
encodings and header tidying are :func:`llmkit.data.readers.read_frame`) and hands the frame to
:func:`validate_frame`, which any DataFrame can also go through. Every problem -- a missing file, an
encoding the parser would misread, a repeated or misspelt column, a label with one class, empty texts, a
feature column holding text -- is one :class:`~llmkit.core.errors.LlmkitError` line that names the file,
the column and what was expected, raised before any model is built::

    notes.csv: no column 'note'; columns are: id, text, outcome; did you mean 'notes'?

A message that lists values (columns, classes, splits, rows) shows a few of them and the count.
Row numbers in messages are **1-based data rows**: row 1 is the first row after the header (line 2 of a
CSV file, the first record of a JSONL file), counted by position, whatever the frame's index holds.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError
from llmkit.data.readers import SUPPORTED_EXTENSIONS, read_frame, show_list

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SUPPORTED_EXTENSIONS", "read_table", "require_column", "show_list", "validate_frame"]
_SHOW_ROWS = 5  # how many row numbers a message lists
_SHOW_CLASSES = 4  # how many too-small classes or splits a message lists


def read_table(
    path: str | Path,
    *,
    text_column: str | None = None,  # must hold non-empty strings
    label_column: str | None = None,  # must hold >= 2 classes, each with >= min_per_class rows
    feature_columns: Sequence[str] | str | None = None,  # must be numeric
    split_column: str | None = None,  # e.g. train/validation/test; each value >= min_rows_per_split rows
    min_rows: int = 1,
    min_per_class: int = 2,  # 2 is the least a stratified train/test split accepts
    min_rows_per_split: int = 1,
    allow_missing_features: bool = False,  # NaN in a feature column is an error unless True
    encoding: str = "utf-8",  # CSV/TSV/JSONL: any Python codec name ("latin-1", "cp1252"); a UTF-8 BOM is accepted
    sheet: str | int | None = None,  # Excel: a sheet name or 0-based index; None -> the first sheet
) -> pd.DataFrame:
    """Read ``path`` (CSV, TSV, Parquet, JSONL or Excel, by extension) and validate it; see :func:`validate_frame`."""
    df = read_frame(path, encoding=encoding, sheet=sheet)
    return validate_frame(
        df,
        name=str(Path(path)),
        text_column=text_column,
        label_column=label_column,
        feature_columns=feature_columns,
        split_column=split_column,
        min_rows=min_rows,
        min_per_class=min_per_class,
        min_rows_per_split=min_rows_per_split,
        allow_missing_features=allow_missing_features,
    )


def validate_frame(
    df: pd.DataFrame,
    *,
    name: str = "DataFrame",  # what messages call the table: a file name, or a variable name
    text_column: str | None = None,
    label_column: str | None = None,
    feature_columns: Sequence[str] | str | None = None,
    split_column: str | None = None,
    min_rows: int = 1,
    min_per_class: int = 2,
    min_rows_per_split: int = 1,
    allow_missing_features: bool = False,
) -> pd.DataFrame:
    """Check a frame the way :func:`read_table` checks a file; return it unchanged, or raise one LlmkitError.

    Checks, in order: at least ``min_rows`` rows; every named column exists; the text column holds
    non-empty strings; the label column has no missing values, two classes or more, and
    ``min_per_class`` rows per class; feature columns are numeric (and complete unless
    ``allow_missing_features``); every value of the split column has ``min_rows_per_split`` rows.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise LlmkitError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    features = [feature_columns] if isinstance(feature_columns, str) else list(feature_columns or [])
    n = len(df)
    if n == 0:
        raise LlmkitError(
            f"{name}: table has no data rows (columns: {_names(df.columns)}); expected at least {max(1, min_rows)}"
        )
    if n < min_rows:
        raise LlmkitError(f"{name}: {n} rows; expected at least {min_rows} (min_rows={min_rows})")
    for role, col in [("text", text_column), ("label", label_column), ("split", split_column)] + [
        ("feature", c) for c in features
    ]:
        if col is not None:
            require_column(df, col, role, name)
    if text_column is not None:
        _check_text(df[text_column], text_column, name)
    if label_column is not None:
        _check_label(df[label_column], label_column, name, min_per_class)
    for col in features:
        _check_feature(df[col], col, name, allow_missing_features)
    if split_column is not None:
        _check_split(df[split_column], split_column, name, min_rows_per_split)
    return df


# ---------------------------------------------------------------------------------------- validating


def _names(columns: Iterable[Any]) -> str:
    return show_list(columns, limit=12)


def _show(value: Any, width: int = 40) -> str:
    """A value as the user would type it: 1 rather than np.int64(1), cut to ``width`` characters."""
    if hasattr(value, "item") and callable(value.item):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()  # numpy scalar -> python
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _rows(mask: Any) -> str:
    """'rows 2, 5, 9, ...' for a boolean mask: 1-based data rows, by position."""
    import numpy as np

    positions = np.flatnonzero(np.asarray(mask, dtype=bool)) + 1
    shown = ", ".join(str(p) for p in positions[:_SHOW_ROWS])
    more = ", ..." if len(positions) > _SHOW_ROWS else ""
    return f"row{'s' if len(positions) > 1 else ''} {shown}{more}; 1-based data rows"


def require_column(df: pd.DataFrame, col: str, role: str, name: str) -> None:
    """Raise one LlmkitError line when ``col`` is not a column of ``df``: the columns there are, and the likely fix."""
    if col in df.columns:
        return
    columns = [str(c) for c in df.columns]
    hint = ""
    if f"\ufeff{col}" in columns:
        hint = (
            f"; the column is there as {chr(0xFEFF) + col!r} with a byte-order mark glued on "
            "(read the file with encoding='utf-8-sig' or llmkit.data.tables.read_table)"
        )
    else:
        close = difflib.get_close_matches(col, columns, n=1, cutoff=0.6)
        close = close or [c for c in columns if c.strip().lower() == col.strip().lower()]
        if close:
            hint = f"; did you mean {close[0]!r}?"
        elif len(columns) == 1 and any(sep in columns[0] for sep in ";\t|"):
            sep = next(s for s in ";\t|" if s in columns[0])
            fix = "rename the file to .tsv" if sep == "\t" else "re-save it comma-separated"
            hint = f"; the header looks separated by {sep!r}, not by commas ({fix})"
    raise LlmkitError(f"{name}: no {role} column {col!r}; columns are: {_names(columns)}{hint}")


def _check_text(values: pd.Series, col: str, name: str) -> None:
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
    if numeric and values.notna().any():  # an all-empty column reads as float NaN: reported below
        example = values.dropna().iloc[0]
        raise LlmkitError(f"{name}: text column {col!r} holds numbers (e.g. {_show(example)}); expected text")
    empty = values.isna() | (values.astype(str).str.strip() == "")
    if empty.any():
        raise LlmkitError(
            f"{name}: text column {col!r} has {int(empty.sum())} empty or missing value(s) ({_rows(empty)}); "
            "expected non-empty text in every row"
        )


def _check_label(values: pd.Series, col: str, name: str, min_per_class: int) -> None:
    missing = values.isna()
    if missing.any():
        raise LlmkitError(
            f"{name}: label column {col!r} has {int(missing.sum())} missing value(s) ({_rows(missing)}); "
            "expected a label in every row"
        )
    counts = values.value_counts(sort=False)
    counts = counts.sort_index() if _sortable(counts.index) else counts
    if len(counts) < 2:
        only, rows = counts.index[0], int(counts.iloc[0])
        raise LlmkitError(
            f"{name}: label column {col!r} has one class only ({_show(only)}: {rows} rows); "
            "expected at least 2 classes"
        )
    small = [(k, int(v)) for k, v in counts.items() if v < min_per_class]
    if small:
        listed = _too_small("class", small, len(counts), min_per_class)
        raise LlmkitError(
            f"{name}: label column {col!r}: {listed}; expected at least {min_per_class} rows per class "
            f"(min_per_class={min_per_class})"
        )


def _too_small(kind: str, small: list[tuple[Any, int]], total: int, least: int) -> str:
    """ "class 'yes' has 1 row", or for many: "60 of 60 classes have fewer than 2 rows: class 'a' has 1 row, ..."."""
    listed = show_list(
        (f"{kind} {_show(k, 24)} has {v} row{'s' if v != 1 else ''}" for k, v in small), _SHOW_CLASSES
    )
    if len(small) == 1:
        return listed
    plural = "classes" if kind == "class" else f"{kind}s"
    return f"{len(small)} of {total} {plural} have fewer than {least} rows: {listed}"


def _sortable(index: Any) -> bool:
    try:
        sorted(index)
    except TypeError:
        return False
    return True


def _check_feature(values: pd.Series, col: str, name: str, allow_missing: bool) -> None:
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(values):
        coerced = pd.to_numeric(values, errors="coerce")
        bad = coerced.isna() & values.notna()
        if bad.any():
            first = int(bad.to_numpy().argmax())
            raise LlmkitError(
                f"{name}: feature column {col!r} is not numeric: row {first + 1} (1-based data row) holds "
                f"{_show(values.iloc[first])}; expected numbers"
            )
        raise LlmkitError(
            f"{name}: feature column {col!r} holds numbers stored as text (e.g. {_show(values.dropna().iloc[0])}); "
            "expected a numeric dtype (convert with pandas.to_numeric)"
        )
    missing = values.isna()
    if missing.any() and not allow_missing:
        raise LlmkitError(
            f"{name}: feature column {col!r} has {int(missing.sum())} missing value(s) ({_rows(missing)}); "
            "expected a number in every row (or pass allow_missing_features=True)"
        )


def _check_split(values: pd.Series, col: str, name: str, min_rows_per_split: int) -> None:
    if values.isna().any():
        raise LlmkitError(
            f"{name}: split column {col!r} has {int(values.isna().sum())} missing value(s) "
            f"({_rows(values.isna())}); expected a split name in every row"
        )
    counts = values.astype(str).value_counts().sort_index()
    small = [(k, int(v)) for k, v in counts.items() if v < min_rows_per_split]
    if small:
        listed = _too_small("split", small, len(counts), min_rows_per_split)
        raise LlmkitError(
            f"{name}: split column {col!r}: {listed}; expected at least {min_rows_per_split} rows per split "
            f"(min_rows_per_split={min_rows_per_split})"
        )
