"""Mitigation with fairlearn (notebook 10): post-processing with ``ThresholdOptimizer`` (one threshold per group,
chosen on the training rows) and the reduction ``ExponentiatedGradient`` (a randomized mix of refitted models
under a constraint), and the accuracy-disparity trade-off they buy, measured on test rows.

Both need the sensitive attribute: the reduction at training time, the threshold optimizer at prediction time
too (a deployment question as much as a technical one). Their predictions are randomized; ``random_state`` is
fixed so the same seed gives the same numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd

CONSTRAINTS = ("demographic_parity", "equalized_odds")


def score_model() -> Any:
    """A fitted scikit-learn "model" whose input is already its score (``X[:, 0]`` in [0, 1]): lets
    ``ThresholdOptimizer`` post-process any classifier's scores, e.g. a text model's, without refitting it."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class ScoreModel(ClassifierMixin, BaseEstimator):
        def fit(self, X: Any, y: Any, **kwargs: Any) -> ScoreModel:
            self.classes_ = np.array([0, 1])
            return self

        def predict(self, X: Any) -> np.ndarray:
            return np.asarray(X, dtype=np.float64)[:, 0]

        def predict_proba(self, X: Any) -> np.ndarray:
            p = self.predict(X)
            return np.stack([1 - p, p], axis=1)

    return ScoreModel().fit(None, None)


def _constraint(name: str) -> None:
    if name not in CONSTRAINTS:
        raise LlmkitError(f"constraint: expected one of {', '.join(CONSTRAINTS)}, got {name!r}")


def threshold_optimizer(
    model: Any,
    X: Any,
    y: ArrayLike,
    sensitive: ArrayLike,
    constraint: str = "demographic_parity",
    seed: int = 0,
) -> Any:
    """fairlearn's ``ThresholdOptimizer`` around the fitted ``model`` (prefit), its thresholds chosen on ``(X, y)``
    to maximize accuracy under ``constraint``; predict with ``.predict(X, sensitive_features=s, random_state=seed)``."""
    from fairlearn.postprocessing import ThresholdOptimizer

    _constraint(constraint)
    optimizer = ThresholdOptimizer(
        estimator=model,
        constraints=constraint,
        objective="accuracy_score",
        prefit=True,
        predict_method="predict_proba",
    )
    return optimizer.fit(X, np.asarray(y), sensitive_features=np.asarray(sensitive))


def exponentiated_gradient(
    X: Any, y: ArrayLike, sensitive: ArrayLike, constraint: str = "demographic_parity", eps: float = 0.01,
    C: float = 1.0, max_iter: int = 50,
) -> Any:  # fmt: skip
    """fairlearn's ``ExponentiatedGradient`` reduction over a logistic regression (:func:`llmkit.fairness.tables.
    logistic_pipeline`), allowed a constraint violation of ``eps``."""
    from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient

    from llmkit.fairness.tables import logistic_pipeline

    _constraint(constraint)
    base = logistic_pipeline(X, C=C)
    moment = DemographicParity() if constraint == "demographic_parity" else EqualizedOdds()
    reduction = ExponentiatedGradient(
        base, moment, eps=eps, max_iter=max_iter, sample_weight_name="logreg__sample_weight"
    )
    return reduction.fit(X, np.asarray(y), sensitive_features=np.asarray(sensitive))


def tradeoff_row(name: str, y: ArrayLike, y_pred: ArrayLike, sensitive: ArrayLike) -> dict[str, Any]:
    """One point of the trade-off: accuracy, the four disparities, and each group's accuracy and selection rate."""
    from llmkit.fairness.audit import fairlearn_disparities, group_table

    y, yhat = np.asarray(y), np.asarray(y_pred)
    row: dict[str, Any] = {"model": name, "accuracy": float(np.mean(y == yhat))}
    row |= fairlearn_disparities(y, yhat, sensitive)
    table = group_table(y, yhat, sensitive)
    for group in table.index:
        row[f"accuracy {group}"] = float(table.loc[group, "accuracy"])
        row[f"selection rate {group}"] = float(table.loc[group, "selection rate"])
    return row


def tradeoff_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The trade-off rows as a table indexed by model."""
    import pandas as pd

    return pd.DataFrame(rows).set_index("model")


def reduction(before: float, after: float) -> float:
    """The share of a disparity removed: 1 - after / before (NaN when there was none)."""
    return float(1 - after / before) if before > 0 else float("nan")
