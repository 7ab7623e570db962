"""read_table / validate_frame: every bad input is one LlmkitError line naming the file and the column."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.data.tables import SUPPORTED_EXTENSIONS, read_table, validate_frame

CSV = "id,text,outcome\n1,polyuria and thirst,1\n2,knee pain,0\n3,blurred vision,1\n4,cough,0\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def error(path_or_df, *words: str, **kwargs) -> str:
    """Run read_table (or validate_frame on a DataFrame), expect one LlmkitError line holding every word."""
    with pytest.raises(LlmkitError) as info:
        if isinstance(path_or_df, pd.DataFrame):
            validate_frame(path_or_df, **kwargs)
        else:
            read_table(path_or_df, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


# ------------------------------------------------------------------------------------------ happy paths

FRAME = pd.DataFrame(
    {"id": [1, 2, 3, 4], "text": ["polyuria", "knee pain", "thirst", "cough"], "outcome": [1, 0, 1, 0]}
)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_each_format_reads_back_the_same_table(tmp_path, suffix):
    path = tmp_path / f"notes{suffix}"
    if suffix == ".csv":
        FRAME.to_csv(path, index=False)
    elif suffix == ".tsv":
        FRAME.to_csv(path, index=False, sep="\t")
    elif suffix == ".parquet":
        FRAME.to_parquet(path, index=False)
    else:
        path.write_text("\n".join(json.dumps(r) for r in FRAME.to_dict("records")) + "\n", encoding="utf-8")
    df = read_table(path, text_column="text", label_column="outcome", feature_columns=["id"])
    assert list(df.columns) == ["id", "text", "outcome"]
    assert df["text"].tolist() == FRAME["text"].tolist()
    assert df["outcome"].tolist() == [1, 0, 1, 0]


def test_validate_frame_accepts_a_good_frame_and_returns_it():
    assert validate_frame(FRAME, text_column="text", label_column="outcome", feature_columns="id") is FRAME


def test_utf8_bom_is_stripped_and_accepted(tmp_path):
    for name, content in [("bom.csv", CSV), ("bom.jsonl", '{"id": 1, "text": "a", "outcome": 0}\n')]:
        path = write(tmp_path, name, b"\xef\xbb\xbf" + content.encode("utf-8"))
        df = read_table(path, text_column="text")
        assert df.columns[0] == "id"


def test_split_column_is_counted_per_split(tmp_path):
    path = write(tmp_path, "notes.csv", "text,label,split\na,0,train\nb,1,train\nc,0,test\nd,1,test\n")
    assert len(read_table(path, label_column="label", split_column="split", min_rows_per_split=2)) == 4


# ----------------------------------------------------------------------------------------------- files


def test_missing_file(tmp_path):
    write(tmp_path, "notes.csv", CSV)
    message = error(tmp_path / "note.csv", "note.csv", "no such file", "CSV")
    assert "did you mean 'notes.csv'" in message


def test_directory_given_as_file(tmp_path):
    (tmp_path / "notes.csv").mkdir()
    error(tmp_path / "notes.csv", "notes.csv", "is a directory")


def test_unknown_extension_lists_the_supported_ones(tmp_path):
    message = error(write(tmp_path, "notes.txt", "x"), "notes.txt", "'.txt'")
    for ext in SUPPORTED_EXTENSIONS:
        assert ext in message
    error(write(tmp_path, "notes.xls", "x"), "notes.xls", "'.xls'", "save it as .xlsx")


@pytest.mark.parametrize("name", ["empty.csv", "empty.jsonl", "empty.parquet"])
def test_empty_file(tmp_path, name):
    error(write(tmp_path, name, b""), name, "file is empty")


def test_header_only_table_has_no_rows(tmp_path):
    error(
        write(tmp_path, "header.csv", "id,text,outcome\n"), "header.csv", "no data rows", "id, text, outcome"
    )


def test_too_few_rows(tmp_path):
    error(write(tmp_path, "notes.csv", CSV), "notes.csv", "4 rows", "at least 10", min_rows=10)


# -------------------------------------------------------------------------------------------- encodings


def test_non_utf8_byte_names_offset_and_line(tmp_path):
    raw = b"id,text\n1,ok\n2,caf\xe9\n"  # Latin-1 e-acute
    offset = raw.index(b"\xe9")
    message = error(write(tmp_path, "latin.csv", raw), "latin.csv", "0xe9", f"byte offset {offset}", "line 3")
    assert "expected UTF-8, or pass encoding (e.g. -p encoding latin-1" in message


@pytest.mark.parametrize(
    ("encoding", "label"), [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")]
)
def test_utf16_and_utf32_bom_are_refused(tmp_path, encoding, label):
    raw = CSV.encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw
    message = error(
        write(tmp_path, "wide.csv", raw), "wide.csv", f"file is {label} encoded", "expected UTF-8"
    )
    assert "re-save as UTF-8" in message


def test_utf16_without_bom_is_refused(tmp_path):
    error(write(tmp_path, "wide.tsv", CSV.encode("utf-16-le")), "wide.tsv", "NUL byte", "expected UTF-8")


def test_bad_jsonl_line_is_named(tmp_path):
    path = write(tmp_path, "notes.jsonl", '{"text": "a"}\n{"text": \n')
    error(path, "notes.jsonl", "line 2", "not valid JSON")
    error(write(tmp_path, "list.jsonl", "[1, 2]\n"), "list.jsonl", "line 1", "expected one JSON object")


def test_damaged_parquet(tmp_path):
    error(write(tmp_path, "notes.parquet", b"not parquet"), "notes.parquet", "not a readable Parquet file")


# ---------------------------------------------------------------------------------------------- columns


def test_missing_column_lists_columns_and_suggests(tmp_path):
    message = error(
        write(tmp_path, "notes.csv", CSV),
        "notes.csv",
        "'texts'",
        "columns are: id, text, outcome",
        text_column="texts",
    )
    assert "did you mean 'text'?" in message


def test_missing_column_without_a_close_match(tmp_path):
    message = error(
        write(tmp_path, "notes.csv", CSV),
        "notes.csv",
        "no label column 'diagnosis'",
        label_column="diagnosis",
    )
    assert "did you mean" not in message


def test_semicolon_separated_csv_gets_a_hint(tmp_path):
    path = write(tmp_path, "notes.csv", CSV.replace(",", ";"))
    error(path, "notes.csv", "'text'", "separated by ';'", text_column="text")


def test_bom_glued_column_name_in_a_frame_is_explained():
    df = FRAME.rename(columns={"id": "\ufeffid"})
    error(df, "frame", "'id'", "byte-order mark", "utf-8-sig", name="frame", feature_columns=["id"])


def test_label_with_one_class(tmp_path):
    path = write(tmp_path, "notes.csv", "text,outcome\na,1\nb,1\nc,1\n")
    error(path, "notes.csv", "'outcome'", "one class only", "1: 3 rows", label_column="outcome")


def test_too_few_rows_per_class(tmp_path):
    path = write(tmp_path, "notes.csv", "text,outcome\na,yes\nb,no\nc,no\nd,no\n")
    message = error(
        path,
        "notes.csv",
        "'outcome'",
        "class 'yes' has 1 row",
        "at least 3",
        label_column="outcome",
        min_per_class=3,
    )
    assert "min_per_class=3" in message


def test_missing_labels(tmp_path):
    path = write(tmp_path, "notes.csv", "text,outcome\na,1\nb,\nc,0\n")
    error(path, "notes.csv", "'outcome'", "1 missing value", "row 2", label_column="outcome")


def test_too_few_rows_for_a_split(tmp_path):
    path = write(tmp_path, "notes.csv", "text,label,split\na,0,train\nb,1,train\nc,0,train\nd,1,test\n")
    error(
        path,
        "notes.csv",
        "'split'",
        "split 'test' has 1 row",
        "at least 2",
        split_column="split",
        min_rows_per_split=2,
    )


def test_empty_and_nan_texts_name_count_and_rows(tmp_path):
    path = write(tmp_path, "notes.csv", 'id,text,outcome\n1,a,0\n2,,1\n3,"   ",0\n4,d,1\n5,,0\n')
    error(
        path,
        "notes.csv",
        "'text'",
        "3 empty or missing",
        "rows 2, 3, 5",
        "1-based data rows",
        text_column="text",
    )


def test_text_column_holding_numbers(tmp_path):
    error(
        write(tmp_path, "notes.csv", CSV),
        "notes.csv",
        "'id'",
        "holds numbers",
        "expected text",
        text_column="id",
    )


def test_non_numeric_feature_names_an_example(tmp_path):
    path = write(tmp_path, "vitals.csv", "text,bmi\na,31.2\nb,obese\nc,27.0\n")
    error(
        path,
        "vitals.csv",
        "'bmi'",
        "not numeric",
        "row 2",
        "'obese'",
        "expected numbers",
        feature_columns=["bmi"],
    )


def test_missing_feature_values(tmp_path):
    path = write(tmp_path, "vitals.csv", "text,bmi\na,31.2\nb,\nc,27.0\n")
    error(path, "vitals.csv", "'bmi'", "1 missing value", "row 2", feature_columns=["bmi"])
    assert len(read_table(path, feature_columns=["bmi"], allow_missing_features=True)) == 3


def test_validate_frame_names_the_frame():
    df = pd.DataFrame({"text": ["a", None], "label": [0, 1]})
    error(df, "train_df", "'text'", "row 2", name="train_df", text_column="text")
    with pytest.raises(LlmkitError, match="expected a pandas DataFrame, got list"):
        validate_frame([1, 2], name="rows")


# ---------------------------------------------------------------------------------- encoding parameter


def test_latin1_needs_encoding_and_then_round_trips(tmp_path):
    raw = "id,text,price\n1,café au lait,£3\n2,crème brûlée,£5\n".encode("latin-1")
    path = write(tmp_path, "menu.csv", raw)
    message = error(path, "menu.csv", "is not UTF-8", "pass encoding", "latin-1")
    assert "0xe9" in message
    df = read_table(path, text_column="text", encoding="latin-1")
    assert df["text"].tolist() == ["café au lait", "crème brûlée"]
    assert df["price"].tolist() == ["£3", "£5"]


def test_cp1252_smart_quotes_round_trip(tmp_path):
    text = "id,text\n1,\u201cquoted\u201d \u2014 it\u2019s fine\n2,plain\n"
    path = write(tmp_path, "quotes.csv", text.encode("cp1252"))
    error(path, "quotes.csv", "0x93", "is not UTF-8", "cp1252")
    assert read_table(path, encoding="cp1252")["text"][0] == "\u201cquoted\u201d \u2014 it\u2019s fine"


def test_bytes_the_named_codec_cannot_read_are_located(tmp_path):
    path = write(tmp_path, "odd.csv", b"id,text\n1,a\x81b\n")  # 0x81 is undefined in cp1252
    error(path, "odd.csv", "0x81", "byte offset 11", "line 2", "is not cp1252", encoding="cp1252")


def test_unknown_codec_names_the_parameter(tmp_path):
    path = write(tmp_path, "notes.csv", CSV)
    message = error(
        path, "notes.csv", "unknown encoding 'latin-9000'", "encoding parameter", encoding="latin-9000"
    )
    assert "cp1252" in message


def test_utf8_bom_with_another_encoding_is_explained(tmp_path):
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + CSV.encode("utf-8"))
    error(path, "bom.csv", "UTF-8 byte-order mark", "not iso8859-1", encoding="latin-1")
    assert read_table(path, encoding="utf-8-sig").columns[0] == "id"


# -------------------------------------------------------------------------------------------- headers


def test_bom_and_unnamed_empty_column_is_dropped_with_a_note(tmp_path, capsys):
    content = "id,text,,reading,\n1,a,,0.5,\n2,b,,0.7,\n3,c,, 0.9,\n"
    path = write(tmp_path, "sensors.csv", b"\xef\xbb\xbf" + content.encode("utf-8"))
    df = read_table(path, feature_columns=["reading"])
    assert list(df.columns) == ["id", "text", "reading"]
    out = capsys.readouterr().out.strip()
    assert out == f"{path}: dropped 2 unnamed empty columns (Unnamed: 2, Unnamed: 4)"


def test_unnamed_column_with_values_is_kept(tmp_path, capsys):
    path = write(tmp_path, "notes.csv", "id,,text\n1,x,a\n2,,b\n")
    df = read_table(path)
    assert list(df.columns) == ["id", "Unnamed: 1", "text"]
    assert capsys.readouterr().out == ""


def test_header_names_lose_surrounding_spaces(tmp_path, capsys):
    path = write(tmp_path, "export.csv", " id , text ,outcome \n1,a,0\n2,b,1\n")
    df = read_table(path, text_column="text", label_column="outcome", min_per_class=1)
    assert list(df.columns) == ["id", "text", "outcome"]
    assert capsys.readouterr().out == ""


def test_duplicated_header_in_csv_is_refused(tmp_path):
    path = write(tmp_path, "people.csv", "id,name,age,city,zip,note,age\n1,a,30,x,1,n,31\n")
    error(
        path,
        "people.csv",
        "column name 'age' appears 2 times in the header (columns 3 and 7)",
        "expected unique column names",
    )
    spaced = write(tmp_path, "spaced.csv", "id, age,age \n1,2,3\n")  # the same once stripped
    error(spaced, "spaced.csv", "'age' appears 2 times", "(columns 2 and 3)")


def test_duplicated_keys_in_jsonl_after_stripping_are_refused(tmp_path):
    path = write(tmp_path, "rows.jsonl", '{"age": 1, " age": 2}\n')
    error(path, "rows.jsonl", "'age' appears 2 times")


# ---------------------------------------------------------------------------------------------- Excel

SHEET = pd.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "text": ["polyuria", "knee pain", "thirst", "cough"],
        "bmi": [31.5, 22.0, 28.25, 24.0],
        "seen": pd.to_datetime(["2024-01-02", "2024-02-03", "2024-03-04", "2024-04-05"]),
        "outcome": [1, 0, 1, 0],
    }
)


def write_excel(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for sheet_name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=sheet_name, index=False)
    return path


def test_xlsx_reads_back_with_dtypes(tmp_path):
    path = write_excel(tmp_path / "notes.xlsx", {"notes": SHEET})
    df = read_table(path, text_column="text", label_column="outcome", feature_columns=["bmi", "id"])
    assert list(df.columns) == list(SHEET.columns)
    assert df["text"].tolist() == SHEET["text"].tolist()
    assert df["bmi"].tolist() == SHEET["bmi"].tolist()
    assert pd.api.types.is_integer_dtype(df["id"]) and pd.api.types.is_integer_dtype(df["outcome"])
    assert pd.api.types.is_float_dtype(df["bmi"])
    assert pd.api.types.is_datetime64_any_dtype(df["seen"])
    assert (df["seen"] == SHEET["seen"]).all()


def test_sheet_selection_by_name_and_index(tmp_path):
    other = pd.DataFrame({"code": ["a", "b"], "count": [7, 9]})
    path = write_excel(tmp_path / "book.xlsx", {"notes": SHEET, "codes": other})
    assert list(read_table(path).columns) == list(SHEET.columns)  # the first sheet by default
    for sheet in ("codes", 1, "1"):  # "-p sheet 1" arrives as a string
        assert read_table(path, sheet=sheet)["count"].tolist() == [7, 9]
    error(path, "book.xlsx", "no sheet 'cods'", "sheets are: 'notes', 'codes'", sheet="cods")
    error(path, "book.xlsx", "no sheet 2", "0-based index below 2", sheet=2)
    error(write(tmp_path, "notes.csv", CSV), "notes.csv", "sheet='codes'", "Excel files only", sheet="codes")


def test_duplicated_header_in_excel_is_refused(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    for row in (["id", "age", "text", "age"], [1, 30, "a", 31], [2, 40, "b", 41]):
        book.active.append(row)
    path = tmp_path / "people.xlsx"
    book.save(path)
    error(path, "people.xlsx", "'age' appears 2 times in the header (columns 2 and 4)")


def test_excel_unnamed_empty_column_is_dropped(tmp_path, capsys):
    from openpyxl import Workbook

    book = Workbook()
    for row in (["id", None, " text "], [1, None, "a"], [2, None, "b"]):
        book.active.append(row)
    path = tmp_path / "sensors.xlsm"
    book.save(path)
    assert list(read_table(path, text_column="text").columns) == ["id", "text"]
    assert "dropped 1 unnamed empty column (Unnamed: 1)" in capsys.readouterr().out


def test_damaged_xlsx(tmp_path):
    error(write(tmp_path, "notes.xlsx", b"PK\x03\x04 not really"), "notes.xlsx", "not a readable Excel file")


# ------------------------------------------------------------------------------------------ long lists


def test_sixty_small_classes_give_a_short_message_with_the_count(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [f"text {i},class_{i:02d}" for i in range(60)]
    write(tmp_path, "labels.csv", "text,label\n" + "\n".join(rows) + "\n")
    message = error(Path("labels.csv"), "labels.csv", "60 of 60 classes", "(60 in all)", label_column="label")
    assert len(message) < 300, message


def test_many_small_splits_are_cut(tmp_path):
    rows = [f"t{i},{i % 2},s{i:02d}" for i in range(30)]
    path = write(tmp_path, "splits.csv", "text,label,split\n" + "\n".join(rows) + "\n")
    message = error(path, "30 of 30 splits", "(30 in all)", split_column="split", min_rows_per_split=2)
    assert message.count("split 's") == 4


def test_long_column_list_is_cut(tmp_path):
    header = ",".join(f"c{i}" for i in range(40))
    path = write(tmp_path, "wide.csv", header + "\n" + ",".join("1" * 40) + "\n")
    message = error(path, "no text column 'text'", "(40 in all)", text_column="text")
    assert "c39" not in message
