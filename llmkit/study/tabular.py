"""The analyst engine's non-transformer models (:mod:`llmkit.study.engine`): the floors, the scikit-learn
tabular models and TF-IDF + logistic regression, each returned as a :class:`Fitted` whose ``predict`` gives
class probabilities ``[n, k]`` (classification) or values ``[n]`` (regression), ready for
:func:`llmkit.study.scoring.score`.

=============================  ======================================================================
majority class (floor)         the training class shares as probabilities: argmax is the majority class
training mean (floor)          regression: the training mean
last value (naive) (floor)     time-ordered rows: the target of the row before (one-hot for classes)
seasonal naive (floor)         time-ordered rows: the target one season earlier (same hour last week)
logistic / ridge regression    numeric: median-imputed, standardized; categorical: most-frequent-imputed,
                               one-hot (categories under 5 training rows share one column; unseen -> 0s)
gradient boosting              HistGradientBoosting on the raw numbers (missing stays missing) and the
                               ordinal-coded categories as categorical features (unseen -> missing)
TF-IDF + logistic regression   words and word pairs (sublinear tf, in at least 2 training texts)
=============================  ======================================================================

No class weighting anywhere: reweighting a rare class shifts the probabilities away from the observed
rates, and a lender prices on them; a rare class is handled by the threshold
(:func:`llmkit.study.decisions.cost_threshold`) instead. Every model is deterministic given ``seed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd

MIN_CATEGORY_ROWS = 5  # one-hot: rarer categories share one "infrequent" column
MAX_GB_CATEGORIES = (
    255  # HistGradientBoosting's limit per categorical feature (its max_bins); the rest pooled
)
NO_CLASS_WEIGHTS = "no class weighting (calibrated probabilities)"


@dataclass
class Fitted:
    """A fitted model of the engine and how to get its predictions."""

    name: str  # "majority class", "logistic regression", "gradient boosting", "TF-IDF + logistic regression"
    kind: str  # "floor", "tabular", "text"
    model: Any  # the fitted scikit-learn object (None for the floors)
    seconds: float  # fitting time
    predictor: Callable[[Any], np.ndarray] = field(repr=False)  # inputs -> predictions
    note: str = ""  # what it is, in a few words (the stage table's "why")

    def predict(self, frame: Any) -> np.ndarray:
        """Probabilities ``[n, k]`` (classification) or values ``[n]`` (regression) for the rows of ``frame``
        (a DataFrame with the training columns; a list of texts for the TF-IDF model)."""
        return np.asarray(self.predictor(frame))


# ------------------------------------------------------------------------------------------------- floors


def floors(
    task: str,  # "binary" | "multiclass" | "regression"
    y_train: ArrayLike,  # [n] classes 0..k-1, or values
    num_classes: int | None = None,  # k; None -> 2 (binary) or 1 + the largest class in y_train
    *,
    previous: ArrayLike | None = None,  # per scored row, the target of the row before it in time order
    seasonal: ArrayLike
    | None = None,  # per scored row, the target one season before it (same hour last week)
    season: str = "one season",  # how far back ``seasonal`` looked, for the model's name ("7 days")
) -> list[Fitted]:
    """The floor every model must beat: majority class or training mean; with ``previous`` the naive
    forecast "same as the last value"; with ``seasonal`` the seasonal naive forecast "same as one season ago".

    The naive floors are built for exactly the rows they will score: ``previous`` and ``seasonal`` are aligned
    with them, and their ``predict(frame)`` checks that ``frame`` has that many rows and ignores its content
    (the past targets are not features, so they stay out of the feature frame).
    """
    y = _targets(task, y_train, "y_train")
    out: list[Fitted] = []
    k = None
    if task == "regression":
        mean = float(y.mean())
        note = f"always {mean:.4g}, the training mean"
        out.append(Fitted("training mean", "floor", None, 0.0, lambda frame: np.full(len(frame), mean), note))
    else:
        k = _num_classes(task, y, num_classes)
        share = np.bincount(y, minlength=k) / y.size  # [k]
        top = int(share.argmax())
        note = f"always class {top} ({share[top]:.1%} of training rows); training shares as probabilities"
        out.append(
            Fitted("majority class", "floor", None, 0.0, lambda frame: np.tile(share, (len(frame), 1)), note)
        )
    naive = (
        ("last value (naive)", previous, "previous", "the target of the row before, in time order"),
        (f"seasonal naive ({season})", seasonal, "seasonal", f"the target {season} before, in time order"),
    )
    for name, past, argument, note in naive:
        if past is not None:
            out.append(_aligned(task, k, name, past, argument, note))
    return out


def _aligned(task: str, k: int | None, name: str, past: ArrayLike, argument: str, note: str) -> Fitted:
    """A naive floor that predicts the given past targets (one-hot for classes) for exactly their rows."""
    last = _targets(task, past, argument)
    if k is not None and last.max() >= k:
        raise LlmkitError(f"{argument}: expected classes 0..{k - 1}, got {int(last.max())}")
    values = last if k is None else np.eye(k)[last]

    def predict(frame: Any) -> np.ndarray:
        if len(frame) != len(values):
            raise LlmkitError(
                f"{name}: built for the {len(values)} rows of {argument}, asked for {len(frame)} rows; "
                f"pass {argument} aligned with the rows to score"
            )
        return values.copy()

    return Fitted(name, "floor", None, 0.0, predict, note)


# ------------------------------------------------------------------------------------------------ tabular


def tabular_models(
    task: str,
    train: pd.DataFrame,  # the training rows' feature columns
    y_train: ArrayLike,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: int = 0,
    num_classes: int | None = None,  # k; None -> 2 (binary) or 1 + the largest class in y_train
) -> list[Fitted]:
    """Logistic regression (classification) or ridge regression, and gradient boosting, fitted on ``train``.

    ``predict`` takes a DataFrame with the same columns; a category not seen in training is all-zero in the
    one-hot and missing for gradient boosting; missing numbers are imputed (linear) or left as they are
    (boosting).
    """
    import warnings

    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric, categorical = list(numeric), list(categorical)
    y = _targets(task, y_train, "y_train")
    X = _features(train, numeric, categorical, "train")
    if len(X) != y.size:
        raise LlmkitError(f"train: {len(X)} rows but y_train has {y.size}; expected one target per row")
    k = None if task == "regression" else _num_classes(task, y, num_classes)
    if k is not None and np.unique(y).size < 2:
        raise LlmkitError(f"y_train: expected at least two classes, got only class {int(y[0])}")

    linear_parts = []
    if numeric:
        linear_parts.append(
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)
        )
    if categorical:
        onehot = OneHotEncoder(handle_unknown="ignore", min_frequency=MIN_CATEGORY_ROWS)
        linear_parts.append(
            ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"), onehot), categorical)
        )
    linear_model = LogisticRegression(max_iter=2000, random_state=seed) if k else Ridge(alpha=1.0)
    linear = make_pipeline(ColumnTransformer(linear_parts), linear_model)

    ordinal = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan,
        max_categories=MAX_GB_CATEGORIES,
    )  # fmt: skip
    coded = ColumnTransformer([("categorical", ordinal, categorical), ("numeric", "passthrough", numeric)])
    gb_kwargs: dict[str, Any] = {
        "random_state": seed,
        "categorical_features": list(range(len(categorical))) or None,  # the encoder puts them first
    }
    booster = HistGradientBoostingClassifier(**gb_kwargs) if k else HistGradientBoostingRegressor(**gb_kwargs)
    boosting = make_pipeline(coded, booster)

    name = "logistic regression" if k else "ridge regression"
    about = f"{len(numeric)} numeric, {len(categorical)} categorical columns; "
    weights = f"; {NO_CLASS_WEIGHTS}" if k else ""
    fitted = []
    for model_name, pipeline, how in (
        (name, linear, "one-hot, standardized"),
        ("gradient boosting", boosting, "HistGradientBoosting"),
    ):
        start = time.perf_counter()
        with warnings.catch_warnings(), threads():
            # the imputer drops a column with no value in training, as it should
            warnings.filterwarnings("ignore", message="Skipping features without any observed values")
            pipeline.fit(X, y)
        predictor = _predictor(pipeline, k, lambda f: _features(f, numeric, categorical, "frame"))
        seconds = time.perf_counter() - start
        fitted.append(Fitted(model_name, "tabular", pipeline, seconds, predictor, about + how + weights))
    return fitted


def _features(frame: pd.DataFrame, numeric: list[str], categorical: list[str], what: str) -> pd.DataFrame:
    """The model columns of ``frame``: numbers as float64 (text that is no number -> missing), categories as
    strings with NaN for missing (so None, NaN and pd.NA are one missing value)."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise LlmkitError(
            f"{what}: expected a pandas DataFrame with the feature columns, got {type(frame).__name__}"
        )
    if not numeric and not categorical:
        raise LlmkitError(f"{what}: no numeric or categorical column given; expected at least one")
    missing = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if missing:
        raise LlmkitError(
            f"{what}: missing feature columns {missing[:4]}"
            + (f" (and {len(missing) - 4} more)" if len(missing) > 4 else "")
        )
    out = {c: pd.to_numeric(frame[c], errors="coerce").astype(np.float64) for c in numeric}
    for c in categorical:
        values = frame[c]
        out[c] = values.map(str, na_action="ignore").astype(object).where(values.notna(), np.nan)
    return pd.DataFrame(out, index=frame.index)[[*numeric, *categorical]]


# --------------------------------------------------------------------------------------------------- text


def text_model(
    task: str,
    train_texts: Sequence[str],
    y_train: ArrayLike,
    *,
    seed: int = 0,
    num_classes: int | None = None,  # k; None -> 2 (binary) or 1 + the largest class in y_train
    C: float = 1.0,  # noqa: N803 -- scikit-learn's name: inverse L2 strength (ridge: alpha = 1 / C)
) -> Fitted:
    """TF-IDF (word 1-2 grams, sublinear tf, min_df=2) + logistic regression, or + ridge for regression.

    ``predict`` takes a list of texts. On a corpus so small that no word is in two texts, min_df falls to 1
    (and the note says so).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline

    y = _targets(task, y_train, "y_train")
    texts = _texts(train_texts, "train_texts")
    if len(texts) != y.size:
        raise LlmkitError(
            f"train_texts: {len(texts)} texts but y_train has {y.size}; expected one target per text"
        )
    k = None if task == "regression" else _num_classes(task, y, num_classes)
    if k is not None and np.unique(y).size < 2:
        raise LlmkitError(f"y_train: expected at least two classes, got only class {int(y[0])}")
    start = time.perf_counter()
    for min_df in (2, 1):
        head = LogisticRegression(C=C, max_iter=2000, random_state=seed) if k else Ridge(alpha=1.0 / C)
        pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df), head)
        try:
            with threads():
                pipeline.fit(texts, y)
            break
        except ValueError as error:  # "After pruning, no terms remain" (or "empty vocabulary")
            if min_df == 1 or not any(w in str(error) for w in ("no terms remain", "empty vocabulary")):
                raise
    vocabulary = len(pipeline[0].vocabulary_)
    note = f"{vocabulary} word and word-pair features (in >= {min_df} training texts)"
    if k:
        note += f"; {NO_CLASS_WEIGHTS}"
    name = "TF-IDF + logistic regression" if k else "TF-IDF + ridge regression"
    predictor = _predictor(pipeline, k, lambda t: _texts(t, "texts"))
    return Fitted(name, "text", pipeline, time.perf_counter() - start, predictor, note)


def _texts(texts: Any, what: str) -> list[str]:
    """A list of strings (missing -> "")."""
    if isinstance(texts, str) or not hasattr(texts, "__len__"):
        raise LlmkitError(f"{what}: expected a list of texts, got {type(texts).__name__}")
    return ["" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t) for t in texts]


# ------------------------------------------------------------------------------------------------- shared


def _targets(task: str, y: ArrayLike, what: str) -> np.ndarray:
    if task not in ("binary", "multiclass", "regression"):
        raise LlmkitError(f"task: expected 'binary', 'multiclass' or 'regression', got {task!r}")
    values = np.asarray(y, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise LlmkitError(f"{what}: expected at least one target, got none")
    if task == "regression":
        return values.copy()
    if np.isnan(values).any() or (values != np.round(values)).any() or values.min() < 0:
        raise LlmkitError(
            f"{what}: expected encoded classes 0..k-1 for a {task} task, got e.g. {values[:4].tolist()}"
        )
    return values.astype(np.int64)


def _num_classes(task: str, y: np.ndarray, num_classes: int | None) -> int:
    """k: as given, 2 for a binary task, else 1 + the largest class seen."""
    k = int(num_classes) if num_classes is not None else 2 if task == "binary" else int(y.max()) + 1
    if task == "binary" and k != 2:
        raise LlmkitError(f"num_classes: a binary task has 2 classes, got {k}")
    if k < 2 or y.max() >= k:
        raise LlmkitError(
            f"num_classes: expected at least 2 and more than the largest class {int(y.max())}, got {k}"
        )
    return k


def threads() -> Any:
    """A context that runs scikit-learn's OpenMP and BLAS pools on :func:`llmkit.core.hardware.thread_count`
    threads: with another program on one of 2 cores, HistGradientBoosting took 21 s on 2 OpenMP threads
    where 1 thread took 0.3 s (1,500 rows)."""
    from threadpoolctl import threadpool_limits

    from llmkit.core.hardware import thread_count

    return threadpool_limits(limits=thread_count())


def _predictor(pipeline: Any, k: int | None, inputs: Callable[[Any], Any]) -> Callable[[Any], np.ndarray]:
    """``pipeline``'s predictions: values, or probabilities placed in the columns of all k classes (a class
    absent from the training rows gets 0)."""
    columns = None if k is None else np.asarray(pipeline.classes_, dtype=np.int64)

    def predict(x: Any) -> np.ndarray:
        with threads():
            if columns is None:
                return pipeline.predict(inputs(x)).astype(np.float64)
            seen = pipeline.predict_proba(inputs(x))  # [n, classes seen]
        out = np.zeros((seen.shape[0], k))
        out[:, columns] = seen
        return out

    return predict
