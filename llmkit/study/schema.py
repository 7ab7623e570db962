"""Every column of an analyst's table gets a role before any model is trained: :func:`infer_schema`.

The engine (:mod:`llmkit.study.engine`) prints :meth:`Schema.table` -- one row per column with its role and the
reason -- so an analyst sees what each column will be used for, and overrides what is wrong. The rules, in order:

**The target** must exist. Its task: a bool, string or category target is classification, ``binary`` with two
classes, ``multiclass`` with more; an integer target (or whole numbers stored as floats or as text) with at most 10
distinct values is classification too; any other numeric target is ``regression``. ``task=`` overrides the
inference (``regression`` on a target that is not numbers is an error). A target with missing values, with one
class, or with a class of fewer than 3 rows (one each for train, validation and test) is an error. Classes are
the target's values as strings, sorted (numbers numerically): ``0, 1, 2, 10``, or ``no, yes``.

**Named roles**: ``time_column`` is ``datetime`` (parsed with :func:`pandas.to_datetime`; a numeric one, such as a
year, is kept as numbers that order the rows); ``group_column`` is ``id`` (it keeps one entity's rows on one side
of the split, and is never a feature).

**Every other column**, by what it holds (a blank string counts as missing):

* all missing -> dropped ``empty``; one distinct value -> dropped ``constant``;
* numbers (not bool) -> ``numeric``; but whole numbers, all unique, in a column named like an id (``id``,
  ``*_id``, ``PatientID``, ``key``, ``*number``, ``no``, ``index``) -> ``id``;
* bool -> ``categorical``;
* strings that all parse as numbers (``" 5 "``, ``"1e3"``) -> ``numeric`` ("numbers stored as text"); strings
  like ``"1,234"`` do not parse and are treated as strings below;
* strings of which >= 95% of the distinct values parse as dates (and hold a digit and are not plain numbers) ->
  ``datetime``: noted, never a feature (pass it as ``time_column`` to split by it); a ``datetime64`` column too;
* strings of mean >= 4 words, > 50% distinct -> ``text``; short strings, >= 95% distinct -> ``id``;
* at most ``max_categories`` distinct strings -> ``categorical``; more -> ``text`` if mean >= 2 words, else
  dropped ``high-cardinality (N values)``.

**Overrides**: ``text_columns`` -> exactly those are text (a text-like column not named is dropped);
``feature_columns`` -> exactly those are features, each numeric or categorical by the rules above (a string
column with more than ``max_categories`` values is an error), and every other column that is not the target, a
text, the time or the group column is dropped ``not in feature_columns``; ``drop_columns`` and ``split_column``
(a given split, :func:`llmkit.study.splits.assign_splits`) -> dropped. A column
named in two roles, or a name not in the table, is a one-line :class:`~llmkit.core.errors.LlmkitError`.
Nothing is printed here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from llmkit.core.errors import LlmkitError
from llmkit.data.tables import require_column, show_list
from llmkit.study import values as vals
from llmkit.study.values import parse_time

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["ColumnRole", "Role", "Schema", "Task", "infer_schema", "parse_time"]

Role = Literal["target", "text", "numeric", "categorical", "datetime", "id", "dropped"]
Task = Literal["binary", "multiclass", "regression"]
ROLES = ("target", "text", "numeric", "categorical", "datetime", "id", "dropped")
TASKS = ("binary", "multiclass", "regression")
MIN_PER_CLASS = 3  # one row each for train, validation and test
MAX_INTEGER_CLASSES = 10  # an integer target with more distinct values is regression
_SHOW = 4  # values a message lists
_ID_NAME = re.compile(r"(^|[_\s.\-])(id|uuid|guid|key|no|nr|num|number|index)$", re.I)
_ID_CAMEL = re.compile(r"[a-z0-9](ID|Id|Key|No|Nr|Num|Number|Index)$")


@dataclass(frozen=True)
class ColumnRole:
    """One column: its role, the reason in a few words, and what it holds."""

    name: str
    role: Role
    why: str  # e.g. "float64, 412 values", "strings, mean 23 words", "constant (1 value)", "drop_columns"
    dtype: str
    unique: int  # distinct non-missing values
    missing: int  # missing (or blank) values
    categories: tuple[str, ...] = ()  # categorical columns: the values seen, as str, sorted


@dataclass(frozen=True)
class Schema:
    """The roles of a table's columns and the task its target sets; JSON-able for a model card."""

    target: str
    task: Task
    columns: tuple[ColumnRole, ...]  # every column of the table, the target included, in table order
    classes: tuple[str, ...] = ()  # classification: the target's classes as str, sorted; () for regression
    time_column: str | None = None
    group_column: str | None = None
    name: str = "table"  # what messages call the table (a file name)

    def names(self, role: Role) -> list[str]:
        if role not in ROLES:
            raise LlmkitError(f"role {role!r}: unknown; expected one of {', '.join(ROLES)}")
        return [c.name for c in self.columns if c.role == role]

    @property
    def text(self) -> list[str]:
        return self.names("text")

    @property
    def numeric(self) -> list[str]:
        return self.names("numeric")

    @property
    def categorical(self) -> list[str]:
        return self.names("categorical")

    @property
    def features(self) -> list[str]:
        """The numeric and categorical columns, in table order: what the tabular models see."""
        return [c.name for c in self.columns if c.role in ("numeric", "categorical")]

    def column(self, name: str) -> ColumnRole:
        for c in self.columns:
            if c.name == name:
                return c
        raise LlmkitError(f"{self.name}: no column {name!r} in the schema; columns are: "
                          f"{show_list([c.name for c in self.columns], 12)}")  # fmt: skip

    def table(self) -> pd.DataFrame:
        """One row per column: column, role, dtype, unique, missing, why."""
        import pandas as pd

        keys = ("role", "dtype", "unique", "missing", "why")
        rows = [{"column": c.name, **{k: getattr(c, k) for k in keys}} for c in self.columns]
        return pd.DataFrame(rows, columns=["column", *keys])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["columns"] = [{**c, "categories": list(c["categories"])} for c in d["columns"]]
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        try:
            columns = tuple(
                ColumnRole(**{**c, "categories": tuple(c.get("categories", ()))}) for c in d["columns"]
            )
            schema = cls(**{**d, "columns": columns, "classes": tuple(d.get("classes", ()))})
        except (KeyError, TypeError) as e:
            raise LlmkitError(
                f"schema: not a Schema.to_dict() ({e}); expected target, task and columns"
            ) from e
        bad = [c.name for c in columns if c.role not in ROLES]
        if schema.task not in TASKS or bad:
            raise LlmkitError(f"schema: task {schema.task!r} or the roles of {bad} are unknown; "
                              f"expected a task of {TASKS} and roles of {ROLES}")  # fmt: skip
        return schema

    def encode_target(self, values: Any) -> np.ndarray:
        """Classes -> 0..k-1 (int64); regression -> float64. A value not among the classes is an error."""
        import numpy as np
        import pandas as pd

        series = pd.Series(values).reset_index(drop=True)
        if self.task == "regression":
            numbers = pd.to_numeric(series, errors="coerce")
            bad = numbers.isna()
            if bad.any():
                first = int(bad.to_numpy().argmax())
                raise LlmkitError(f"{self.name}: target {self.target!r}: row {first + 1} (1-based data row) holds "
                                  f"{vals.show(series.iloc[first])}; expected a number")  # fmt: skip
            return numbers.to_numpy(dtype=np.float64)
        codes = pd.Index(self.classes).get_indexer(vals.labels(series))
        if (codes < 0).any():
            first = int(np.argmax(codes < 0))
            raise LlmkitError(
                f"{self.name}: target {self.target!r}: value {vals.show(series.iloc[first])} (row {first + 1}) is not "
                f"one of its classes: {show_list(self.classes, _SHOW)}"
            )
        return codes.astype(np.int64)

    def features_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df``'s feature columns ready for a model: numeric ones as float64 (numbers stored as text parsed),
        categorical ones as strings (missing stays missing)."""
        import pandas as pd

        out = {}
        for c in self.columns:
            if c.role == "numeric":
                out[c.name] = pd.to_numeric(df[c.name], errors="coerce").astype("float64")
            elif c.role == "categorical":
                values = df[c.name]
                out[c.name] = pd.Series(vals.labels(values), index=df.index).where(
                    ~vals.missing(values), None
                )
        return pd.DataFrame(out, index=df.index)[self.features]


# ------------------------------------------------------------------------------------------------ inference


def infer_schema(
    df: pd.DataFrame,
    target: str,
    *,
    name: str = "table",  # what messages call the table
    task: Task | None = None,  # None -> inferred from the target
    text_columns: Sequence[str] | None = None,  # exactly these are text
    feature_columns: Sequence[str] | None = None,  # exactly these are features (numeric or categorical)
    drop_columns: Sequence[str] | None = None,
    time_column: str | None = None,  # the rows' time: a chronological split
    group_column: str | None = None,  # an entity id: its rows stay on one side of the split
    split_column: str | None = None,  # a given train/validation/test column: dropped, never a feature
    max_categories: int = 50,  # more distinct strings than this are not a categorical column
) -> Schema:
    """Give every column of ``df`` a role (see the module docstring); raise one LlmkitError line on a problem."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise LlmkitError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise LlmkitError(f"{name}: table has no data rows; expected at least {3 * MIN_PER_CLASS}")
    odd = [c for c in df.columns if not isinstance(c, str)]
    if odd:
        raise LlmkitError(f"{name}: column names must be strings; {show_list(map(repr, odd), _SHOW)} are not "
                          "(rename them, e.g. df.columns = df.columns.astype(str))")  # fmt: skip
    repeated = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if repeated:
        raise LlmkitError(f"{name}: column names repeat: {show_list(map(repr, repeated), _SHOW)}; "
                          "expected each column once")  # fmt: skip
    if task is not None and task not in TASKS:
        raise LlmkitError(f"{name}: task {task!r}: unknown; expected one of {', '.join(TASKS)} (or None)")
    named = _named_roles(
        df, name, target, text_columns, feature_columns, drop_columns, time_column, group_column, split_column
    )
    target_role, classes, task = _target(df[target], target, name, task)
    columns = []
    for col in df.columns:
        c = _Column(col, df[col])
        if col == target:
            role = target_role
        elif col == time_column:
            role = c.role("datetime", f"time_column; {vals.span(parse_time(c.values, col, name))}")
        elif col == group_column:
            vals.require_complete(c.values, col, "group column", name)
            role = c.role("id", "group_column")
        elif named.get(col) in ("drop", "split"):
            role = c.role("dropped", "drop_columns" if named[col] == "drop" else "split_column")
        elif named.get(col) == "text":
            role = _as_text(c, name)
        elif named.get(col) == "feature":
            role = _as_feature(c, name, max_categories)
        else:
            role = _auto(c, max_categories)
            if text_columns is not None and role.role == "text":
                role = c.role("dropped", f"text-like ({role.why}); not in text_columns")
            elif feature_columns is not None and role.role in ("numeric", "categorical"):
                role = c.role("dropped", "not in feature_columns")
        columns.append(role)
    return Schema(target, task, tuple(columns), classes, time_column, group_column, name)


def _named_roles(df, name, target, text, features, drop, time, group, split) -> dict[str, str]:
    """column -> the role a parameter gave it; every name checked, none named twice."""
    require_column(df, target, "target", name)
    given: dict[str, str] = {target: "target"}
    for role, cols in [("time", [time] if time else []), ("group", [group] if group else []),
                       ("split", [split] if split else []),
                       ("text", text or []), ("feature", features or []), ("drop", drop or [])]:  # fmt: skip
        if isinstance(cols, str):
            cols = [cols]
        for col in dict.fromkeys(cols):
            require_column(df, col, role, name)
            if col in given:
                raise LlmkitError(f"{name}: column {col!r} is named as both the {given[col]} and a {role} "
                                  "column; give each column one role")  # fmt: skip
            given[col] = role
    return given


def _target(
    values: pd.Series, col: str, name: str, task: str | None
) -> tuple[ColumnRole, tuple[str, ...], Task]:
    import numpy as np
    import pandas as pd

    vals.require_complete(values, col, "target", name, fix=" (drop those rows first)")
    numbers = vals.as_numbers(values)
    if task == "regression" and numbers is None:
        raise LlmkitError(f"{name}: task='regression' but target {col!r} is not numbers (e.g. "
                          f"{vals.show(values.iloc[0])}); expected numbers, or a classification task")  # fmt: skip
    unique = int(values.nunique())
    whole = numbers is not None and bool(np.all(np.mod(numbers.to_numpy(dtype=float), 1) == 0))
    if task is None and not (numbers is None or (whole and unique <= MAX_INTEGER_CLASSES)):
        task = "regression"
    if task == "regression":
        role = _Column(col, values).role("target", f"regression: {values.dtype}, {unique} values")
        return role, (), "regression"
    counts = pd.Series(vals.labels(values)).value_counts()
    classes = vals.sorted_labels(counts.index)
    task = task or ("binary" if len(classes) == 2 else "multiclass")
    if len(classes) < 2:
        raise LlmkitError(f"{name}: target {col!r} has one class only ({classes[0]!r}: {len(values)} rows); "
                          "expected at least 2 classes")  # fmt: skip
    if task == "binary" and len(classes) != 2:
        raise LlmkitError(f"{name}: task='binary' but target {col!r} has {len(classes)} classes: "
                          f"{show_list(classes, _SHOW)}; expected 2 (or task='multiclass')")  # fmt: skip
    small = [(k, int(counts[k])) for k in classes if counts[k] < MIN_PER_CLASS]
    if small:
        listed = show_list((f"{k!r} ({v} row{'s' if v != 1 else ''})" for k, v in small), _SHOW)
        raise LlmkitError(f"{name}: target {col!r}: {len(small)} of {len(classes)} classes have fewer than "
                          f"{MIN_PER_CLASS} rows: {listed}; expected at least {MIN_PER_CLASS} rows per class "
                          "(one each for train, validation and test): merge or drop the rare classes")  # fmt: skip
    what = f"{task}: {len(classes)} classes ({show_list(classes, _SHOW)})"
    return _Column(col, values).role("target", what), classes, task  # type: ignore[return-value]


class _Column:
    """One column's values with what every rule asks of them, computed once."""

    def __init__(self, name: str, values: pd.Series) -> None:
        self.name, self.values = name, values
        self.gone = vals.missing(values)
        self.present = values[~self.gone]
        try:
            self.unique = int(self.present.nunique())
        except TypeError:  # lists or dicts
            self.unique = -1

    def role(self, role: str, why: str, categories: tuple[str, ...] = ()) -> ColumnRole:
        unique = max(self.unique, 0)
        return ColumnRole(
            self.name, role, why, str(self.values.dtype), unique, int(self.gone.sum()), categories
        )  # type: ignore[arg-type]

    def numbers(self) -> pd.Series | None:
        return vals.as_numbers(self.values, self.gone)

    def categories(self) -> tuple[str, ...]:
        return vals.sorted_labels(vals.labels(self.present))

    def words(self) -> float:
        """Mean words per value (over a seeded sample of at most 20,000 values)."""
        sample = (
            self.present if len(self.present) <= 20_000 else self.present.sample(n=20_000, random_state=0)
        )
        return float(sample.astype(str).str.split().str.len().mean())


def _auto(c: _Column, max_categories: int) -> ColumnRole:
    """The role a column's contents give it (see the module docstring)."""
    import numpy as np
    import pandas as pd

    values, present, unique = c.values, c.present, c.unique
    if len(present) == 0:
        return c.role("dropped", "empty")
    if unique < 0:
        return c.role("dropped", "unhashable values (lists or dicts)")
    if unique == 1:
        return c.role("dropped", "constant (1 value)")
    if pd.api.types.is_datetime64_any_dtype(values):
        return c.role("datetime", f"{values.dtype}; never a feature")
    if vals.is_bool(present):
        return c.role("categorical", "bool", c.categories())
    numbers = c.numbers()
    if numbers is not None:
        what = f"{values.dtype}" if pd.api.types.is_numeric_dtype(values) else "numbers stored as text"
        whole = bool(np.all(np.mod(numbers.dropna().to_numpy(dtype=float), 1) == 0))
        if whole and unique == len(values) and _id_like(c.name):
            return c.role("id", f"{what}, all values unique, named like an id")
        return c.role("numeric", f"{what}, {unique} values")
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
            or isinstance(values.dtype, pd.CategoricalDtype)):  # fmt: skip
        return c.role("dropped", f"unsupported dtype {values.dtype}")
    role = _strings(c, max_categories)
    distinct = pd.Series(present.astype(str).str.strip().unique())
    if distinct.str.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?|[-+]?\d+(\.\d+)?").all():
        hint = "numbers with ',' separators (convert with pandas.to_numeric(s.str.replace(',', '')))"
        if isinstance(values.dtype, pd.CategoricalDtype) and not distinct.str.contains(",").any():
            hint = "numbers kept as categories, as the category dtype asks (pandas.to_numeric makes them numbers)"
        role = c.role(role.role, f"{role.why}; {hint}", role.categories)
    return role


def _strings(c: _Column, max_categories: int) -> ColumnRole:
    """The role of a column of strings (not numbers): dates, text, an id, categories, or too many values."""
    example = vals.date_example(c.present.astype(str).str.strip())
    if example is not None:
        return c.role("datetime", f"dates (e.g. {example!r}); never a feature")
    words, share, unique = c.words(), c.unique / len(c.present), c.unique
    if words >= 4 and share > 0.5:
        return c.role("text", f"strings, mean {words:.0f} words")
    if share >= 0.95:
        return c.role("id", "all values unique" if share == 1 else f"{share:.0%} of values unique")
    if unique <= max_categories:
        return c.role("categorical", f"strings, {unique} values", c.categories())
    if words >= 2:
        return c.role("text", f"strings, {unique} values, mean {words:.1f} words")
    return c.role("dropped", f"high-cardinality ({unique} values)")


def _as_text(c: _Column, name: str) -> ColumnRole:
    import pandas as pd

    if len(c.present) == 0:
        raise LlmkitError(f"{name}: text column {c.name!r} is empty; expected text in some rows")
    if pd.api.types.is_numeric_dtype(c.values) or vals.is_bool(c.present):
        raise LlmkitError(f"{name}: text column {c.name!r} holds {c.values.dtype} values (e.g. "
                          f"{vals.show(c.present.iloc[0])}); expected text (name it in feature_columns instead)")  # fmt: skip
    return c.role("text", f"text_columns; mean {c.words():.1f} words")


def _as_feature(c: _Column, name: str, max_categories: int) -> ColumnRole:
    import pandas as pd

    role = _auto(c, max_categories)
    if role.role in ("numeric", "categorical"):
        return role
    col = c.name
    if len(c.present) == 0:
        raise LlmkitError(f"{name}: feature column {col!r} is empty; expected values in some rows")
    if pd.api.types.is_datetime64_any_dtype(c.values):
        raise LlmkitError(f"{name}: feature column {col!r} holds dates ({c.values.dtype}); "
                          f"pass it as time_column={col!r} or drop it")  # fmt: skip
    if role.why.startswith(("unhashable", "unsupported")):
        raise LlmkitError(f"{name}: feature column {col!r}: {role.why}; expected numbers or strings")
    if c.numbers() is not None:  # a constant or an id-like integer column the analyst asked for
        return c.role("numeric", f"feature_columns; {c.values.dtype}, {c.unique} values")
    if c.unique > max_categories:
        raise LlmkitError(f"{name}: feature column {col!r} holds {c.unique} distinct strings, more than "
                          f"max_categories={max_categories}; name it in text_columns, drop it, "
                          "or raise max_categories")  # fmt: skip
    return c.role("categorical", f"feature_columns; {c.unique} values", c.categories())


# ------------------------------------------------------------------------------------------------ helpers


def _id_like(col: str) -> bool:
    name = col.strip()
    return bool(_ID_NAME.search(name) or _ID_CAMEL.search(name) or name.lower().endswith("number")
                or name.lower().startswith("unnamed"))  # fmt: skip
