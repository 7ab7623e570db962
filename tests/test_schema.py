"""infer_schema: every role rule and override on tiny tables made here; the Schema's round trip and target codes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.study import values
from llmkit.study.schema import Schema, infer_schema

N = 60
WORDS = ["pain", "thirst", "fatigue", "knee", "vision", "cough", "fever", "rash"]


def error(*words: str, df: pd.DataFrame | None = None, target: str = "y", **kwargs) -> str:
    """infer_schema raises one LlmkitError line holding every word."""
    with pytest.raises(LlmkitError) as info:
        infer_schema(table() if df is None else df, target, name="t.csv", **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith("t.csv: "), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def table(n: int = N, seed: int = 0) -> pd.DataFrame:
    """One column of every kind, and a binary target."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "PatientID": np.arange(n) + 1000,
            "age": rng.integers(20, 80, n),
            "bmi": rng.normal(30, 5, n),
            "sex": rng.choice(["F", "M"], n),
            "smoker": rng.choice([True, False], n),
            "note": [" ".join(rng.choice(WORDS, 6)) + f" day {i}" for i in range(n)],
            "visit": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "empty": [None] * n,
            "blank": [" "] * n,
            "site": ["north"] * n,
            "score": [f" {v} " for v in rng.integers(0, 100, n)],
            "income": rng.choice(["1,200", "3,400", "12,000"], n),
            "code": [f"C{i:04d}" for i in range(n)],
            "city": [f"city{i % 55}" for i in range(n)],
            "ward": [f"ward {i % 55} east" for i in range(n)],
            "y": np.tile([0, 1], n // 2),
        }
    )


def roles(schema: Schema) -> dict[str, str]:
    return {c.name: c.role for c in schema.columns}


def test_every_column_gets_the_role_an_analyst_expects():
    schema = infer_schema(table(), "y", name="t.csv")
    assert roles(schema) == {
        "PatientID": "id",  # whole numbers, all unique, named like an id
        "age": "numeric",
        "bmi": "numeric",
        "sex": "categorical",
        "smoker": "categorical",  # bool
        "note": "text",  # mean 8 words, all distinct
        "visit": "datetime",  # dates stored as strings: noted, never a feature
        "empty": "dropped",
        "blank": "dropped",  # blank strings count as missing
        "site": "dropped",
        "score": "numeric",  # " 5 " parses fully as a number
        "income": "categorical",  # "1,200" does not: strings
        "code": "id",  # short strings, all distinct
        "city": "dropped",  # 55 one-word values > max_categories
        "ward": "text",  # 55 values > max_categories, 3 words each
        "y": "target",
    }
    why = {c.name: c.why for c in schema.columns}
    assert why["empty"] == "empty" and why["blank"] == "empty" and why["site"] == "constant (1 value)"
    assert why["score"].startswith("numbers stored as text") and why["city"] == "high-cardinality (55 values)"
    assert "separators" in why["income"] and why["bmi"] == f"float64, {N} values"
    assert why["note"] == "strings, mean 8 words" and why["code"] == "all values unique"
    assert schema.features == ["age", "bmi", "sex", "smoker", "score", "income"]  # table order
    assert schema.numeric == ["age", "bmi", "score"] and schema.text == ["note", "ward"]
    assert schema.column("sex").categories == ("F", "M")
    assert schema.column("smoker").categories == ("False", "True")
    assert schema.column("income").categories == ("1,200", "12,000", "3,400")  # strings sort as strings
    assert schema.column("empty").missing == N and schema.column("age").unique == table()["age"].nunique()
    assert (schema.task, schema.classes) == ("binary", ("0", "1"))


def test_table_lists_every_column_in_order():
    frame = infer_schema(table(), "y").table()
    assert list(frame.columns) == ["column", "role", "dtype", "unique", "missing", "why"]
    assert list(frame["column"]) == list(table().columns)


@pytest.mark.parametrize(
    ("name", "role"),
    [("customer_id", "id"), ("PatientID", "id"), ("orderId", "id"), ("key", "id"), ("RowNumber", "id"),
     ("invoice no", "id"), ("Unnamed: 0", "id"), ("paid", "numeric"), ("weight", "numeric")],
)  # fmt: skip
def test_unique_integers_are_an_id_only_when_named_like_one(name, role):
    df = pd.DataFrame({name: np.arange(N) * 7, "x": np.arange(N) % 5, "y": np.tile([0, 1], N // 2)})
    assert roles(infer_schema(df, "y"))[name] == role


def test_a_unique_integer_column_with_repeats_or_fractions_is_numeric():
    df = pd.DataFrame({"id": np.arange(N) * 0.5, "y": np.tile([0, 1], N // 2)})
    assert roles(infer_schema(df, "y"))["id"] == "numeric"


@pytest.mark.parametrize(
    ("target", "task", "classes"),
    [
        ([True, False] * 6, "binary", ("False", "True")),
        (["no", "yes", "maybe"] * 4, "multiclass", ("maybe", "no", "yes")),
        ([1, 2, 10] * 4, "multiclass", ("1", "2", "10")),  # integers, <= 10 values: numbers sort numerically
        (["0", "1"] * 6, "binary", ("0", "1")),  # numbers stored as text
        ([0.0, 1.0] * 6, "binary", ("0", "1")),  # whole numbers stored as floats
        (list(range(12)), "regression", ()),  # integers, > 10 values
        ([0.5, 1.5, 2.5, 3.0] * 3, "regression", ()),
    ],
)
def test_the_task_is_inferred_from_the_target(target, task, classes):
    if task != "regression":
        target = sorted(target, key=str)  # same rows, any order
    df = pd.DataFrame({"x": np.arange(12) % 4, "y": target})
    schema = infer_schema(df, "y")
    assert (schema.task, schema.classes) == (task, classes)
    assert schema.column("y").role == "target" and schema.features == ["x"]


def test_task_overrides_the_inference():
    df = pd.DataFrame({"x": np.arange(12), "y": [1, 2, 3] * 4})
    assert infer_schema(df, "y", task="regression").task == "regression"
    df = pd.DataFrame({"x": np.arange(12), "y": [1.0, 2.0, 3.0, 4.0] * 3})
    assert infer_schema(df, "y", task="multiclass").classes == ("1", "2", "3", "4")
    error(
        "task='regression'", "'y'", "not numbers", df=pd.DataFrame({"y": ["a", "b"] * 6}), task="regression"
    )
    error("task='binary'", "3 classes", df=pd.DataFrame({"y": ["a", "b", "c"] * 4}), task="binary")
    error("task 'ordinal'", "binary, multiclass, regression", task="ordinal")


def test_target_errors_are_one_line_and_name_the_target():
    df = table()
    df.loc[[1, 4], "y"] = np.nan
    error("target 'y'", "2 missing", "rows 2, 5", df=df)
    error("target 'y'", "one class", df=table().assign(y=1))
    error("no target column 'Y'", "did you mean 'y'", target="Y")
    df = pd.DataFrame({"y": ["a"] * 10 + ["b"] * 2 + ["c"]})
    error("target 'y'", "2 of 3 classes have fewer than 3 rows", "'b' (2 rows)", "'c' (1 row)", df=df)


def test_many_rare_classes_make_a_short_message():
    df = pd.DataFrame({"x": np.arange(120), "y": [f"class {i}" for i in range(60)] * 2})
    message = error("60 of 60 classes", "(60 in all)", df=df)
    assert len(message) < 400, message


def test_time_column_is_parsed_and_never_a_feature():
    df = table()
    schema = infer_schema(df, "y", time_column="visit")
    assert schema.time_column == "visit" and schema.column("visit").role == "datetime"
    assert "2020-01-01..2020-02-29" in schema.column("visit").why and "visit" not in schema.features
    years = pd.DataFrame(
        {"year": np.repeat(np.arange(2000, 2012), 5), "x": np.arange(N), "y": np.arange(N) % 2}
    )
    assert (
        infer_schema(years, "y", time_column="year").column("year").role == "datetime"
    )  # numbers order the rows
    df.loc[7, "visit"] = "soon"
    error("time column 'visit'", "'soon'", df=df, time_column="visit")
    df.loc[7, "visit"] = None
    error("time column 'visit'", "1 missing", "row 8", df=df, time_column="visit")


def test_dates_are_found_but_weekdays_and_bands_are_not():
    df = pd.DataFrame(
        {
            "stamp": pd.date_range("2021-03-01 08:00", periods=N, freq="h"),  # datetime64
            "when": pd.date_range("2021-03-01", periods=N).strftime("%d %b %Y"),  # "01 Mar 2021"
            "day": np.tile(["Mon", "Tue", "Wed", "Thu", "Fri"], N // 5),
            "band": np.tile(["1-2", "3-4", "5-6"], N // 3),
            "y": np.arange(N) % 2,
        }
    )
    assert roles(infer_schema(df, "y")) == {
        "stamp": "datetime",
        "when": "datetime",
        "day": "categorical",
        "band": "categorical",
        "y": "target",
    }


def test_group_column_is_an_id_kept_out_of_the_features():
    df = table().assign(patient=np.arange(N) % 12)
    schema = infer_schema(df, "y", group_column="patient")
    assert schema.group_column == "patient" and schema.column("patient").role == "id"
    assert "patient" not in schema.features and schema.column("patient").why == "group_column"


def test_text_columns_are_exactly_the_text():
    schema = infer_schema(table(), "y", text_columns=["sex", "note"])
    assert schema.text == ["sex", "note"]
    assert schema.column("ward").role == "dropped" and "not in text_columns" in schema.column("ward").why
    error("text column 'age'", "int64", text_columns=["age"])
    error("text column 'empty'", "empty", text_columns=["empty"])


def test_feature_columns_are_exactly_the_features():
    schema = infer_schema(table(), "y", feature_columns=["bmi", "sex", "site", "PatientID"])
    assert schema.features == ["PatientID", "bmi", "sex", "site"]  # table order
    assert schema.column("PatientID").role == "numeric"  # asked for: no longer an id
    assert schema.column("site").role == "categorical"  # asked for: kept though constant
    assert schema.column("age").why == "not in feature_columns" and schema.text == ["note", "ward"]
    assert schema.column("visit").role == "datetime"  # dates stay noted, not dropped
    few = infer_schema(table(), "y", feature_columns=["bmi", "code"], max_categories=N)
    assert few.column("code").role == "categorical" and few.column("code").categories[:2] == (
        "C0000",
        "C0001",
    )
    error("feature column 'city'", "55 distinct strings", "max_categories=50", feature_columns=["city"])
    error("feature column 'empty'", "empty", feature_columns=["empty"])


def test_drop_columns_and_conflicting_or_unknown_names():
    schema = infer_schema(table(), "y", drop_columns=["age", "note"], split_column="sex")
    assert schema.column("age").role == "dropped" and schema.column("note").why == "drop_columns"
    assert schema.column("sex").why == "split_column" and "sex" not in schema.features
    error("'age'", "feature", "drop", feature_columns=["age"], drop_columns=["age"])
    error("'y'", "target", "text", text_columns=["y"])
    error("'visit'", "time", "group", time_column="visit", group_column="visit")
    error("no feature column 'bmx'", "did you mean 'bmi'", feature_columns=["bmx"])
    error("no drop column 'nope'", drop_columns=["nope"])


def test_bad_frames_are_refused_in_one_line():
    error("column names repeat", "'x'", df=pd.DataFrame([[1, 2, 0]], columns=["x", "x", "y"]))
    error("column names must be strings", df=pd.DataFrame({0: [1, 2], "y": [0, 1]}))
    error("no data rows", df=table().iloc[:0])


def test_schema_round_trips_through_json():
    schema = infer_schema(table(), "y", name="t.csv", time_column="visit")
    again = Schema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema and again.column("sex").categories == ("F", "M")
    with pytest.raises(LlmkitError, match="schema: "):
        Schema.from_dict({"target": "y"})


def test_encode_target():
    df = pd.DataFrame({"x": np.arange(12), "y": ["yes", "no", "maybe"] * 4})
    schema = infer_schema(df, "y", name="t.csv")
    codes = schema.encode_target(df["y"])
    assert codes.dtype == np.int64 and codes[:3].tolist() == [2, 1, 0]
    assert schema.encode_target([" yes ", "no"]).tolist() == [2, 1]  # stripped as the classes were
    with pytest.raises(LlmkitError) as info:
        schema.encode_target(["no", "perhaps"])
    assert "target 'y'" in str(info.value) and "'perhaps'" in str(info.value) and "\n" not in str(info.value)
    numbers = pd.DataFrame({"x": np.arange(12), "y": [1, 2, 10] * 4})
    assert infer_schema(numbers, "y").encode_target(["10", 2.0, 1]).tolist() == [2, 1, 0]
    regression = infer_schema(pd.DataFrame({"x": np.arange(12), "y": np.arange(12) * 1.5}), "y")
    out = regression.encode_target(["3", 4.5])
    assert out.dtype == np.float64 and out.tolist() == [3.0, 4.5]
    with pytest.raises(LlmkitError, match="target 'y'.*expected a number"):
        regression.encode_target(["x"])


def test_features_frame_parses_numbers_and_keeps_categories_as_strings():
    df = table()
    frame = infer_schema(df, "y").features_frame(df)
    assert list(frame.columns) == ["age", "bmi", "sex", "smoker", "score", "income"]
    assert frame["score"].dtype == np.float64 and frame["score"].iloc[0] == float(df["score"].iloc[0])
    assert set(frame["smoker"]) == {"True", "False"} and set(frame["sex"]) == {"F", "M"}


def test_values_helpers():
    assert values.label(1.0) == "1" and values.label(np.int64(3)) == "3" and values.label(True) == "True"
    assert values.sorted_labels(["10", "2", "1"]) == ("1", "2", "10")
    assert values.sorted_labels(["b", "10", "a"]) == ("10", "a", "b")
    assert values.missing(pd.Series(["a", " ", None], dtype=object)).tolist() == [False, True, True]
    assert values.when(pd.Timestamp("2001-01-02")) == "2001-01-02"
    assert values.when(pd.Timestamp("2001-01-02 10:30")) == "2001-01-02 10:30"
    hourly = pd.Series(pd.date_range("2001-01-01 23:00", periods=3, freq="h"))
    assert values.span(hourly) == "2001-01-01 23:00..2001-01-02 01:00"
    assert values.span(hourly.iloc[1:2], with_time=True) == "2001-01-02 00:00..2001-01-02 00:00"
