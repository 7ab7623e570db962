"""Read and validate a user's table: the analyst path into every notebook and case study.

:func:`read_table` reads a CSV, TSV, Parquet or JSONL file (chosen by its extension) and hands the frame
to :func:`validate_frame`, which any DataFrame can also go through. Every problem -- a missing file, an
encoding the parser would misread, a misspelt column, a label with one class, empty texts, a feature
column holding text -- is one :class:`~llmkit.core.errors.LlmkitError` line that names the file, the column
and what was expected, raised before any model is built::

    notes.csv: no column 'note'; columns are: id, text, outcome; did you mean 'notes'?

Row numbers in messages are **1-based data rows**: row 1 is the first row after the header (line 2 of a
CSV file, the first record of a JSONL file), counted by position, whatever the frame's index holds.

Encodings: text files must be UTF-8. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is stripped and
accepted -- left in, ``csv``/``json`` readers glue it onto the first column name (``'\\ufeffid'``) or
reject the first line. A UTF-16 or UTF-32 file, or a byte that is not UTF-8, is an error that says where.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd

# extension -> format; the message for an unknown extension lists these
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".tab": "TSV",
    ".parquet": "Parquet",
    ".pq": "Parquet",
    ".jsonl": "JSONL",
    ".ndjson": "JSONL",
}
UTF8_BOM = b"\xef\xbb\xbf"
# UTF-32 first: its little-endian mark starts with UTF-16's
_OTHER_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_SHOW_ROWS = 5  # how many row numbers a message lists


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
) -> pd.DataFrame:
    """Read ``path`` (CSV, TSV, Parquet or JSONL, by extension) and validate it; see :func:`validate_frame`."""
    path = Path(path)
    name = str(path)
    fmt = SUPPORTED_EXTENSIONS.get(path.suffix.lower())
    expected = f"a {fmt} file" if fmt else f"a file ending in one of {', '.join(SUPPORTED_EXTENSIONS)}"
    if path.is_dir():
        raise LlmkitError(f"{name}: is a directory; expected {expected}")
    if fmt is None:
        raise LlmkitError(
            f"{name}: unknown file type {path.suffix or '(no extension)'!r}; expected {expected}"
        )
    if not path.exists():
        raise LlmkitError(f"{name}: no such file; expected {expected}{_nearby_files(path)}")
    raw = path.read_bytes()
    if not raw.strip() or raw.strip() == UTF8_BOM:
        raise LlmkitError(f"{name}: file is empty; expected a {fmt} table with a header and data rows")
    df = _read_parquet(path, name) if fmt == "Parquet" else _parse_text(_decode_utf8(raw, name), fmt, name)
    return validate_frame(
        df,
        name=name,
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


# ------------------------------------------------------------------------------------------- reading


def _decode_utf8(raw: bytes, name: str) -> str:
    """The file's text: a UTF-8 BOM stripped, anything that is not UTF-8 an error that says where."""
    for bom, encoding in _OTHER_BOMS:
        if raw.startswith(bom):
            raise LlmkitError(f"{name}: file is {encoding} encoded; expected UTF-8 (re-save as UTF-8)")
    start = len(UTF8_BOM) if raw.startswith(UTF8_BOM) else 0
    nul = raw.find(b"\x00", start, start + 4096)
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise LlmkitError(
            f"{name}: NUL byte at byte offset {nul} (line {line}), as in UTF-16 text without a byte-order "
            "mark; expected UTF-8 (re-save as UTF-8)"
        )
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        line = raw.count(b"\n", 0, offset) + 1
        raise LlmkitError(
            f"{name}: byte 0x{raw[offset]:02x} at byte offset {offset} (line {line}) is not UTF-8; "
            "expected UTF-8 (re-save as UTF-8, e.g. Excel's 'CSV UTF-8'; Latin-1 and cp1252 are not read)"
        ) from None


def _parse_text(text: str, fmt: str, name: str) -> pd.DataFrame:
    import pandas as pd

    if fmt == "JSONL":
        return pd.DataFrame.from_records(_jsonl_records(text, name))
    try:
        return pd.read_csv(io.StringIO(text), sep="\t" if fmt == "TSV" else ",")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LlmkitError(f"{name}: could not parse as {fmt}: {exc}") from None


def _jsonl_records(text: str, name: str) -> list[dict[str, Any]]:
    records = []
    # split on "\n" only: str.splitlines would also break at U+2028 inside a JSON string
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LlmkitError(
                f"{name}: line {lineno} is not valid JSON ({exc.msg} at column {exc.colno}); "
                "expected one JSON object per line"
            ) from None
        if not isinstance(record, dict):
            raise LlmkitError(
                f"{name}: line {lineno} holds a JSON {type(record).__name__}; expected one JSON object "
                '({"column": value, ...}) per line'
            )
        records.append(record)
    return records


def _read_parquet(path: Path, name: str) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged or foreign file
        raise LlmkitError(f"{name}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None


def _nearby_files(path: Path) -> str:
    """'; did you mean notes.csv?' when a file with a close name sits in the same folder."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f" (folder {str(parent)!r} does not exist either)"
    close = difflib.get_close_matches(path.name, sorted(p.name for p in parent.iterdir()), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# ---------------------------------------------------------------------------------------- validating


def show_list(values: Iterable[Any], limit: int = 8) -> str:
    """'a, b, c' -- or, past ``limit`` values, 'a, b, ..., h (60 in all)': a list a one-line message can hold."""
    items = [str(v) for v in values]
    if not items:
        return "(none)"
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"


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
        listed = ", ".join(f"class {_show(k)} has {v} row{'s' if v != 1 else ''}" for k, v in small)
        raise LlmkitError(
            f"{name}: label column {col!r}: {listed}; expected at least {min_per_class} rows per class "
            f"(min_per_class={min_per_class})"
        )


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
        listed = ", ".join(f"split {k!r} has {v} row{'s' if v != 1 else ''}" for k, v in small)
        raise LlmkitError(
            f"{name}: split column {col!r}: {listed}; expected at least {min_rows_per_split} rows per split "
            f"(min_rows_per_split={min_rows_per_split})"
        )
