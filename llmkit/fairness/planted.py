"""The planted bias, found (notebook 10): notes whose training charts under-document one group's diabetes
(:class:`llmkit.data.synth.documentation.UnderDocumentation`), a TF-IDF + logistic regression model trained on them,
and an audit on the clean test notes, beside the same model trained on the unbiased notes.

Why TF-IDF and not MiniLM: the claim compares two trained models on thousands of test notes with bootstrap
intervals; TF-IDF trains on 6,000 notes in seconds on this CPU, where MiniLM at that size would take the whole
lesson budget; the audit is the same code for any model's predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.data.synth.documentation import UnderDocumentation


def train_and_predict(
    n_notes: int, seed: int = 0, bias: UnderDocumentation | None = None, C: float = 10.0
) -> dict[str, Any]:
    """Generate ``n_notes`` notes (``bias`` on the training split only), fit TF-IDF + logistic regression on the
    training notes and score the clean test notes: ``{"model", "test" (DataFrame), "p" ([n] P(diabetes)),
    "pred" ([n] 0/1), "train" (DataFrame)}``."""
    from llmkit.data.synth.clinical_notes import generate_notes
    from llmkit.finetune.baselines import tfidf_logreg

    df = generate_notes(n_notes, seed=seed, under_documented=bias)
    train, test = df[df["split"] == "train"], df[df["split"] == "test"].reset_index(drop=True)
    model = tfidf_logreg(train["note"].tolist(), train["label"].to_numpy(), Cs=(C,))
    p = model.predict_proba(test["note"].tolist())[:, 1]
    return {"model": model, "train": train, "test": test, "p": p, "pred": (p >= 0.5).astype(int)}


def documented_gap(train: Any, sex: str = "F") -> dict[str, float]:
    """What the bias did to the training charts: positive-label rate and share of notes naming a symptom
    ("polyuria", "thirst", ...), for ``sex`` and the others."""
    words = ("polyuria", "urination", "polydipsia", "thirst", "fatigue", "tired", "blurred", "weight", "neuropathy",
             "numbness", "tingling")  # fmt: skip
    mentions = train["note"].str.lower().map(lambda t: any(w in t for w in words))
    group = train["sex"] == sex
    return {
        f"label rate {sex}": float(train.loc[group, "label"].mean()),
        "label rate others": float(train.loc[~group, "label"].mean()),
        f"symptom mention {sex}": float(mentions[group].mean()),
        "symptom mention others": float(mentions[~group].mean()),
    }


def tpr_gap(y: Any, pred: Any, groups: Any, a: str = "F", b: str = "M") -> float:
    """TPR of group ``a`` minus TPR of group ``b`` (point value; intervals: :func:`llmkit.fairness.audit.
    disparity_table` with ``gap=(a, b)``)."""
    y, pred, groups = np.asarray(y), np.asarray(pred), np.asarray(groups)
    return float(pred[(groups == a) & (y == 1)].mean() - pred[(groups == b) & (y == 1)].mean())
