"""How the analyst engine reads one column's values: what counts as missing, numbers stored as text, dates,
class and category names, and times as a notebook shows them. :mod:`llmkit.study.schema` gives roles with
these, :mod:`llmkit.study.splits` orders rows by :func:`parse_time`; every function takes a pandas Series.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError
from llmkit.data.tables import show_list

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "as_numbers", "date_example", "is_bool", "label", "labels", "missing", "parse_time", "require_complete",
    "show", "sorted_labels", "span", "has_time_of_day", "to_datetime", "when",
]  # fmt: skip

DATE_SAMPLE = 1000  # distinct values tried as dates
DATE_YEARS = (1800, 2200)  # a parsed date outside these years is no date: '1-2' and '5th' parse as year 1


def missing(values: pd.Series) -> pd.Series:
    """Missing values, blank strings included."""
    import pandas as pd

    gone = values.isna()
    if isinstance(values.dtype, pd.StringDtype):
        return gone | values.str.strip().eq("").fillna(False).astype(bool)
    if pd.api.types.is_object_dtype(values):
        is_str = values.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False).astype(bool)
        gone |= is_str & (values.where(is_str, "x").astype(str).str.strip() == "")
    return gone


def require_complete(values: pd.Series, col: str, role: str, name: str, fix: str = "") -> None:
    """One LlmkitError line when ``values`` has a missing value: how many, and the first rows (1-based)."""
    import numpy as np

    gone = missing(values)
    if gone.any():
        rows = (np.flatnonzero(gone.to_numpy()) + 1).tolist()
        shown = f"row{'s' if len(rows) > 1 else ''} {show_list(rows, 5)}"
        raise LlmkitError(f"{name}: {role} {col!r} has {len(rows)} missing value(s) ({shown}; 1-based data rows); "
                          f"expected a value in every row{fix}")  # fmt: skip


def is_bool(present: pd.Series) -> bool:
    """A bool column, or an object column holding only True and False."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(present):
        return True
    if not pd.api.types.is_object_dtype(present):
        return False
    try:
        distinct = pd.unique(present)
    except TypeError:  # lists or dicts
        return False
    return all(isinstance(v, bool | np.bool_) for v in distinct)


def as_numbers(values: pd.Series, gone: pd.Series | None = None) -> pd.Series | None:
    """The column as numbers when it holds only numbers (or strings that parse fully as numbers), else None.
    ``gone``: its :func:`missing` mask, when the caller has it."""
    import numpy as np
    import pandas as pd

    gone = missing(values) if gone is None else gone
    present = values[~gone]
    if pd.api.types.is_bool_dtype(values) or is_bool(present):
        return None
    if pd.api.types.is_numeric_dtype(values):
        return values
    if (
        not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values))
        or len(present) == 0
    ):
        return None
    codes, distinct = pd.factorize(present.astype(str).str.strip())
    if pd.to_numeric(pd.Series(distinct[:100], dtype=object), errors="coerce").isna().any():
        return None  # a quick look first
    numbers = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce").to_numpy(dtype=float)
    if np.isnan(numbers).any():
        return None
    out = np.full(len(values), np.nan)
    out[~gone.to_numpy()] = numbers[codes]
    return pd.Series(out, index=values.index)


def date_example(text: pd.Series) -> str | None:
    """One of the strings when >= 95% of the distinct ones parse as dates (holding a digit, not plain numbers)."""
    import pandas as pd

    uniques = pd.Series(text.unique())
    if len(uniques) > DATE_SAMPLE:
        uniques = uniques.sample(n=DATE_SAMPLE, random_state=0)
    candidate = uniques.str.contains(r"\d") & pd.to_numeric(uniques, errors="coerce").isna()
    if candidate.mean() < 0.95:
        return None
    if to_datetime(uniques[candidate].iloc[:50]).isna().mean() > 0.1:  # a quick look first: most are no dates
        return None
    parsed = to_datetime(uniques[candidate])
    years = parsed.dt.year
    parsed = parsed.where((years >= DATE_YEARS[0]) & (years <= DATE_YEARS[1]))
    if parsed.notna().sum() < 0.95 * len(uniques):
        return None
    return str(uniques[candidate][parsed.notna()].iloc[0])


def to_datetime(text: pd.Series) -> pd.Series:
    """Strings -> datetime64 (NaT where a value does not parse): one inferred format if it fits, else each alone."""
    import pandas as pd

    best = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kwargs in ({}, {"format": "mixed"}, {"format": "mixed", "utc": True}):
            try:
                parsed = pd.to_datetime(text, errors="coerce", **kwargs)
            except (ValueError, TypeError, OverflowError):
                continue  # e.g. mixed time zones: retried in UTC
            if pd.api.types.is_datetime64_any_dtype(parsed) and parsed.notna().sum() > best.notna().sum():
                best = parsed
            if best.notna().all():
                break
    return best


def parse_time(values: pd.Series, column: str, name: str = "table") -> pd.Series:
    """A time column as values that order the rows: datetime64, or numbers as they are (a year, a day index)."""
    import pandas as pd

    require_complete(values, column, "time column", name)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values
    text = values.astype(str).str.strip()
    uniques = pd.Series(text.unique())
    parsed = to_datetime(uniques)
    bad = parsed.isna()
    if bad.any():
        raise LlmkitError(f"{name}: time column {column!r} holds {show(uniques[bad].iloc[0])}, not a date or time "
                          f"({int(text.isin(uniques[bad]).sum())} such rows); expected values pandas.to_datetime parses")  # fmt: skip
    out = parsed.iloc[pd.Index(uniques).get_indexer(text)]
    out.index = values.index
    return out


def span(times: pd.Series, with_time: bool | None = None) -> str:
    """'2001-01-02..2004-03-01': the first and last time; with the time of day when any has one
    (``with_time`` decides for a part of a longer column)."""
    if with_time is None:
        with_time = has_time_of_day(times)
    return f"{when(times.min(), with_time)}..{when(times.max(), with_time)}"


def has_time_of_day(times: pd.Series) -> bool:
    """Whether any of ``times`` (datetime64) is not at midnight."""
    import pandas as pd

    if not pd.api.types.is_datetime64_any_dtype(times):
        return False
    return bool((times != times.dt.normalize()).any())


def when(value: Any, with_time: bool | None = None) -> str:
    """A time as a notebook shows it: '2001-01-02', or '2001-01-02 10:30' with a time of day; numbers as they are."""
    import pandas as pd

    if isinstance(value, pd.Timestamp):
        if with_time is None:
            with_time = value != value.normalize()
        if not with_time:
            return value.strftime("%Y-%m-%d")
        return value.strftime(
            "%Y-%m-%d %H:%M" if value.second == 0 and value.microsecond == 0 else "%Y-%m-%d %H:%M:%S"
        )
    return label(value)


def label(value: Any) -> str:
    """A value as a class or category name: 1.0 -> '1', True -> 'True', ' yes ' -> 'yes'."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value).strip()


def labels(values: pd.Series) -> np.ndarray:
    """Each value's :func:`label` (dtype object); strings holding numbers read as those numbers ('1.0' and 1
    are one class); a missing value is 'nan'."""
    import numpy as np
    import pandas as pd

    values = values.astype(object) if isinstance(values.dtype, pd.CategoricalDtype) else values
    numbers = as_numbers(values)
    source = numbers if numbers is not None and not pd.api.types.is_numeric_dtype(values) else values
    codes, distinct = pd.factorize(source)
    names = np.array([label(v) for v in distinct] + ["nan"], dtype=object)
    return names[codes]  # code -1 (missing) -> the last, 'nan'


def sorted_labels(names: Any) -> tuple[str, ...]:
    """Distinct labels sorted, numbers numerically ('2' before '10') when every label is a number."""
    names = set(names)
    numbers = {}
    for s in names:
        try:
            numbers[s] = float(s)
        except ValueError:
            return tuple(sorted(names))
    return tuple(sorted(names, key=lambda s: (numbers[s], s)))


def show(value: Any, width: int = 40) -> str:
    """A value as the user would type it (1 rather than np.int64(1)), cut to ``width`` characters."""
    if hasattr(value, "item") and callable(value.item):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
