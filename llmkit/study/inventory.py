"""Monthly product demand for the retail case study's inventory section
(notebooks/case_studies/retail_recommendation.ipynb, seed §6.3 库存管理).

Why not the issue's SampleSuperstore: Bokeh's copy (``bokeh_sampledata/_data/SampleSuperstore.csv.gz``) has no
order or ship date (its 13 columns are ship mode, segment, place, category, sales, quantity, discount and
profit), so no demand *over time* can be built from it. The demand series here are real and offline: the
monthly sales of two drug categories through Australian pharmacies, July 1991 to June 2008 (``fpp2`` ``h02``,
corticosteroids, and ``a10``, antidiabetics: the Pharmaceutical Benefits Scheme's spending on them, in millions
of dollars; Hyndman & Athanasopoulos use both to teach seasonal forecasting).

:func:`monthly_demand` gives one row per product and month with what is known a month ahead: the calendar
month, the year (the trend) and the demand twelve months before. The analyst engine
(:mod:`llmkit.study.engine`) then forecasts it with its floors (the last month, the same month last year).
:func:`safety_stock` turns forecast errors into the stock to hold above the forecast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd

SERIES = {"h02": "corticosteroids (ATC H02)", "a10": "antidiabetics (ATC A10)"}


def monthly_demand(name: str) -> pd.DataFrame:
    """One product's monthly demand from ``fpp2``: ``month`` (the first day), ``demand`` (millions of dollars),
    ``month_of_year`` (a category), ``year`` and ``demand_last_year``; the first twelve months, which have no
    year before them, are dropped."""
    import pandas as pd

    from llmkit.data import real

    if name not in SERIES:
        raise LlmkitError(f"name: expected one of {', '.join(SERIES)}, got {name!r}")
    raw = real.rdataset("fpp2", name)
    index = np.round((raw["time"].to_numpy() - 1991.5) * 12).astype(int) + 6  # months since January 1991
    month = pd.to_datetime({"year": 1991 + index // 12, "month": index % 12 + 1, "day": 1})
    demand = raw["value"].to_numpy(dtype=np.float64)
    df = pd.DataFrame({
        "month": month,
        "demand": demand,
        "month_of_year": month.dt.month_name(),
        "year": month.dt.year,
        "demand_last_year": pd.Series(demand).shift(12),
    })  # fmt: skip
    df = df.iloc[12:].reset_index(drop=True)
    df.attrs.update(raw.attrs, product=SERIES[name], unit="million dollars per month")
    return df


def safety_stock(actual: np.ndarray, forecast: np.ndarray, service_level: float = 0.95) -> float:
    """The stock to hold above the forecast so that demand is covered in ``service_level`` of the periods:
    the ``service_level`` quantile of the forecast's errors (actual - forecast), never below zero."""
    actual, forecast = np.asarray(actual, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    if actual.shape != forecast.shape or actual.size == 0:
        raise LlmkitError(f"forecast: expected {actual.size} values like actual, got {forecast.size}")
    if not 0 < service_level < 1:
        raise LlmkitError(f"service_level: expected a number between 0 and 1, got {service_level!r}")
    return float(max(0.0, np.quantile(actual - forecast, service_level)))
