"""Baselines a fine-tuned model must beat (notebook 03; notebook 04 reuses the probe).

* :func:`tfidf_logreg` -- TF-IDF word features and logistic regression, its regularization
  ``C`` chosen by cross-validation on the *training* texts only, so the baseline is as strong as it
  honestly can be (a default ``C`` can make a baseline look weaker than it is).
* :func:`linear_probe` -- logistic regression on frozen features (e.g. MiniLM sentence embeddings from
  :func:`llmkit.assets.models.embed`), ``C`` chosen the same way.

Both return fitted scikit-learn estimators with ``predict_proba`` (``[n, k]``), so their scores come
from the same :mod:`llmkit.core.evaluate` functions as the fine-tuned model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError

C_GRID: tuple[float, ...] = (1.0, 10.0, 100.0)  # inverse L2 strengths tried by cross-validation


def _folds(labels: np.ndarray, folds: int) -> int:
    smallest = int(np.bincount(labels).min(initial=0) if labels.size else 0)
    if labels.size == 0 or len(np.unique(labels)) < 2:
        raise LlmkitError(f"labels: expected at least two classes, got {np.unique(labels).tolist()}")
    return max(2, min(folds, smallest))


def tfidf_logreg(
    texts: Sequence[str],
    labels: ArrayLike,  # [n] integer classes
    Cs: Sequence[float] = C_GRID,
    folds: int = 5,  # stratified, unshuffled: deterministic
    ngram_range: tuple[int, int] = (
        1,
        1,
    ),  # words; (1, 2) adds bigrams (7x the features, slower, not better here)
) -> Any:
    """A fitted ``GridSearchCV(TfidfVectorizer -> LogisticRegression)``; ``.best_params_`` holds the chosen C.

    The vectorizer is refitted inside each fold, so no vocabulary leaks from the held-out fold.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline

    y = np.asarray(labels, dtype=np.int64)
    if len(texts) != y.size:
        raise LlmkitError(
            f"tfidf_logreg: {len(texts)} texts but {y.size} labels; expected one label per text"
        )
    pipeline = Pipeline(
        [
            ("tfidf", TfidfVectorizer(ngram_range=ngram_range, sublinear_tf=True, min_df=1)),
            ("logreg", LogisticRegression(max_iter=5000)),
        ]
    )
    search = GridSearchCV(
        pipeline,
        {"logreg__C": list(Cs)},
        cv=StratifiedKFold(_folds(y, folds)),
        scoring="accuracy",
        n_jobs=1,
    )
    return search.fit(list(texts), y)


def linear_probe(
    features: ArrayLike,  # [n, d] frozen features, e.g. sentence embeddings
    labels: ArrayLike,  # [n]
    Cs: Sequence[float] = C_GRID,
    folds: int = 5,
) -> Any:
    """A fitted ``LogisticRegressionCV`` on frozen features: the linear-probe baseline."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    X = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if X.ndim != 2 or X.shape[0] != y.size:
        raise LlmkitError(
            f"linear_probe: expected features [n, d] with n = {y.size} labels, got shape {list(X.shape)}"
        )
    probe = LogisticRegressionCV(
        Cs=list(Cs),
        cv=StratifiedKFold(_folds(y, folds)),
        l1_ratios=(0.0,),  # plain L2, said explicitly (scikit-learn's default is changing)
        scoring="accuracy",
        use_legacy_attributes=False,
        max_iter=5000,
    )
    return probe.fit(X, y)
