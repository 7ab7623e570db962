"""Exercises of the transportation case study (ids "tr.*"); the registry and its helpers are in
``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _seasonal_naive(y: Any, season: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y[:-season].copy()


@register(
    "tr.seasonal_naive",
    prompt="Write seasonal_naive(y, season): for an evenly spaced series y, the forecast of y[season:], each value "
    "the one a season earlier (season = 168 for the same hour last week in hourly data).",
    reference=_seasonal_naive,
    wrong=lambda y, season: np.asarray(y, dtype=np.float64)[season - 1 : -1],
    hint="The forecast of y[t] is y[t - season], for t = season .. n-1: that is y[:-season]. y[t - 1] is the "
    "last value, the other floor.",
)
def _check_seasonal_naive(answer: Any) -> None:
    y = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0])
    for season in (2, 3, 7):
        expect_close(call(answer, y.copy(), season), y[:-season], on=f"season {season}")


def _mase(y_train: Any, y_test: Any, pred: Any, season: int) -> float:
    y_train, y_test, pred = (np.asarray(a, dtype=np.float64) for a in (y_train, y_test, pred))
    scale = np.mean(np.abs(y_train[season:] - y_train[:-season]))
    return float(np.mean(np.abs(y_test - pred)) / scale)


@register(
    "tr.mase",
    prompt="Write mase(y_train, y_test, pred, season): the test MAE of pred divided by the MAE of the seasonal "
    "naive forecast on the training series (Hyndman & Koehler 2006); below 1 beats that floor.",
    reference=_mase,
    wrong=lambda y_train, y_test, pred, season: _mase(y_train, y_test, pred, 1),
    hint="The scale is mean(|y_train[t] - y_train[t - season]|) over t = season .. n-1, the seasonal naive "
    "forecast's error in training; with season = 1 it would be the last value's instead.",
)
def _check_mase(answer: Any) -> None:
    y_train = np.array([10.0, 20.0, 30.0, 12.0, 18.0, 33.0, 9.0, 21.0, 29.0])  # a season of 3
    y_test = np.array([11.0, 19.0, 31.0])
    for pred, season in (([10.0, 20.0, 30.0], 3), ([12.0, 12.0, 12.0], 3), ([11.0, 21.0, 28.0], 2)):
        got = call(answer, y_train.copy(), y_test.copy(), np.array(pred), season)
        expect_close(got, _mase(y_train, y_test, pred, season), on=f"pred {pred}, season {season}")


def _latest_rows(times: Any, test_fraction: float) -> np.ndarray:
    times = np.asarray(times)
    n_test = round(len(times) * test_fraction)
    test = np.zeros(len(times), dtype=bool)
    test[np.argsort(times, kind="stable")[len(times) - n_test :]] = True
    return test


@register(
    "tr.latest_rows",
    prompt="Write latest_rows(times, test_fraction): a boolean mask of the rows to test on, the "
    "round(n * test_fraction) rows with the latest times (rows come in any order).",
    reference=_latest_rows,
    wrong=lambda times, test_fraction: (
        np.arange(len(times)) >= len(times) - round(len(times) * test_fraction)
    ),
    hint="Sort by time, not by position: the rows may be shuffled, and testing on the last rows of the file can "
    "train on the future. Mark the rows whose times are the n_test largest.",
)
def _check_latest_rows(answer: Any) -> None:
    times = np.array([5, 1, 9, 3, 7, 2, 8, 4, 6, 0])  # hours, shuffled
    for fraction in (0.2, 0.5, 0.3):
        expect_close(
            call(answer, times.copy(), fraction),
            _latest_rows(times, fraction),
            on=f"test_fraction {fraction}",
        )
