"""assign_splits: stratified, random, chronological (ties at the cut), grouped and given splits on tables made here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.study.schema import infer_schema
from llmkit.study.splits import Split, assign_splits


def frame(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "amount": rng.gamma(2.0, 50.0, n),
            "y": rng.choice(["good", "bad", "late"], n, p=[0.7, 0.2, 0.1]),
        }
    )


def split_of(df: pd.DataFrame, target: str = "y", schema_kw: dict | None = None, **kwargs) -> Split:
    return assign_splits(df, infer_schema(df, target, name="t.csv", **(schema_kw or {})), **kwargs)


def error(df: pd.DataFrame, *words: str, target: str = "y", schema_kw: dict | None = None, **kwargs) -> str:
    with pytest.raises(LlmkitError) as info:
        split_of(df, target, schema_kw, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith("t.csv: "), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def sides(split: Split) -> dict[str, np.ndarray]:
    return {s: split.rows(s) for s in ("train", "validation", "test")}


def test_stratified_keeps_the_class_shares_in_every_split():
    df = frame(1000)
    split = split_of(df)
    assert split.kind == "stratified" and split.split.dtype == object
    assert split.counts() == {"train": 600, "validation": 200, "test": 200}
    overall = df["y"].value_counts(normalize=True)
    for rows in sides(split).values():
        share = df["y"].iloc[rows].value_counts(normalize=True)
        assert np.allclose(share[overall.index], overall, atol=0.01), share
    assert (
        split.description == "stratified on 'y' (seed 0): train 600 rows, validation 200 rows, test 200 rows"
    )


def test_the_same_seed_gives_the_same_split():
    df = frame()
    assert (split_of(df, seed=3).split == split_of(df, seed=3).split).all()
    assert (split_of(df, seed=3).split != split_of(df, seed=4).split).any()
    regression = split_of(df, "amount", seed=1)
    assert regression.kind == "random" and (regression.split == split_of(df, "amount", seed=1).split).all()


def test_rows_are_positions_and_partition_the_table():
    split = split_of(frame().set_index(np.arange(500) * 10))  # the index is not the position
    rows = sides(split)
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(500))
    with pytest.raises(LlmkitError, match="split 'dev'"):
        split.rows("dev")


def ties_table(seed: int = 0) -> pd.DataFrame:
    """40 days with 1 to 40 rows each (the cuts fall inside a day), shuffled out of time order."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2005-01-03", periods=40, freq="B")
    per_day = rng.integers(1, 40, len(days))
    df = pd.DataFrame({"date": np.repeat(days.strftime("%Y-%m-%d"), per_day)})
    df["x"] = rng.normal(size=len(df))
    df["y"] = df["x"].cumsum() + rng.normal(size=len(df))
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_time_split_never_trains_on_the_future_or_a_tied_timestamp(seed):
    df = ties_table(seed)
    split = split_of(df, schema_kw={"time_column": "date"})
    assert split.kind == "chronological"
    time = pd.to_datetime(df["date"])
    by = {s: time.iloc[rows] for s, rows in sides(split).items()}
    assert by["train"].max() < by["validation"].min() <= by["validation"].max() < by["test"].min()
    counts = split.counts()
    assert abs(counts["test"] - 0.2 * len(df)) <= 40 and abs(counts["validation"] - 0.2 * len(df)) <= 40
    for s in ("train", "validation", "test"):  # the description gives each side's dates and rows
        assert f"{s} {by[s].min():%Y-%m-%d}..{by[s].max():%Y-%m-%d} ({counts[s]} rows)" in split.description


def test_a_numeric_time_column_orders_the_rows():
    df = pd.DataFrame({"year": np.repeat(np.arange(1990, 2010), 10), "x": np.arange(200.0)})
    df["y"] = df["x"] * 2
    split = split_of(df.sample(frac=1.0, random_state=0), schema_kw={"time_column": "year"})
    assert split.description == (
        "chronological on 'year': train 1990..2001 (120 rows), validation 2002..2005 (40 rows), "
        "test 2006..2009 (40 rows)"
    )


def test_shuffle_time_asks_for_a_random_split_and_says_the_future_leaks():
    df = ties_table()
    split = split_of(df, schema_kw={"time_column": "date"}, shuffle_time=True)
    assert split.kind == "random" and "the future leaks into training" in split.description


def test_too_few_times_is_an_error():
    df = pd.DataFrame(
        {"t": ["2001-01-01"] * 10 + ["2001-01-02"] * 10, "x": np.arange(20.0), "y": np.arange(20.0)}
    )
    error(df, "time column 't'", "one time", target="y", schema_kw={"time_column": "t"})


def test_grouped_keeps_every_group_on_one_side():
    df = frame(600)
    df["customer"] = [f"c{i}" for i in np.random.default_rng(0).integers(0, 80, 600)]
    split = split_of(df, schema_kw={"group_column": "customer"})
    assert split.kind == "grouped"
    side = pd.Series(split.split).groupby(df["customer"]).nunique()
    assert (side == 1).all(), "a customer's rows landed on two sides"
    groups = {s: df["customer"].iloc[rows].nunique() for s, rows in sides(split).items()}
    assert sum(groups.values()) == df["customer"].nunique() and min(groups.values()) >= 10
    assert f"train {groups['train']} groups ({split.counts()['train']} rows)" in split.description
    regression = split_of(df, "amount", schema_kw={"group_column": "customer"})
    assert (pd.Series(regression.split).groupby(df["customer"]).nunique() == 1).all()
    assert (regression.split == split_of(df, "amount", schema_kw={"group_column": "customer"}).split).all()


def test_too_few_groups_is_an_error():
    df = frame(60).assign(g=np.arange(60) % 2)
    error(df, "group column 'g'", "too few groups", schema_kw={"group_column": "g"})


def test_a_given_split_column_is_used_as_it_is():
    df = frame(300)
    df["part"] = np.where(np.arange(300) < 200, "Train", np.where(np.arange(300) < 250, "valid", "test"))
    split = split_of(df, schema_kw={"split_column": "part"}, split_column="part")
    assert split.kind == "given" and split.counts() == {"train": 200, "validation": 50, "test": 50}


def test_a_given_split_without_validation_carves_it_from_train():
    df = frame(500)
    df["part"] = np.where(np.arange(500) < 400, "train", "test")
    split = split_of(df, schema_kw={"split_column": "part"}, split_column="part")
    assert split.counts() == {"train": 320, "validation": 80, "test": 100}
    assert (split.rows("test") == np.arange(400, 500)).all()  # the given test rows are untouched
    assert "carved from stratified (seed 0) training rows" in split.description


def test_given_split_errors_name_the_column():
    df = frame(100).assign(part=["train"] * 60 + ["holdout"] * 40)
    error(df, "split column 'part'", "'holdout'", schema_kw={"split_column": "part"}, split_column="part")
    df = frame(100).assign(part="train")
    error(df, "split column 'part'", "no test rows", schema_kw={"split_column": "part"}, split_column="part")
    error(frame(100), "no split column 'prt'", split_column="prt")
    df = frame(100).assign(part=["train"] * 60 + ["test"] * 40)
    error(df, "split column 'part'", "also a model input", split_column="part")  # a feature unless dropped


def test_a_class_missing_from_train_is_an_error():
    df = pd.DataFrame({"x": np.arange(30.0), "y": ["a"] * 12 + ["b"] * 12 + ["c"] * 6})
    df["part"] = ["train"] * 24 + ["test"] * 6  # every 'c' row is in test
    error(
        df, "target 'y'", "'c'", "no training rows", schema_kw={"split_column": "part"}, split_column="part"
    )


def test_too_few_rows_or_bad_fractions_are_errors():
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [1.5, 2.5]})
    error(df, "2 rows are too few")
    error(frame(), "test_fraction=0", test_fraction=0)
    error(frame(), "test_fraction + validation_fraction", test_fraction=0.5, validation_fraction=0.5)


def test_a_table_with_dates_but_no_time_column_gets_a_note():
    df = ties_table()
    split = split_of(df)
    assert split.description.endswith(
        "note: column 'date' holds dates; pass time_column='date' to train on the past and test on the future"
    )
    assert "note" not in split_of(df, schema_kw={"time_column": "date"}).description


def test_an_hourly_time_column_shows_the_hours():
    df = pd.DataFrame({"at": pd.date_range("2024-05-01 06:00", periods=50, freq="h"), "x": np.arange(50.0)})
    df["y"] = df["x"] ** 0.5
    split = split_of(df.iloc[::-1], schema_kw={"time_column": "at"})  # newest first in the table
    assert split.description == (
        "chronological on 'at': train 2024-05-01 06:00..2024-05-02 11:00 (30 rows), "
        "validation 2024-05-02 12:00..2024-05-02 21:00 (10 rows), test 2024-05-02 22:00..2024-05-03 07:00 (10 rows)"
    )
    assert (split.rows("test") == np.arange(10)).all()
