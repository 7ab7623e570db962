"""The healthcare case study's table and the analyst path: built-in and user tables, every bad input refused in
one line before any model is built, the stratified split, fusion, records as text -- and the case-study
notebook itself run at smoke on a CSV with unfamiliar column names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.course import runner
from llmkit.data.synth.diabetes_notes import load_diabetes_notes
from llmkit.data.text import PIMA_COLUMNS, records_to_text
from llmkit.study import fusion, healthcare


@pytest.fixture(scope="module")
def analyst_frame():
    """200 notes with the columns an analyst might have: other names, yes/no labels, two numeric columns."""
    notes = load_diabetes_notes()
    notes = notes[notes["split"] == "train"].head(200)
    return pd.DataFrame({
        "record_id": range(200),
        "clinical_text": notes["note"].to_numpy(),
        "outcome": np.where(notes["label"] == 1, "yes", "no"),
        "glucose_mg_dl": notes["fasting_glucose"].to_numpy(float),
        "a1c_pct": notes["hba1c"].to_numpy(float),
    })  # fmt: skip


@pytest.fixture
def analyst_csv(tmp_path, analyst_frame):
    path = tmp_path / "my_patients.csv"
    analyst_frame.to_csv(path, index=False)
    return path


def test_builtin_study_has_the_notes_vitals_and_splits():
    data = healthcare.load_study()
    assert data.builtin and data.task.label_names == ("no diabetes", "diabetes")
    assert set(data.task.frame["split"]) == {"train", "validation", "test"}
    assert "hba1c" in data.features and data.features_of("test").shape == (1000, len(data.features))


def test_analyst_table_is_read_mapped_and_split_stratified(analyst_csv):
    data = healthcare.load_study(
        analyst_csv, "clinical_text", "outcome", ["glucose_mg_dl", "a1c_pct"], seed=3
    )
    frame = data.task.frame
    assert not data.builtin and data.task.label_names == ("no", "yes")
    assert frame["split"].value_counts().to_dict() == {"train": 120, "validation": 40, "test": 40}
    rates = frame.groupby("split")["label"].mean()
    assert rates.max() - rates.min() < 0.05  # stratified
    again = healthcare.load_study(
        analyst_csv, "clinical_text", "outcome", ["glucose_mg_dl", "a1c_pct"], seed=3
    )
    assert again.task.frame["split"].tolist() == frame["split"].tolist()  # seeded


def test_a_split_column_is_used_and_a_validation_split_carved_when_missing(tmp_path, analyst_frame):
    path = tmp_path / "split.csv"
    analyst_frame.assign(part=["test"] * 50 + ["train"] * 150).to_csv(path, index=False)
    data = healthcare.load_study(path, "clinical_text", "outcome", split_column="part")
    counts = data.task.frame["split"].value_counts().to_dict()
    assert counts == {"train": 120, "test": 50, "validation": 30}
    analyst_frame.assign(part="train").to_csv(path, index=False)
    with pytest.raises(LlmkitError, match="split column 'part' has no 'test' rows"):
        healthcare.load_study(path, "clinical_text", "outcome", split_column="part")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing_file", "no such file"),
        ("missing_column", "no text column 'note'; columns are: record_id, clinical_text, outcome"),
        ("one_class", "one class only"),
        ("too_few_rows", "expected at least 20"),
        ("nan_text", "text column 'clinical_text' has 1 empty or missing value"),
        ("latin1", "is not UTF-8"),
    ],
)
def test_bad_tables_are_refused_in_one_line(tmp_path, analyst_frame, change, message):
    path = tmp_path / "bad.csv"
    df = analyst_frame.copy()
    text = "note" if change == "missing_column" else "clinical_text"
    if change == "one_class":
        df["outcome"] = "yes"
    elif change == "too_few_rows":
        df = df.head(12)
    elif change == "nan_text":
        df.loc[5, "clinical_text"] = np.nan
    if change == "latin1":
        df.loc[3, "clinical_text"] += " Seen at the café clinic."
        path.write_bytes(df.to_csv(index=False).encode("latin-1"))
    elif change != "missing_file":
        df.to_csv(path, index=False)
    with pytest.raises(LlmkitError, match=message) as info:
        healthcare.load_study(path, text, "outcome")
    assert "\n" not in str(info.value) and "bad.csv" in str(info.value)


def test_a_byte_order_mark_is_accepted(tmp_path, analyst_frame):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + analyst_frame.to_csv(index=False).encode())
    assert healthcare.load_study(path, "clinical_text", "outcome").task.num_labels == 2


def test_records_to_text():
    df = pd.DataFrame({"glu": [148.0, np.nan], "age": [50, 31], "other_col": ["a", "b"]})
    texts = records_to_text(df, ["glu", "age", "other_col"], PIMA_COLUMNS)
    assert texts[0] == (
        "The plasma glucose two hours into an oral glucose tolerance test is 148 mg/dL. The age is 50 years. "
        "The other col is a."
    )
    assert texts[1].startswith("The plasma glucose two hours into an oral glucose tolerance test is unknown.")
    with pytest.raises(LlmkitError, match="not in the table"):
        records_to_text(df, ["nope"])


def test_fusion_beats_either_modality_when_each_holds_half_the_rule():
    rng = np.random.default_rng(0)

    def rows(n):  # the label is a OR b; the "text model" knows a, the vitals know b
        a, b = rng.random(n) < 0.3, rng.random(n) < 0.3
        text = np.where(a, 0.95, 0.3)
        return (
            np.c_[1 - text, text],
            np.c_[b + rng.normal(0, 0.1, n), rng.normal(size=n)],
            (a | b).astype(int),
        )

    (pf, vf, yf), (pt, vt, yt), (_, vtr, ytr) = rows(600), rows(600), rows(600)
    out = fusion.compare({"fit": pf, "test": pt}, {"train": vtr, "fit": vf, "test": vt},
                         {"train": ytr, "fit": yf, "test": yt})  # fmt: skip
    acc = {k: float((p.argmax(1) == yt).mean()) for k, p in out.items()}
    text, vitals, fused = acc.values()
    assert fused > max(text, vitals) + 0.1
    np.testing.assert_allclose(fusion.text_scores([[0.5, 0.5], [0.2, 0.8]]).ravel(), [0.0, np.log(4)])
    with pytest.raises(LlmkitError, match="expected split 'train'"):
        fusion.compare({"fit": pf, "test": pt}, {"fit": vf, "test": vt}, {"fit": yf, "test": yt})


def test_one_feature_column_may_be_a_string_and_label_counts_are_checked(analyst_csv):
    data = healthcare.load_study(analyst_csv, "clinical_text", "outcome", "a1c_pct")
    assert data.features == ("a1c_pct",)
    assert healthcare.labels_to_use(data, "train_size", 5000) == 120  # capped at the training rows
    with pytest.raises(LlmkitError, match="few_labels: expected a whole number of labels >= 2"):
        healthcare.labels_to_use(data, "few_labels", 1)


def test_stage_row():
    row = healthcare.stage_row("x", 10, [0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], 1.5, 2.0, 3.0)
    assert row["accuracy"] == pytest.approx(2 / 3) and row["size_mb"] == 1.5 and row["labels used"] == 10
    halves = healthcare.stage_row("x", 10, [0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], shifted=[0, 0, 1])
    assert halves["accuracy, training words"] == 1.0 and halves["accuracy, unseen paraphrases"] == 0.0
    assert healthcare.few_label_epochs(64) == 15 and healthcare.few_label_epochs(1000) == 3


# ------------------------------------------------------------------------------- the notebook, analyst path


def test_case_study_refuses_a_wrong_column_before_training(analyst_csv, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    params = {"data_path": str(analyst_csv), "text_column": "notes", "label_column": "outcome"}
    run_dir, (result,) = runner.run_course(
        ["healthcare_diabetes"], "smoke", tmp_path / "run", params, echo=False
    )
    assert result.status == "failed"
    assert "no text column 'notes'; columns are: record_id, clinical_text, outcome" in result.error
    assert not (tmp_path / "cache").exists()  # nothing was trained or cached
    assert not (run_dir / "healthcare_diabetes" / "bundle").exists()


def test_the_study_carries_the_columns_its_bundle_is_audited_by(analyst_csv, analyst_frame, tmp_path):
    data = healthcare.load_study()
    assert data.sensitive == ("sex", "age band")  # the built-in default
    test_index = data.task.split("test").index
    groups = data.groups(test_index)
    notes = load_diabetes_notes()
    assert (groups["sex"] == notes.loc[test_index, "sex"].to_numpy()).all()
    assert set(groups["age band"]) == {"<30", "30-49", "50+"}
    assert healthcare.load_study(sensitive_columns=[]).sensitive == ()
    yours = healthcare.load_study(analyst_csv, "clinical_text", "outcome")
    assert yours.sensitive == ()  # your table: none by default
    frame = analyst_frame.assign(site=np.where(np.arange(200) % 2, "north", "south"))
    frame.to_csv(path := tmp_path / "sites.csv", index=False)
    mine = healthcare.load_study(path, "clinical_text", "outcome", sensitive_columns="site")
    assert mine.sensitive == ("site",)
    assert set(mine.groups(mine.task.split("test").index)["site"]) == {"north", "south"}
    with pytest.raises(LlmkitError, match="sensitive column 'sex' not found"):
        healthcare.load_study(analyst_csv, "clinical_text", "outcome", sensitive_columns=["sex"])
