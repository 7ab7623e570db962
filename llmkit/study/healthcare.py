"""The healthcare case study (``notebooks/case_studies/healthcare_diabetes.ipynb``) and the analyst path into it.

1. **The table** (:func:`load_study`): the built-in diabetes notes with their vitals, or an analyst's CSV, TSV,
   Parquet or JSONL file, read and validated by :func:`llmkit.data.tables.read_table` (every problem one line,
   before any model is built) and split into train / validation / test, stratified and seeded.
2. **The stages** run through the functions the course already has -- ``adapt.domain_adapt``,
   ``loop.finetuned_minilm``, ``student.distilled_student``, ``export.build_bundle`` -- each cached, so a
   rerun is cheap; :func:`stage_row` measures each one the same way.
3. **Pima as text** (:func:`pima_comparison`): the real Pima records, tabular models against MiniLM
   fine-tuned on the same records written as sentences (:mod:`llmkit.data.text`), same split, same seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd

    from llmkit.finetune.tasks import TextTask

BUILTIN = "built-in diabetes notes (llmkit.data.synth.clinical_notes, 5,000 notes, seed 0)"
MIN_ROWS = 20  # fewer rows cannot fill train, validation and test
MIN_PER_CLASS = 5  # each class needs rows in every split
BUILTIN_SENSITIVE = ("sex", "age band")  # the built-in notes' audit: sex, and age cut at 30 and 50
SENSITIVE = "sensitive:"  # the frame's prefix for a sensitive column


@dataclass(frozen=True)
class Study:
    """The study's table, validated and split."""

    task: TextTask  # frame: text, label (0..k-1), split (train / validation / test), and the feature columns
    features: tuple[str, ...]  # numeric columns for the vitals-only and fusion models (may be empty)
    source: str  # BUILTIN or the file's path
    text_column: str  # the names in the source table
    label_column: str
    sensitive: tuple[str, ...] = ()  # columns the bundle is audited by (frame columns "sensitive:<name>")

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN

    def features_of(self, split: str) -> np.ndarray:
        """The feature columns of ``split`` as floats ``[rows, features]``."""
        return self.task.split(split)[list(self.features)].to_numpy(dtype=np.float64)

    def groups(self, index: pd.Index) -> dict[str, np.ndarray]:
        """Each sensitive column's values on the frame rows ``index`` (the audit's ``sensitive`` argument)."""
        return {name: self.task.frame.loc[index, SENSITIVE + name].to_numpy() for name in self.sensitive}


def _take(rows: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` split into (kept, taken) with ``fraction`` of them taken, stratified by their labels."""
    from sklearn.model_selection import train_test_split

    kept, taken = train_test_split(rows, test_size=fraction, stratify=labels[rows], random_state=seed)
    return np.asarray(kept), np.asarray(taken)


def _split(labels: np.ndarray, test: float, validation: float, seed: int) -> np.ndarray:
    rest, test_rows = _take(np.arange(len(labels)), labels, test, seed)
    train_rows, val_rows = _take(rest, labels, validation / (1 - test), seed)
    split = np.empty(len(labels), dtype=object)
    split[train_rows], split[val_rows], split[test_rows] = "train", "validation", "test"
    return split


def load_study(
    data_path: str | Path | None = None,  # None -> the built-in diabetes notes
    text_column: str = "note",
    label_column: str = "label",
    feature_columns: Sequence[str] | None = None,  # numeric columns; None -> the vitals (built-in) or none
    split_column: str | None = None,  # values train / test (and validation); None -> a stratified split
    test_fraction: float = 0.2,
    validation_fraction: float = 0.2,
    seed: int = 0,
    sensitive_columns: Sequence[str] | str | None = None,  # None -> sex and age band (built-in), none (yours)
) -> Study:
    """Read, validate and split the study's table; any problem is one :class:`LlmkitError` line."""
    import pandas as pd

    from llmkit.data.tables import read_table, validate_frame
    from llmkit.finetune.tasks import TextTask

    if data_path is None:
        from llmkit.data.synth.clinical_notes import VITAL_COLUMNS
        from llmkit.data.synth.diabetes_notes import load_diabetes_notes

        df, source = load_diabetes_notes(), BUILTIN
        text_column, label_column, split_column = "note", "label", "split"
        features = list(VITAL_COLUMNS if feature_columns is None else feature_columns)
        validate_frame(df, name="built-in notes", feature_columns=features)
    else:
        features = [feature_columns] if isinstance(feature_columns, str) else list(feature_columns or [])
        df = read_table(
            data_path, text_column=text_column, label_column=label_column, feature_columns=features,
            split_column=split_column, min_rows=MIN_ROWS, min_per_class=MIN_PER_CLASS,
        )  # fmt: skip
        source = str(data_path)
    classes = sorted(df[label_column].unique(), key=str)
    names = ("no diabetes", "diabetes") if data_path is None else tuple(str(c) for c in classes)
    labels = df[label_column].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)
    if split_column is not None:
        split = df[split_column].astype(str).to_numpy(dtype=object)
        missing = [s for s in ("train", "test") if s not in set(split)]
        if missing:
            raise LlmkitError(
                f"{source}: split column {split_column!r} has no {' or '.join(map(repr, missing))} rows; "
                f"expected the values train and test (validation optional), got {sorted(set(split))}"
            )
        if "validation" not in set(split):  # the fusion model needs rows the text model never saw
            _, taken = _take(np.flatnonzero(split == "train"), labels, validation_fraction, seed)
            split[taken] = "validation"
    else:
        split = _split(labels, test_fraction, validation_fraction, seed)
    frame = pd.DataFrame({"text": df[text_column].astype(str).to_numpy(), "label": labels, "split": split})
    for column in features:
        frame[column] = df[column].to_numpy(dtype=np.float64)
    if "shifted" in df.columns and data_path is None:
        frame["shifted"] = df["shifted"].to_numpy()
    sensitive = _sensitive(df, source, data_path is None, sensitive_columns)
    for name, values in sensitive.items():
        frame[SENSITIVE + name] = values
    return Study(
        TextTask("study", frame, names), tuple(features), source, text_column, label_column, tuple(sensitive)
    )


def _sensitive(
    df: pd.DataFrame, source: str, builtin: bool, columns: Sequence[str] | str | None
) -> dict[str, Any]:
    """The sensitive columns' values, one per row: named columns as they are, and on the built-in notes the age
    band (``<30``, ``30-49``, ``50+``, :func:`llmkit.fairness.tables.age_band`) under the name ``age band``."""
    if columns is None:
        columns = BUILTIN_SENSITIVE if builtin else ()
    names = [columns] if isinstance(columns, str) else list(columns)
    out = {}
    for name in names:
        if builtin and name == "age band":
            from llmkit.fairness.tables import age_band

            out[name] = age_band(df["age"])
        elif name in df.columns:
            out[name] = df[name].to_numpy(dtype=object)
        else:
            raise LlmkitError(
                f"{source}: sensitive column {name!r} not found; expected one of {list(df.columns)}"
                + (" or 'age band'" if builtin else "")
            )
    return out


def labels_to_use(data: Study, name: str, n: int) -> int:
    """``n`` training labels for a stage, capped at the training rows there are; fewer than one per class (or
    not a whole number) is refused here, before any model is trained."""
    have = len(data.task.split("train"))
    if isinstance(n, bool) or not isinstance(n, int) or n < data.task.num_labels:
        raise LlmkitError(
            f"{name}: expected a whole number of labels >= {data.task.num_labels} (one per class), got {n!r}"
        )
    return min(n, have)


def split_rows(data: Study, split: str, n: int | None = None, seed: int = 0) -> pd.Index:
    """The frame index of ``split``: all its rows, or a stratified, seeded ``n`` of them (the same rows
    :func:`llmkit.finetune.tasks.subsample` -- and so ``loop.finetuned_minilm`` -- picks)."""
    from llmkit.finetune.tasks import subsample

    task = data.task
    if n is not None and n < len(task.split(split)):
        task = subsample(task, n, split=split, seed=seed)
    return task.split(split).index


def compare_modalities(
    data: Study,
    teacher: Any,  # the fine-tuned text classifier
    tokenizer: Any,
    test_proba: Any,  # the teacher's probabilities on the test rows test_index, in that order
    test_index: pd.Index,  # frame index of those test rows
    train_size: int,  # the teacher's training rows: split_rows(data, "train", train_size, seed)
    seed: int = 0,
    fit_size: int | None = None,  # validation rows the fuser is fitted on; None -> all
    bf16: bool = False,
) -> dict[str, np.ndarray]:
    """:func:`llmkit.study.fusion.compare` on the study: text only, vitals only and late fusion, on the test rows.

    The vitals model sees the teacher's training rows and the validation rows; the fuser sees the
    validation rows only, which the teacher never trained on."""
    from llmkit.finetune.batching import encode
    from llmkit.finetune.loop import predict_proba
    from llmkit.study import fusion

    if not data.features:
        raise LlmkitError(
            "feature_columns: expected at least one numeric column for the vitals and fusion models"
        )
    frame, cols = data.task.frame, list(data.features)
    train_index = split_rows(data, "train", train_size, seed)
    fit_index = split_rows(data, "validation", fit_size, seed)
    fit_texts = frame.loc[fit_index, "text"].tolist()
    fit_proba = predict_proba(teacher, encode(tokenizer, fit_texts, [0] * len(fit_texts), 128), bf16=bf16)
    parts = {"train": train_index, "fit": fit_index, "test": test_index}
    return fusion.compare(
        text_proba={"fit": fit_proba, "test": test_proba},
        vitals={k: frame.loc[i, cols].to_numpy(np.float64) for k, i in parts.items()},
        labels={k: frame.loc[i, "label"].to_numpy(np.int64) for k, i in parts.items()},
        seed=seed,
    )


def score_table(probabilities: dict[str, Any], y_true: Any) -> pd.DataFrame:
    """Accuracy and macro F1 of each model's ``[n, k]`` probabilities, one row per model."""
    import pandas as pd

    from llmkit.core import evaluate

    rows = {}
    for name, p in probabilities.items():
        predicted = np.asarray(p).argmax(1)
        rows[name] = {
            "accuracy": evaluate.accuracy(y_true, predicted),
            "macro F1": evaluate.macro_f1(y_true, predicted, num_labels=np.asarray(p).shape[1]),
        }
    return pd.DataFrame(rows).T


def few_label_epochs(n: int) -> int:
    """Epochs for fine-tuning on ``n`` labels: notebook 04's rule (at least 3 epochs and 60 steps of 16)."""
    from llmkit.transfer.curves import CurveConfig, epochs_for

    cfg = CurveConfig()
    return epochs_for(n, cfg.batch_size, cfg.min_steps, cfg.min_epochs)


def stage_row(
    stage: str,
    labels_used: int,
    y_true: Any,
    proba: Any,  # [n, k] test-set probabilities
    size_mb: float | None = None,
    latency_b1_ms: float | None = None,
    latency_b32_ms: float | None = None,
    shifted: Any = None,  # [n] 1 = a test note in paraphrases the training notes never use (built-in notes)
) -> dict[str, Any]:
    """One row of the stage-by-stage table: accuracy, macro F1, size and latency; with ``shifted``, the
    accuracy on each half of the test set too (training words, unseen paraphrases)."""
    from llmkit.core import evaluate

    p, y = np.asarray(proba), np.asarray(y_true)
    k = p.shape[1]
    row = {
        "stage": stage,
        "labels used": labels_used,
        "accuracy": evaluate.accuracy(y, p.argmax(1)),
        "macro F1": evaluate.macro_f1(y, p.argmax(1), num_labels=k),
    }
    if shifted is not None:
        half = np.asarray(shifted).astype(bool)
        row["accuracy, training words"] = evaluate.accuracy(y[~half], p[~half].argmax(1))
        row["accuracy, unseen paraphrases"] = evaluate.accuracy(y[half], p[half].argmax(1))
    return {**row, "size_mb": size_mb, "latency_b1_ms": latency_b1_ms, "latency_b32_ms": latency_b32_ms}


def pima_comparison(
    seeds: Sequence[int] = (0,),
    epochs: int | None = None,  # MiniLM's epochs over the 200 records; None -> few_label_epochs(200)
    bf16: bool | None = None,
    model_name: str = "minilm",
    text_train: int | None = None,  # records MiniLM fine-tunes on (a stratified subsample); None -> all 200
) -> pd.DataFrame:
    """Pima.tr (200 women) to train, Pima.te (332) to test: logistic regression and gradient boosting on the
    numbers, MiniLM fine-tuned on the records written as text, each seed the same for all three.
    Rows: model, seed, accuracy, macro F1, AUC, seconds."""
    import time

    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from llmkit.core import evaluate
    from llmkit.data.real import pima
    from llmkit.data.text import PIMA_COLUMNS, records_to_text
    from llmkit.finetune import loop, tasks

    columns = list(PIMA_COLUMNS)
    train, test = pima("train"), pima("test")
    y_train, y_test = train["diabetes"].to_numpy(np.int64), test["diabetes"].to_numpy(np.int64)
    frame = pd.DataFrame({
        "text": records_to_text(train, columns, PIMA_COLUMNS) + records_to_text(test, columns, PIMA_COLUMNS),
        "label": np.concatenate([y_train, y_test]),
        "split": ["train"] * len(train) + ["test"] * len(test),
    })  # fmt: skip
    task = tasks.TextTask("pima_as_text", frame, ("no diabetes", "diabetes"))
    epochs = epochs or few_label_epochs(len(train))
    rows = []
    for seed in seeds:
        models = {
            "logistic regression (numbers)": make_pipeline(
                StandardScaler(), LogisticRegression(max_iter=2000)
            ),
            "gradient boosting (numbers)": HistGradientBoostingClassifier(random_state=seed),
        }
        for name, model in models.items():
            start = time.perf_counter()
            proba = model.fit(train[columns], y_train).predict_proba(test[columns])
            rows.append((name, seed, proba, time.perf_counter() - start))
        start = time.perf_counter()
        model, tokenizer, _ = loop.finetuned_minilm(
            task, n_train=text_train or len(train), epochs=epochs, seed=seed, bf16=bf16, name=model_name
        )
        proba = loop.predict_proba(model, tasks.encode_task(tokenizer, task, "test"), bf16=bool(bf16))
        rows.append(("MiniLM fine-tuned (records as text)", seed, proba, time.perf_counter() - start))
    return pd.DataFrame([
        {"model": name, "seed": seed, "accuracy": evaluate.accuracy(y_test, p.argmax(1)),
         "macro F1": evaluate.macro_f1(y_test, p.argmax(1), num_labels=2), "AUC": evaluate.roc_auc(y_test, p),
         "seconds": s}
        for name, seed, p, s in rows
    ])  # fmt: skip
