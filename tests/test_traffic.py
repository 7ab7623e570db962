"""The transport case study's loaders: time columns built in the open, no leak columns, cancelled flights counted."""

import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.data import traffic


def test_bikeshare_time_is_day_and_hour():
    bikes = traffic.bikeshare()
    assert len(bikes) == 8645 and bikes.attrs["target"] == "bikers"
    first = bikes.iloc[0]
    assert first["time"] == pd.Timestamp("2011-01-01") + pd.Timedelta(hours=int(first["hr"]))
    assert bikes["time"].is_monotonic_increasing and bikes["time"].is_unique
    assert bikes["time"].dt.day_of_year.tolist() == bikes["day"].tolist()


def test_chicago_calendar_columns():
    chicago = traffic.chicago()
    day = pd.to_datetime(chicago["date"])
    assert (chicago["weekday"] == day.dt.day_name()).all() and (chicago["month"] == day.dt.month_name()).all()
    assert chicago.attrs["target"] == "ridership"


@pytest.fixture(scope="module")
def flights():
    return traffic.flights()


def test_flights_known_at_scheduling_time(flights):
    assert len(flights) == 336_776 - 9_430  # the flights that arrived
    assert not set(traffic.FLIGHT_LEAKS) & set(flights.columns)
    assert set(flights["delayed"]) == {"yes", "no"} and 0.2 < (flights["delayed"] == "yes").mean() < 0.3
    assert "9,430" in flights.attrs["notes"] and flights.attrs["target"] == "delayed"
    # local time: the scheduled hour is the local hour of `time`, so a late-evening flight keeps its weekday
    assert (flights["time"].dt.hour == flights["hour"]).all()
    assert flights["time"].is_monotonic_increasing
    # the weather joined on (origin, hour), never multiplying rows
    assert flights["temp"].notna().mean() > 0.99


def test_flights_delay_rule_and_bad_minutes(flights):
    strict = traffic.flights(delay_minutes=0)
    assert (strict["delayed"] == "yes").mean() > (flights["delayed"] == "yes").mean()
    with pytest.raises(LlmkitError, match="delay_minutes: expected minutes >= 0, got -5"):
        traffic.flights(delay_minutes=-5)
