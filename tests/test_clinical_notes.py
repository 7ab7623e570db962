"""The generated diabetes notes: committed file, determinism, label rule, text bound, families, negation, speed."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.data.synth import clinical_notes as cn
from llmkit.data.synth import clinical_vocabulary as vocab
from llmkit.data.synth import diabetes_notes as dn

COMMITTED = Path(__file__).resolve().parent.parent / dn.DATA_DIR
HASH_SCRIPT = (
    "import hashlib; from llmkit.data.synth.clinical_notes import generate_notes as g; "
    "print(hashlib.sha256(g(200, seed=3).to_csv(index=False).encode()).hexdigest())"
)


@pytest.fixture(scope="module")
def notes() -> pd.DataFrame:
    return cn.generate_notes(**dn.DATASET_CALL)


def in_training_words(df: pd.DataFrame) -> pd.Series:
    """Rows whose notes may use only training families: train, validation and unshifted test."""
    return df["shifted"] == 0


# ------------------------------------------------------------------------------------- committed file


def test_committed_files_are_what_the_generator_writes(notes):
    for name, text in dn.dataset_files(notes).items():
        assert text.encode("utf-8") == (COMMITTED / name).read_bytes(), (
            f"{dn.DATA_DIR / name} is stale: regenerate it with `python -m llmkit.data.synth.diabetes_notes`"
        )
    assert (COMMITTED / dn.CSV_NAME).stat().st_size < 3_000_000


def test_same_seed_same_bytes_whatever_the_hash_seed():
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # this interpreter has another (random) hash seed
    other = subprocess.Popen([sys.executable, "-c", HASH_SCRIPT], stdout=subprocess.PIPE, text=True, env=env)
    here = hashlib.sha256(cn.generate_notes(200, seed=3).to_csv(index=False).encode()).hexdigest()
    assert other.communicate(timeout=60)[0].strip() == here
    assert cn.generate_notes(200, seed=3).to_csv(index=False) == cn.generate_notes(200, seed=3).to_csv(
        index=False
    )
    assert not cn.generate_notes(200, seed=4).equals(cn.generate_notes(200, seed=3))


def test_held_out_families_change_the_words_not_the_patients():
    a = cn.generate_notes(200, seed=5)
    b = cn.generate_notes(200, seed=5, held_out_families=())
    columns = ["patient_id", "label", "split", "shifted", *cn.STRUCTURED_COLUMNS, *cn.LIST_COLUMNS]
    assert a[columns].equals(b[columns])


# --------------------------------------------------------------------------------------- label rule


def test_rule_thresholds():
    df = pd.DataFrame(
        {
            "hba1c": [6.5, 6.4, 5.0, 5.0, 5.0, 5.0],
            "fasting_glucose": [90, 125, 126, 90, 90, 90],
            "medications": ["", "lisinopril", "", "lisinopril;insulin", None, "atorvastatin"],
        }
    )
    assert cn.diabetes_rule(df).tolist() == [1, 0, 1, 1, 0, 0]


def test_noise_rate_and_best_achievable_accuracy(notes):
    rule = cn.diabetes_rule(notes)
    for (split, shifted), part in notes.groupby(["split", "shifted"]):
        flipped = float((part["label"] != rule[part.index]).mean())
        assert flipped == pytest.approx(dn.DATASET_CALL["label_noise"], abs=0.001), (split, shifted)
        assert cn.best_achievable_accuracy(part) == pytest.approx(0.95, abs=0.001)
    assert 0.2 < notes["label"].mean() < 0.45  # both classes well represented
    assert notes.groupby("split").size().to_dict() == {"test": 1000, "train": 3000, "validation": 1000}
    assert notes.groupby("split")["shifted"].sum().to_dict() == {"test": 500, "train": 0, "validation": 0}


MEDICATION = re.compile(r"metformin|glucophage|insulin|glipizide|sitagliptin|empagliflozin", re.I)
A1C = re.compile(r"(?:a1c|glycated hemoglobin):? (?:of )?(\d+\.\d)", re.I)
GLUCOSE = re.compile(
    r"(?:fbg|fpg|fasting glucose|fasting blood glucose|fasting blood sugar):? (?:of )?(\d+)", re.I
)
A1C_CATEGORY = re.compile(r"(?:a1c|glycated hemoglobin) (within normal limits|in the \w+ range)", re.I)
GLUCOSE_CATEGORY = re.compile(
    r"(?:fbg|fpg|fasting [a-z ]+?) (within normal limits|in the [a-z ]+? range)", re.I
)


def rule_from_text(note: str) -> tuple[int, bool]:
    """The label rule read off the note alone, and whether both labs are stated."""
    a1c, glucose = A1C.search(note), GLUCOSE.search(note)
    a1c_cat, glucose_cat = A1C_CATEGORY.search(note), GLUCOSE_CATEGORY.search(note)
    positive = (
        bool(MEDICATION.search(note))
        or (a1c is not None and float(a1c.group(1)) >= cn.HBA1C_CUTOFF)
        or (glucose is not None and int(glucose.group(1)) >= cn.GLUCOSE_CUTOFF)
        or any(m is not None and m.group(1) == "in the diabetic range" for m in (a1c_cat, glucose_cat))
    )
    return int(positive), bool(a1c or a1c_cat) and bool(glucose or glucose_cat)


def test_text_alone_decides_the_rule(notes):
    """The documented text-level bound: the rule (hence 1 - noise) is reachable from the note alone."""
    rule = cn.diabetes_rule(notes)
    read = notes["note"].map(rule_from_text)
    assert (read.map(lambda r: r[0]) == rule).all()
    negatives = rule == 0
    assert read[negatives].map(lambda r: r[1]).all()  # a negative always states both labs
    assert (~read[~negatives].map(lambda r: r[1])).sum() > 50  # positives sometimes omit one
    stated = notes["note"].map(lambda n: A1C.search(n)).map(lambda m: float(m.group(1)) if m else None)
    assert (stated.dropna() == notes.loc[stated.notna(), "hba1c"]).all()  # numbers in the text are the values


# ------------------------------------------------------------------------------ families and negation


def test_held_out_families_only_in_shifted_test_notes(notes):
    families = notes["families"].str.split(";")
    plain = in_training_words(notes)
    assert set(notes.loc[~plain, "split"]) == {"test"}
    lowered = notes["note"].str.lower()
    for family in cn.HELD_OUT_FAMILIES:
        used = families.map(lambda fs, f=family: f in fs)
        assert not used[plain].any(), family
        assert used[~plain].sum() >= 20, family
        concept, name = family.split(":")
        for form in vocab.FAMILIES[concept][name]:
            needle = form.replace("{}", "").strip().lower()
            assert not lowered[plain].str.contains(needle, regex=False).any(), needle
            assert lowered[~plain].str.contains(needle, regex=False).any(), needle
    every_family = {f"{c}:{f}" for c, fams in vocab.FAMILIES.items() for f in fams}
    assert set().union(*families) == every_family  # each family appears somewhere


def test_shifted_notes_say_held_out_concepts_only_in_held_out_words(notes):
    held_out = set(cn.HELD_OUT_FAMILIES)
    concepts = {f.split(":")[0] for f in held_out} - {"negation"}  # some negations have no held-out kind
    for fams in notes.loc[notes["shifted"] == 1, "families"].str.split(";"):
        assert all(f in held_out for f in fams if f.split(":")[0] in concepts), fams


NEGATION_CUES = ("denies ", "pt denies ", "negative for ", "ros negative for ", "no ")


def test_negations_are_present_and_true(notes):
    families = notes["families"]
    for kind in ("denies", "no_history", "negative_for", "no"):
        assert families.str.contains(f"negation:{kind}").sum() > 50, kind
    checked = 0
    for row in notes.itertuples():
        for sentence in row.note.lower().split(". "):
            if not sentence.startswith(NEGATION_CUES):
                continue
            for symptom, fams in vocab.FAMILIES.items():
                if symptom in vocab.SYMPTOM_RATES and any(
                    f.lower() in sentence for fs in fams.values() for f in fs
                ):
                    assert symptom not in row.symptoms.split(";"), (row.patient_id, sentence)
                    checked += 1
            if "family history of" in sentence:
                assert row.family_history == 0, (row.patient_id, sentence)
    assert checked > 500


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(LlmkitError, match="unknown family 'polyuria:slang'"):
        cn.generate_notes(100, held_out_families=["polyuria:slang"])
    with pytest.raises(LlmkitError, match="all families of 'bmi' held out"):
        cn.generate_notes(100, held_out_families=["bmi:abbrev", "bmi:full"])
    with pytest.raises(LlmkitError, match="label_noise"):
        cn.generate_notes(100, label_noise=0.6)
    with pytest.raises(LlmkitError, match="split: expected one of train, validation, test"):
        dn.load_diabetes_notes("dev")


# ------------------------------------------------------------------------------ unlabeled and loading


def test_unlabeled_notes_are_many_fast_and_use_every_family(notes):
    start = time.perf_counter()
    unlabeled = cn.generate_unlabeled_notes(20000)
    seconds = time.perf_counter() - start
    assert len(unlabeled) == 20000 and "label" not in unlabeled.columns
    assert seconds < 20, f"20k unlabeled notes took {seconds:.1f} s (about 2.5 s on the 2-core reference)"
    assert unlabeled["note"].str.len().min() > 50
    assert unlabeled["note"].nunique() == len(unlabeled)
    assert set(cn.HELD_OUT_FAMILIES) <= set().union(*unlabeled["families"].str.split(";"))
    assert not set(unlabeled["note"]) & set(notes["note"])


def test_load_reads_the_committed_file_and_one_split():
    test = dn.load_diabetes_notes("test")
    assert len(test) == 1000 and set(test["split"]) == {"test"} and test["shifted"].sum() == 500
    assert test["medications"].map(type).eq(str).all()  # empty lists read back as "", not NaN


def test_load_regenerates_into_the_cache_when_the_file_is_absent(tmp_path, monkeypatch):
    monkeypatch.setattr("llmkit.core.config.repo_root", lambda: tmp_path)
    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dn, "DATASET_CALL", {**dn.DATASET_CALL, "n_notes": 200})  # small, for speed
    df = dn.load_diabetes_notes()
    assert (tmp_path / "cache" / "data" / "diabetes_notes" / dn.CSV_NAME).is_file()
    assert (tmp_path / "cache" / "data" / "diabetes_notes" / "README.md").is_file()
    assert len(df) == 200
