"""Read a user's table file into a DataFrame: the reading half of :func:`llmkit.data.tables.read_table`.

:func:`read_frame` reads a CSV, TSV, Parquet, JSONL or Excel file (chosen by its extension) and tidies its
header, the same way for every format:

- header names lose surrounding spaces (``" age "`` -> ``"age"``), as exported CSVs often carry them;
- a column name that appears twice in the header is an error (pandas would silently call the second
  ``age`` ``age.1``), read from the raw header: the first CSV/TSV record, the sheet's first row;
- an unnamed column (pandas calls a header-less column ``Unnamed: 3``) that is entirely empty is dropped,
  with one printed line saying so; an unnamed column that holds values is kept under that name.

Encodings (text formats only; Parquet and Excel carry their own): ``encoding`` is any Python codec name,
default UTF-8. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is stripped and accepted. Reading UTF-8, a
UTF-16/UTF-32 file or a byte that is not UTF-8 is an error that says where and names the ``encoding``
parameter as the way out. Every problem is one :class:`~llmkit.core.errors.LlmkitError` line.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import re
from collections.abc import Iterable
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
    ".xlsx": "Excel",
    ".xlsm": "Excel",
}
UTF8_BOM = b"\xef\xbb\xbf"
# UTF-32 first: its little-endian mark starts with UTF-16's
_OTHER_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_UNNAMED = re.compile(r"Unnamed: \d+")  # pandas' name for a column whose header cell is empty


def show_list(values: Iterable[Any], limit: int = 8) -> str:
    """'a, b, c' -- or, past ``limit`` values, 'a, b, ..., h (60 in all)': a list a one-line message can hold."""
    items = [str(v) for v in values]
    if not items:
        return "(none)"
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"


def read_frame(
    path: str | Path,
    *,
    encoding: str = "utf-8",  # any Python codec name, for CSV/TSV/JSONL; a UTF-8 BOM is always accepted
    sheet: str | int | None = None,  # Excel only: a sheet name or 0-based index; None -> the first sheet
) -> pd.DataFrame:
    """Read ``path`` by its extension into a frame with a tidy header (see the module docstring)."""
    path = Path(path)
    name = str(path)
    fmt = SUPPORTED_EXTENSIONS.get(path.suffix.lower())
    expected = f"a {fmt} file" if fmt else f"a file ending in one of {', '.join(SUPPORTED_EXTENSIONS)}"
    try:
        codec = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise LlmkitError(
            f"{name}: unknown encoding {encoding!r} (the encoding parameter); expected a Python codec name "
            "such as 'utf-8', 'latin-1' or 'cp1252'"
        ) from None
    if path.is_dir():
        raise LlmkitError(f"{name}: is a directory; expected {expected}")
    if fmt is None:
        hint = " (save it as .xlsx: the old .xls format is not read)" if path.suffix.lower() == ".xls" else ""
        raise LlmkitError(
            f"{name}: unknown file type {path.suffix or '(no extension)'!r}; expected {expected}{hint}"
        )
    if sheet is not None and fmt != "Excel":
        raise LlmkitError(
            f"{name}: sheet={sheet!r} given for a {fmt} file; sheet applies to Excel files only"
        )
    if not path.exists():
        raise LlmkitError(f"{name}: no such file; expected {expected}{_nearby_files(path)}")
    raw = path.read_bytes()
    if not raw.strip() or raw.strip() == UTF8_BOM:
        raise LlmkitError(f"{name}: file is empty; expected a {fmt} table with a header and data rows")
    header: list[str] | None = None  # the raw header, where the format can repeat a name
    if fmt == "Parquet":
        df = _read_parquet(path, name)
    elif fmt == "Excel":
        df, header = _read_excel(path, name, sheet)
    else:
        text = _decode(raw, name, codec)
        df = _parse_text(text, fmt, name)
        header = _csv_header(text, fmt) if fmt != "JSONL" else None
    return _tidy_header(df, header, name)


# ------------------------------------------------------------------------------------------ decoding


def _decode(raw: bytes, name: str, codec: str) -> str:
    """The file's text in ``codec``: a UTF-8 BOM stripped, bytes the codec cannot read an error that says where."""
    if codec not in ("utf-8", "utf-8-sig"):
        if raw.startswith(UTF8_BOM):
            raise LlmkitError(
                f"{name}: file starts with a UTF-8 byte-order mark, so it is UTF-8, not {codec}; "
                "expected no encoding parameter (UTF-8 is the default)"
            )
        try:
            return raw.decode(codec).removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise LlmkitError(
                f"{name}: byte 0x{raw[exc.start]:02x} at byte offset {exc.start} (line {line}) is not "
                f"{codec}; expected a file in the encoding passed ({codec}), or pass another encoding"
            ) from None
    for bom, label in _OTHER_BOMS:
        if raw.startswith(bom):
            raise LlmkitError(
                f"{name}: file is {label} encoded; expected UTF-8 (re-save as UTF-8, "
                f"or pass encoding {label.lower()})"
            )
    start = len(UTF8_BOM) if raw.startswith(UTF8_BOM) else 0
    nul = raw.find(b"\x00", start, start + 4096)
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise LlmkitError(
            f"{name}: NUL byte at byte offset {nul} (line {line}), as in UTF-16 text without a byte-order "
            "mark; expected UTF-8 (re-save as UTF-8, or pass encoding utf-16-le)"
        )
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        line = raw.count(b"\n", 0, offset) + 1
        raise LlmkitError(
            f"{name}: byte 0x{raw[offset]:02x} at byte offset {offset} (line {line}) is not UTF-8; "
            "expected UTF-8, or pass encoding (e.g. -p encoding latin-1 for a Latin-1 file, "
            "cp1252 for a Windows one)"
        ) from None


# ------------------------------------------------------------------------------------------- parsing


def _parse_text(text: str, fmt: str, name: str) -> pd.DataFrame:
    import pandas as pd

    if fmt == "JSONL":
        return pd.DataFrame.from_records(_jsonl_records(text, name))
    try:
        return pd.read_csv(io.StringIO(text), sep="\t" if fmt == "TSV" else ",")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LlmkitError(f"{name}: could not parse as {fmt}: {_one_line(exc)}") from None


def _csv_header(text: str, fmt: str) -> list[str]:
    """The first non-blank CSV/TSV record, as written (pandas would already have renamed a repeat)."""
    for record in csv.reader(io.StringIO(text), delimiter="\t" if fmt == "TSV" else ","):
        if any(cell.strip() for cell in record):
            return record
    return []


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
        raise LlmkitError(
            f"{name}: not a readable Parquet file ({type(exc).__name__}: {_one_line(exc)})"
        ) from None


def _read_excel(path: Path, name: str, sheet: str | int | None) -> tuple[pd.DataFrame, list[str]]:
    """One sheet (the first by default) and its raw header row, via openpyxl."""
    import pandas as pd

    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # zipfile, openpyxl and XML errors for a damaged or foreign file
        raise LlmkitError(
            f"{name}: not a readable Excel file ({type(exc).__name__}: {_one_line(exc)})"
        ) from None
    with book:
        sheets = [str(s) for s in book.sheet_names]
        chosen = _choose_sheet(sheets, sheet, name)
        try:
            df = pd.read_excel(book, sheet_name=chosen)
            first = pd.read_excel(book, sheet_name=chosen, header=None, nrows=1)
        except Exception as exc:
            raise LlmkitError(
                f"{name}: sheet {chosen!r} is not readable ({type(exc).__name__}: {_one_line(exc)})"
            ) from None
    header = ["" if pd.isna(v) else str(v) for v in first.iloc[0]] if len(first) else []
    return df, header


def _choose_sheet(sheets: list[str], sheet: str | int | None, name: str) -> str:
    if sheet is None:
        return sheets[0]
    if isinstance(sheet, str) and sheet in sheets:
        return sheet
    index = sheet if isinstance(sheet, int) else int(sheet) if str(sheet).strip().isdigit() else None
    if index is not None and 0 <= index < len(sheets):  # "-p sheet 1" arrives as a string
        return sheets[index]
    raise LlmkitError(
        f"{name}: no sheet {sheet!r}; sheets are: {show_list(map(repr, sheets))} "
        f"(sheet takes a name or a 0-based index below {len(sheets)})"
    )


# -------------------------------------------------------------------------------------------- header


def _tidy_header(df: pd.DataFrame, header: list[str] | None, name: str) -> pd.DataFrame:
    """Strip header names, refuse a repeated one, drop unnamed columns that hold nothing."""
    columns = [c.strip() if isinstance(c, str) else c for c in df.columns]
    columns = [f"Unnamed: {i}" if c == "" else c for i, c in enumerate(columns)]
    written = [h.strip() for h in header] if header is not None else [str(c) for c in columns]
    _refuse_repeats(written, name)
    df.columns = columns
    empty = [c for c in df.columns if isinstance(c, str) and _UNNAMED.fullmatch(c) and _blank(df[c]).all()]
    if empty:
        df = df.drop(columns=empty)
        print(
            f"{name}: dropped {len(empty)} unnamed empty column{'s' if len(empty) > 1 else ''} ({show_list(empty)})"
        )
    return df


def _refuse_repeats(names: list[str], name: str) -> None:
    positions: dict[str, list[int]] = {}
    for i, column in enumerate(names, 1):
        if column:  # empty header cells are unnamed columns, not repeats
            positions.setdefault(column, []).append(i)
    repeated = {c: p for c, p in positions.items() if len(p) > 1}
    if not repeated:
        return
    column, where = next(iter(repeated.items()))
    shown = f"{', '.join(map(str, where[:-1]))} and {where[-1]}" if len(where) <= 5 else show_list(where, 5)
    others = [c for c in repeated if c != column]
    also = f"; also repeated: {show_list(map(repr, others), 4)}" if others else ""
    raise LlmkitError(
        f"{name}: column name {column!r} appears {len(where)} times in the header (columns {shown}){also}; "
        "expected unique column names"
    )


def _blank(values: pd.Series) -> Any:
    return values.isna() | (values.astype(str).str.strip() == "")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _nearby_files(path: Path) -> str:
    """'; did you mean notes.csv?' when a file with a close name sits in the same folder."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f" (folder {str(parent)!r} does not exist either)"
    close = difflib.get_close_matches(path.name, sorted(p.name for p in parent.iterdir()), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
