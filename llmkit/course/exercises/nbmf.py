"""Exercises of the manufacturing case study (ids "mf.*", ``notebooks/case_studies/manufacturing_maintenance.ipynb``);
the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _power_w(torque_nm: Any, speed_rpm: Any) -> np.ndarray:
    return (
        np.asarray(torque_nm, dtype=np.float64) * np.asarray(speed_rpm, dtype=np.float64) * 2 * math.pi / 60
    )


@register(
    "mf.power_w",
    prompt="Write power_w(torque_nm, speed_rpm): the spindle's mechanical power in watts, torque times angular speed.",
    reference=_power_w,
    wrong=lambda torque_nm, speed_rpm: np.asarray(torque_nm, dtype=np.float64) * np.asarray(speed_rpm),
    hint="Power = torque (Nm) x angular speed (rad/s); one revolution is 2 pi radians and a minute 60 s, so "
    "rad/s = rpm x 2 pi / 60.",
)
def _check_power_w(answer: Any) -> None:
    torque, speed = np.array([40.0, 10.0, 70.0, 3.8]), np.array([1540.0, 2800.0, 1160.0, 2890.0])
    expect_close(
        call(answer, torque.copy(), speed.copy()), _power_w(torque, speed), on="four runs", rtol=1e-6
    )


def _defect_given_noise(prior: float, heard_if_defect: float, heard_if_healthy: float) -> float:
    heard = prior * heard_if_defect + (1 - prior) * heard_if_healthy
    return float(prior * heard_if_defect / heard)


@register(
    "mf.defect_given_noise",
    prompt="Write defect_given_noise(prior, heard_if_defect, heard_if_healthy): P(defect | the note mentions a "
    "noise), by Bayes' rule.",
    reference=_defect_given_noise,
    wrong=lambda prior, heard_if_defect, heard_if_healthy: float(heard_if_defect),
    hint="P(defect | noise) = P(noise | defect) P(defect) / P(noise), and P(noise) = prior x heard_if_defect + "
    "(1 - prior) x heard_if_healthy: with few defects, most mentions of a noise can come from healthy runs.",
)
def _check_defect_given_noise(answer: Any) -> None:
    for args in ((0.02, 0.85, 0.01), (0.5, 0.9, 0.1), (0.1, 0.6, 0.3)):
        expect_close(
            call(answer, *args), _defect_given_noise(*args), on=f"prior, heard rates {args}", rtol=1e-6
        )


def _average_precision(y: Any, score: Any) -> float:
    y = np.asarray(y)[np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")]
    hits = np.cumsum(y == 1)
    precision = hits / np.arange(1, len(y) + 1)
    return float(precision[y == 1].mean())


@register(
    "mf.average_precision",
    prompt="Write average_precision(y, score): the mean, over the failures, of the precision at each failure's "
    "rank when the runs are sorted by score, highest first (the PR-AUC of the tables).",
    reference=_average_precision,
    wrong=lambda y, score: float(np.mean(np.asarray(y) == 1)),
    hint="Sort y by score, descending; precision at rank k is (failures among the first k) / k; average it over "
    "the ranks where a failure sits. A constant score would give the failure rate, the floor.",
)
def _check_average_precision(answer: Any) -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    for n, rate in ((20, 0.2), (50, 0.06), (8, 0.5)):
        y = (rng.random(n) < rate).astype(int)
        y[0] = 1
        score = rng.permutation(n) + 0.5 * y  # no ties
        got = call(answer, y.copy(), score.copy())
        expect_close(
            got, float(average_precision_score(y, score)), on=f"{n} runs, {int(y.sum())} failures", rtol=1e-6
        )
