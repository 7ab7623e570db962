"""Predictive maintenance on the analyst engine (the manufacturing case study,
``notebooks/case_studies/manufacturing_maintenance.ipynb``): the failure mechanisms as columns
(:func:`physics_features`), the technicians' notes fused with the sensors (:func:`text_fusion`), and what an alert
policy costs (:func:`alert_costs`, on :mod:`llmkit.study.decisions`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError
from llmkit.core.settings import ProfileSettings, per_profile

if TYPE_CHECKING:
    import pandas as pd

    from llmkit.study.stages import Prepared


@dataclass(frozen=True)
class MaintenanceSettings(ProfileSettings):
    """The case study's own sizes; the engine's are :class:`llmkit.study.settings.AnalystSettings`."""

    # runs every model is scored on: a stratified sample at smoke (MiniLM reads them four times), else all
    # 2,000 test runs (PR-AUC on the engine's default 100 would rest on 4 failures)
    test_rows: int | None = per_profile(500, None, None)


PHYSICS = {  # new column: (what it is, the columns it needs)
    "temp_diff_k": ("process minus air temperature, K (heat dissipation)", ("process_temp_k", "air_temp_k")),
    "power_w": ("torque x angular speed, W (power)", ("torque_nm", "speed_rpm")),
    "strain_min_nm": ("tool wear x torque, min Nm (overstrain)", ("tool_wear_min", "torque_nm")),
}


def physics_features(frame: pd.DataFrame, name: str = "table") -> pd.DataFrame:
    """``frame`` with the three quantities the AI4I failure modes are defined on (Matzka 2020), as columns."""
    import pandas as pd

    needed = sorted({c for _, cols in PHYSICS.values() for c in cols})
    for column in needed:
        if column not in frame.columns:
            raise LlmkitError(
                f"{name}: missing column {column!r}; physics_features needs {', '.join(needed)}"
            )
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise LlmkitError(f"{name}: column {column!r} must be numeric, got {frame[column].dtype}")
    out = frame.copy()
    out["temp_diff_k"] = frame["process_temp_k"] - frame["air_temp_k"]
    out["power_w"] = frame["torque_nm"] * frame["speed_rpm"] * 2 * math.pi / 60
    out["strain_min_nm"] = frame["tool_wear_min"] * frame["torque_nm"]
    return out


@dataclass
class Fused:
    """The fused model's probabilities [n, 2] on the validation rows and on the scored test rows."""

    validation: np.ndarray
    test: np.ndarray
    seconds: float
    why: str


def text_fusion(p: Prepared, test_rows: np.ndarray, *, folds: int = 5, seed: int = 0) -> Fused:
    """Gradient boosting on [the notes' TF-IDF log-odds, the feature columns], trained on every training row.

    The engine's fusion stage fits its fuser on a few hundred validation rows (its transformer has seen the
    training rows); with a 4% failure rate that is a dozen failures. TF-IDF is cheap, so here its log-odds on each
    training row come from a model fitted on the other folds (cross-fitting, so no row scores itself), and the
    fuser learns from all of them. Validation and test rows are scored by TF-IDF fitted on every training row.
    """
    from sklearn.model_selection import StratifiedKFold

    from llmkit.study.fusion import text_scores
    from llmkit.study.tabular import tabular_models, text_model

    s = p.schema
    if s.task != "binary" or not s.text or not s.features:
        raise LlmkitError(
            f"{p.source}: text_fusion needs a binary target, a text column and feature columns; got a {s.task} "
            f"target, text {s.text}, features {s.features}"
        )
    start = time.perf_counter()
    train, val = p.rows("train"), p.rows("validation")
    y = p.y[train]
    k = min(folds, int(np.bincount(y, minlength=2).min()))
    if k < 2:
        raise LlmkitError(
            f"{p.source}: text_fusion needs at least 2 training rows of each class, got {np.bincount(y)}"
        )
    out_of_fold = np.zeros((len(train), 2))
    for fit, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(train, y):
        model = text_model("binary", p.texts(train[fit]), y[fit], seed=seed)
        out_of_fold[held] = model.predict(p.texts(train[held]))
    full = text_model("binary", p.texts(train), y, seed=seed)

    def frame(rows: np.ndarray, proba: np.ndarray) -> Any:
        f = p.X.iloc[rows].copy()
        f["__notes_log_odds"] = text_scores(proba)[:, 0]
        return f

    booster = next(
        m for m in tabular_models("binary", frame(train, out_of_fold), y, numeric=[*s.numeric, "__notes_log_odds"],
                                  categorical=s.categorical, seed=seed)
        if m.name == "gradient boosting"
    )  # fmt: skip
    val_p = np.asarray(booster.predict(frame(val, full.predict(p.texts(val)))))
    test_p = np.asarray(booster.predict(frame(test_rows, full.predict(p.texts(test_rows)))))
    why = f"gradient boosting on [TF-IDF log-odds ({k}-fold cross-fitted on {len(train)} training rows), features]"
    return Fused(val_p, test_p, time.perf_counter() - start, why)


def alert_costs(
    y_true: Any,  # [n] 1 = the machine failed
    policies: dict[str, tuple[Any, float]],  # name -> (probability of failure [n], stop when p >= this)
    cost_missed: float,  # a failure nobody stopped for (repair, scrap, downtime)
    cost_stop: float,  # a stop that was not needed (an inspection, lost output)
) -> pd.DataFrame:
    """Per alert policy: stops, failures caught and missed, unneeded stops, and cost per run."""
    import pandas as pd

    from llmkit.study.decisions import decision_cost

    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    rows = []
    for name, (proba, threshold) in policies.items():
        p = np.asarray(proba, dtype=np.float64).reshape(-1)
        if p.size != y.size:
            raise LlmkitError(f"alert_costs: policy {name!r} has {p.size} probabilities for {y.size} runs")
        stop = p >= threshold
        rows.append({
            "policy": name, "threshold": threshold, "stops": int(stop.sum()), "failures caught": int((stop & (y == 1)).sum()),
            "failures missed": int((~stop & (y == 1)).sum()), "unneeded stops": int((stop & (y == 0)).sum()),
            "cost per run": float(decision_cost(y, p, threshold, cost_missed, cost_stop)),
        })  # fmt: skip
    return pd.DataFrame(rows)


def table_with(
    analysis: Any,  # an llmkit.study.engine.Analysis
    extra: dict[str, tuple[str, Any]],  # model name -> (kind, probabilities [n, 2] on analysis.test_rows)
) -> pd.DataFrame:
    """The analysis's stage table with more rows scored the same way (same test rows, same resamples): a
    reference such as the generator's own probability ("best achievable"), or a model fitted outside the engine."""
    from llmkit.study import scoring

    base = analysis.table()
    rows = []
    for model, (kind, proba) in extra.items():
        pred = np.asarray(proba, dtype=np.float64)
        if len(pred) != len(analysis.test_rows):
            raise LlmkitError(
                f"table_with: {model!r} has {len(pred)} predictions for {len(analysis.test_rows)} test rows"
            )
        score = scoring.score(analysis.prepared.schema.task, analysis.y_test, pred, seed=analysis.seed,
                              n_resamples=analysis.n_resamples)  # fmt: skip
        rows.append({"stage": kind, "model": model, "kind": kind, "ran": True, "why": "", **score})
    import pandas as pd

    return pd.concat([base, scoring.stage_table(rows)], ignore_index=True)


def two_columns(p_failure: Any) -> np.ndarray:
    """[n] probabilities of failure as the engine's [n, 2] (no failure, failure)."""
    p = np.asarray(p_failure, dtype=np.float64).reshape(-1)
    return np.stack([1 - p, p], axis=1)
