"""What a bundle takes: texts, or table rows when its model was trained on records written as text.

A bundle's model card says which in ``input`` (:func:`input_of`): ``{"kind": "texts"}`` (the default; a card
without the field is a texts bundle), or ``{"kind": "rows", "schema": Schema.to_dict()}`` for a model that learned
from rows of a table serialized by :func:`llmkit.data.text.records_to_text` (the analyst engine's records-as-text
stages). :class:`RowReader` checks each row against that schema and writes it the way the training rows were
written, so the model reads the same text for the same row:

* every feature column (the schema's numeric and categorical columns) must be there, and nothing else;
* a numeric column takes a JSON number (not a string, not a bool, not NaN or infinity);
* a categorical column takes one of the categories seen in training, compared as the engine names categories
  (:func:`llmkit.study.values.label`: ``1.0`` -> ``"1"``, ``true`` -> ``"True"``, ``" yes "`` -> ``"yes"``);
* ``null`` (and, in a categorical column, a blank string, as in training) is a missing value, allowed only in a
  column that had missing values in the training table.

A problem is a :class:`RowError`: one line naming the row and the field (``rows[3].income: expected a number,
got "abc"``), with the HTTP status and error code ``llmkit serve`` answers with.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError
from llmkit.data.readers import show_list
from llmkit.study.values import label

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("texts", "rows")
TEXTS: dict[str, Any] = {"kind": "texts"}
_SHOW = 8  # categories or columns a message lists
TAKES_TEXTS = 'rows: this bundle takes texts, {"texts": ["..."]}; its model was not trained on table rows'
TAKES_ROWS = ('texts: this bundle takes table rows, {"rows": [{"column": value, ...}]}; its model was trained '
              "on records written as text (GET /metadata: model_card.input.schema)")  # fmt: skip


class RowError(LlmkitError):
    """A request or row the bundle refuses: the one-line message, and ``status`` and ``body`` for HTTP."""

    def __init__(self, error: str, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": error, "field": field, "message": message}


def rows_input(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The card's ``input`` for a model trained on records as text of ``schema`` (``Schema.to_dict()``)."""
    spec = {"kind": "rows", "schema": dict(schema)}
    RowReader(spec["schema"])  # fail at build time, not at the first request
    return spec


def input_of(card: Mapping[str, Any]) -> dict[str, Any]:
    """A card's ``input``, checked; :data:`TEXTS` for a card without one (bundles built before the field)."""
    spec = card.get("input") or TEXTS
    if not isinstance(spec, Mapping) or spec.get("kind") not in KINDS:
        raise LlmkitError(f"model card input: expected {{'kind': one of {', '.join(KINDS)}}}, got {spec!r}")
    if spec["kind"] == "rows":
        RowReader(spec.get("schema") or {})
    return dict(spec)


@dataclass(frozen=True)
class _Feature:
    name: str
    numeric: bool
    categories: frozenset[str]
    shown: str  # the categories as a message lists them
    nullable: bool  # the training table had missing values here


class RowReader:
    """Rows (``{column: value}``) in, the texts the model was trained on out, for one schema."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        try:
            columns = list(schema["columns"])
            self.features = [
                _Feature(c["name"], c["role"] == "numeric", frozenset(c.get("categories", ())),
                         show_list((json.dumps(x) for x in c.get("categories", ())), _SHOW), c["missing"] > 0)
                for c in columns if c["role"] in ("numeric", "categorical")
            ]  # fmt: skip
            self.roles = {c["name"]: c["role"] for c in columns}
        except (KeyError, TypeError) as e:
            raise LlmkitError(
                f"model card input schema: not a Schema.to_dict() ({e}); expected columns"
            ) from e
        if not self.features:
            raise LlmkitError("model card input schema: no numeric or categorical column; expected a feature")
        self.names = [f.name for f in self.features]
        self.target = schema.get("target")

    @classmethod
    def of(cls, card: Mapping[str, Any]) -> RowReader | None:
        """The reader of a rows bundle's card; None for a texts bundle."""
        spec = input_of(card)
        return cls(spec["schema"]) if spec["kind"] == "rows" else None

    def body_rows(self, data: Any, max_rows: int) -> list[Any]:
        """The ``rows`` of a request body ``{"rows": [...]}`` (its shape only; :meth:`frame` checks each row)."""
        if not isinstance(data, dict):
            raise RowError("invalid_body", "body", f"body: expected a JSON object, got {type(data).__name__}")
        if "texts" in data:
            raise RowError("wrong_input", "texts", TAKES_ROWS)
        unknown = sorted(k for k in data if k != "rows")
        if unknown:
            raise RowError("unknown_field", unknown[0], f"{unknown[0]}: unknown field; expected only rows")
        if "rows" not in data:
            raise RowError(
                "missing_field", "rows", "rows: missing; expected a list of rows ({column: value})"
            )
        rows = data["rows"]
        if not isinstance(rows, list):
            raise RowError(
                "invalid_type", "rows", f"rows: expected a list of objects, got {type(rows).__name__}"
            )
        if not rows:
            raise RowError("empty_list", "rows", "rows: expected at least one row, got an empty list")
        if len(rows) > max_rows:
            raise RowError(
                "too_many_rows", "rows", f"rows: {len(rows)} rows, at most {max_rows} per request", 413
            )
        return rows

    def frame(self, rows: Sequence[Any]) -> pd.DataFrame:
        """The rows checked and typed as the engine's ``Schema.features_frame`` types a table: numeric columns
        float64 (NaN for missing), categorical ones the category's name (None for missing)."""
        import numpy as np
        import pandas as pd

        if isinstance(rows, Mapping | str) or not isinstance(rows, Sequence) or not rows:
            raise RowError(
                "invalid_type", "rows", "rows: expected a non-empty list of {column: value} objects"
            )
        values: dict[str, list[Any]] = {name: [] for name in self.names}
        for i, row in enumerate(rows):
            where = f"rows[{i}]"
            if not isinstance(row, Mapping):
                raise RowError(
                    "invalid_type", where, f"{where}: expected an object of column: value, got {_got(row)}"
                )
            self._check_columns(where, row)
            for f in self.features:
                values[f.name].append(self._value(f"{where}.{f.name}", f, row[f.name]))
        out = {}
        for f in self.features:
            if f.numeric:
                out[f.name] = pd.Series(values[f.name], dtype="float64")
            else:  # as Schema.features_frame: an array of names ('nan' for missing), .where(~missing, None)
                gone = pd.Series([v is None for v in values[f.name]])
                names = np.array(["nan" if v is None else v for v in values[f.name]], dtype=object)
                out[f.name] = pd.Series(names).where(~gone, None)  # pandas 3: a str column, missing -> NaN
        return pd.DataFrame(out)[self.names]

    def texts(self, rows: Sequence[Any]) -> list[str]:
        """Each row written as the training rows were (:func:`llmkit.data.text.records_to_text`)."""
        from llmkit.data.text import records_to_text

        return records_to_text(self.frame(rows), self.names)

    def _check_columns(self, where: str, row: Mapping[str, Any]) -> None:
        expected = f"expected only the feature columns: {show_list(self.names, _SHOW)}"
        for key in sorted(k for k in row if k not in self.names):
            role = self.roles.get(key)
            why = ("the target, which the model predicts" if key == self.target
                   else f"its role is {role}, not a feature" if role else "not a column of the training table")  # fmt: skip
            raise RowError(
                "unknown_field", f"{where}.{key}", f"{where}.{key}: unknown field ({why}); {expected}"
            )
        for f in self.features:
            if f.name not in row:
                raise RowError(
                    "missing_field", f"{where}.{f.name}", f"{where}.{f.name}: missing; {_wanted(f)}"
                )

    def _value(self, field: str, f: _Feature, value: Any) -> Any:
        if value is None or (not f.numeric and isinstance(value, str) and not value.strip()):
            if not f.nullable:
                raise RowError("missing_value", field, f"{field}: {_got(value)}, but the training table had no "
                                                       f"missing values in this column; {_wanted(f)}")  # fmt: skip
            return math.nan if f.numeric else None
        if f.numeric:
            if isinstance(value, int | float) and not isinstance(value, bool) and _finite(value):
                return float(value)
            raise RowError("invalid_type", field, f"{field}: expected a number, got {_got(value)}")
        if not isinstance(value, str | int | float):
            raise RowError("invalid_type", field, f"{field}: {_wanted(f)}, got {_got(value)}")
        name = label(value)
        if name not in f.categories:
            raise RowError("unknown_category", field, f"{field}: {_got(value)} is not a category seen in "
                                                      f"training; {_wanted(f)}")  # fmt: skip
        return name


def _wanted(f: _Feature) -> str:
    what = "a number" if f.numeric else f"one of {f.shown}"
    return f"expected {what}" + (" or null" if f.nullable else "")


def _finite(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer past float's range
        return False


def _got(value: Any, width: int = 40) -> str:
    """A value as JSON shows it ("abc", 3, true, null, [1]), cut to ``width`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
