"""Which rows train, which choose, which test: :func:`assign_splits`, from a table and its schema.

By what the schema says, first match wins:

* ``split_column`` given: its values are the split (``train``, ``validation``, ``test``, any case; ``val``,
  ``valid`` and ``dev`` read as validation). Without validation rows, ``validation_fraction`` of the training
  rows become validation (the latest ones with a time column, whole groups with a group column, else stratified).
* ``schema.time_column``: **chronological**. The earliest rows train, the next validate, the latest test; rows
  with the same time stay on one side (a cut moves to the nearest change of time), so every training time is
  before every validation time, and every validation time before every test time. ``shuffle_time=True`` asks
  for a random split anyway, and the description says that the future then leaks into training.
* ``schema.group_column``: **grouped**. Every group's rows on one side (scikit-learn's StratifiedGroupKFold
  for classification when each class spans enough groups, else GroupShuffleSplit; seeded).
* otherwise **stratified** by class (classification) or **random** (regression), seeded.

``test_fraction`` and ``validation_fraction`` are shares of the whole table (0.2 and 0.2: 60/20/20). Every split
must be non-empty, and every class must have training rows; otherwise one :class:`~llmkit.core.errors.LlmkitError`
line. A table holding dates but split without a time column gets a note at the end of the description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError
from llmkit.data.tables import require_column, show_list
from llmkit.study import values as vals

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from llmkit.study.schema import Schema

__all__ = ["SPLITS", "Split", "assign_splits"]

SPLITS = ("train", "validation", "test")
_ALIASES = {"train": "train", "validation": "validation", "val": "validation", "valid": "validation",
            "dev": "validation", "test": "test"}  # fmt: skip


@dataclass(frozen=True, eq=False)  # eq=False: an array field has no truth value
class Split:
    """Each row's split, how it was made, and one line that says so."""

    split: np.ndarray  # per row (table order): "train", "validation" or "test" (dtype object)
    kind: str  # "stratified", "random", "chronological", "grouped", "given"
    description: str  # one line for the notebook: the kind, the sizes (and times or groups)

    def rows(self, name: str) -> np.ndarray:
        """Positional indices of the rows in split ``name``."""
        import numpy as np

        if name not in SPLITS:
            raise LlmkitError(f"split {name!r}: unknown; expected one of {', '.join(SPLITS)}")
        return np.flatnonzero(self.split == name)

    def counts(self) -> dict[str, int]:
        import numpy as np

        return {s: int(np.sum(self.split == s)) for s in SPLITS}


def assign_splits(
    df: pd.DataFrame,
    schema: Schema,
    *,
    test_fraction: float = 0.2,  # share of all rows
    validation_fraction: float = 0.2,  # share of all rows (of the training rows when carved from a given split)
    seed: int = 0,
    split_column: str | None = None,  # a column of train/validation/test
    shuffle_time: bool = False,  # True: a random split even with a time column (the future leaks into training)
) -> Split:
    """Split ``df``'s rows into train, validation and test as the module docstring says."""
    import numpy as np

    name, n = schema.name, len(df)
    for label, value in (("test_fraction", test_fraction), ("validation_fraction", validation_fraction)):
        if not 0 < value < 1:
            raise LlmkitError(f"{name}: {label}={value}; expected a share between 0 and 1")
    if test_fraction + validation_fraction >= 1:
        raise LlmkitError(f"{name}: test_fraction + validation_fraction = {test_fraction + validation_fraction:g}; "
                          "expected less than 1 (some rows must train)")  # fmt: skip
    y = schema.encode_target(df[schema.target]) if schema.task != "regression" else None
    if split_column is not None:
        split, kind, text = _given(df, schema, split_column, validation_fraction, seed, y)
    else:
        kind = _kind(schema, y, shuffle_time)
        keys = _keys(kind, df, schema)
        n_test, n_val = _sizes(n, (test_fraction, validation_fraction), name)
        rest, test, whole = _carve(kind, schema, np.arange(n), n_test, seed, y, keys)
        train, val, inner = _carve(kind, schema, rest, n_val, seed, y, keys)
        split = _labelled(n, train, val, test)
        kind = "random" if kind == "stratified" and not (whole and inner) else kind
        text = _describe(kind, schema, split, seed, keys)
        if schema.time_column and shuffle_time:  # a random split asked for on time-ordered rows
            if kind != "grouped":
                kind, text = "random", text.replace("stratified on", "random, stratified on", 1)
            text += (f"; note: rows shuffled across time ({schema.time_column!r}), so the future leaks into "
                     "training (shuffle_time=True)")  # fmt: skip
    _check(split, schema, y)
    dates = [c for c in schema.names("datetime") if c != schema.time_column]
    if dates and not schema.time_column:
        text += (f"; note: column {dates[0]!r} holds dates; pass time_column={dates[0]!r} to train on the past "
                 "and test on the future")  # fmt: skip
    return Split(split, kind, text)


# -------------------------------------------------------------------------------------------- the kinds


def _kind(schema: Schema, y: Any, shuffle_time: bool) -> str:
    if schema.time_column and not shuffle_time:
        return "chronological"
    if schema.group_column:
        return "grouped"
    return "stratified" if y is not None else "random"


def _sizes(n: int, fractions: tuple[float, float], name: str) -> tuple[int, int]:
    """Rows for (test, validation): each at least 1, leaving at least 1 to train."""
    n_test, n_val = (max(1, round(n * f)) for f in fractions)
    if n - n_test - n_val < 1:
        raise LlmkitError(f"{name}: {n} rows are too few for train, validation and test splits; "
                          "expected at least 3 rows")  # fmt: skip
    return n_test, n_val


def _keys(kind: str, df: pd.DataFrame, schema: Schema) -> np.ndarray | None:
    """What the cuts go by: each row's time (chronological), its group (grouped), or nothing."""
    import pandas as pd

    if kind == "chronological":
        col = schema.time_column
        return vals.parse_time(df[col], col, schema.name).to_numpy()
    if kind == "grouped":
        return pd.factorize(df[schema.group_column].astype(str).to_numpy())[0]
    return None


def _carve(kind: str, schema: Schema, rows: np.ndarray, size: int, seed: int, y: Any, keys: Any):
    """(kept, cut, stratified): about ``size`` of ``rows`` cut off -- the latest, whole groups, or
    stratified (when every class allows it) or random rows."""
    import numpy as np

    if kind == "chronological":
        return (*_latest(schema, rows, size, keys), False)
    if kind == "grouped":
        return (*_whole_groups(schema, rows, size / len(rows), seed, y, keys), False)
    from sklearn.model_selection import train_test_split

    labels = y[rows] if kind == "stratified" and y is not None else None
    try:
        kept, cut = train_test_split(rows, test_size=size, random_state=seed, stratify=labels)
    except ValueError:  # a class too small to reach both sides: random rows instead
        kept, cut = train_test_split(rows, test_size=size, random_state=seed)
        labels = None
    return np.sort(kept), np.sort(cut), labels is not None


def _latest(schema: Schema, rows: np.ndarray, size: int, times: np.ndarray):
    """The rows of the latest times cut off, about ``size`` of them, never splitting rows of one time."""
    import numpy as np

    col = schema.time_column
    time = times[rows]
    order = np.argsort(time, kind="stable")
    ordered = time[order]
    starts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1  # positions where a new time begins
    if len(starts) == 0:
        raise LlmkitError(f"{schema.name}: time column {col!r}: {len(rows)} rows share one time "
                          f"({vals.when(ordered[0])}); expected at least 3 distinct times for train, validation "
                          "and test")  # fmt: skip
    at = int(starts[np.argmin(np.abs(starts - (len(rows) - size)))])
    return np.sort(rows[order[:at]]), np.sort(rows[order[at:]])


def _whole_groups(schema: Schema, rows: np.ndarray, fraction: float, seed: int, y: Any, codes: np.ndarray):
    """About ``fraction`` of the groups of ``rows`` cut off whole; stratified by class where each class spans
    enough groups (StratifiedGroupKFold, one fold), else GroupShuffleSplit."""
    import numpy as np
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    col = schema.group_column
    groups = codes[rows]
    if len(np.unique(groups)) < 2:
        raise LlmkitError(f"{schema.name}: group column {col!r} has too few groups ({len(np.unique(codes))} in all) "
                          "for train, validation and test; expected at least 3")  # fmt: skip
    folds = max(2, round(1 / fraction))
    if y is not None:
        labels = y[rows]
        if min(len(np.unique(groups[labels == k])) for k in np.unique(labels)) >= folds:
            cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            kept, cut = next(cv.split(rows, labels, groups))
            return np.sort(rows[kept]), np.sort(rows[cut])
    cv = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    kept, cut = next(cv.split(rows, groups=groups))
    return np.sort(rows[kept]), np.sort(rows[cut])


def _describe(kind: str, schema: Schema, split: np.ndarray, seed: int, keys: Any) -> str:
    import numpy as np
    import pandas as pd

    if kind == "chronological":
        col = schema.time_column
        time = pd.Series(keys)
        clock = vals.has_time_of_day(time)
        shown = ", ".join(
            f"{s} {vals.span(time[split == s], clock)} ({int(np.sum(split == s))} rows)" for s in SPLITS
        )
        return f"chronological on {col!r}: {shown}"
    if kind == "grouped":
        shown = ", ".join(
            f"{s} {len(np.unique(keys[split == s]))} groups ({int(np.sum(split == s))} rows)" for s in SPLITS
        )
        return f"grouped by {schema.group_column!r} (seed {seed}): {shown}"
    if kind == "stratified":
        return f"stratified on {schema.target!r} (seed {seed}): {_counts(split)}"
    few = " (too few rows per class to stratify)" if schema.task != "regression" else ""
    return f"random (seed {seed}){few}: {_counts(split)}"


def _given(df: pd.DataFrame, schema: Schema, col: str, validation_fraction: float, seed: int, y: Any):
    import numpy as np

    name = schema.name
    require_column(df, col, "split", name)
    if col in schema.features or col in schema.text:
        raise LlmkitError(f"{name}: split column {col!r} is also a model input in the schema; pass "
                          f"split_column={col!r} to infer_schema too (or name it in drop_columns)")  # fmt: skip
    vals.require_complete(df[col], col, "split column", name)
    raw = df[col].astype(str).str.strip().str.lower()
    unknown = sorted(set(raw) - set(_ALIASES))
    if unknown:
        raise LlmkitError(f"{name}: split column {col!r} holds {show_list(map(repr, unknown), 4)}; expected "
                          "train, validation (optional) and test")  # fmt: skip
    split = raw.map(_ALIASES).to_numpy(dtype=object)
    missing = [s for s in ("train", "test") if not np.any(split == s)]
    if missing:
        raise LlmkitError(f"{name}: split column {col!r} has no {' or '.join(missing)} rows; expected train, "
                          "validation (optional) and test")  # fmt: skip
    if np.any(split == "validation"):
        return split, "given", f"given by column {col!r}: {_counts(split)}"
    train = np.flatnonzero(split == "train")
    kind = _kind(schema, y, shuffle_time=False)
    size = max(1, round(len(train) * validation_fraction))
    if size >= len(train):
        raise LlmkitError(f"{name}: split column {col!r} has {len(train)} train row(s) and no validation rows; "
                          "expected enough train rows to carve validation from (or validation rows)")  # fmt: skip
    _, val, stratified = _carve(kind, schema, train, size, seed, y, _keys(kind, df, schema))
    split[val] = "validation"
    how = {"chronological": "the latest", "grouped": f"whole groups (seed {seed}) of the"}.get(
        kind, f"{'stratified' if stratified else 'random'} (seed {seed})"
    )
    return split, "given", (f"given by column {col!r}, validation carved from {how} training rows "
                            f"(validation_fraction={validation_fraction:g}): {_counts(split)}")  # fmt: skip


# ------------------------------------------------------------------------------------------------ checks


def _labelled(n: int, train: Any, val: Any, test: Any) -> np.ndarray:
    import numpy as np

    split = np.empty(n, dtype=object)
    split[np.asarray(train)], split[np.asarray(val)], split[np.asarray(test)] = SPLITS
    return split


def _counts(split: np.ndarray) -> str:
    import numpy as np

    return ", ".join(f"{s} {int(np.sum(split == s))} rows" for s in SPLITS)


def _check(split: np.ndarray, schema: Schema, y: Any) -> None:
    import numpy as np

    empty = [s for s in SPLITS if not np.any(split == s)]
    if empty:
        raise LlmkitError(f"{schema.name}: the {' and '.join(empty)} split(s) would be empty ({_counts(split)}); "
                          "expected rows in train, validation and test: use a larger table or other fractions")  # fmt: skip
    if y is not None:
        absent = [c for k, c in enumerate(schema.classes) if not np.any(y[split == "train"] == k)]
        if absent:
            raise LlmkitError(f"{schema.name}: target {schema.target!r}: class(es) {show_list(map(repr, absent), 4)} "
                              "have no training rows in this split; expected every class in train")  # fmt: skip
