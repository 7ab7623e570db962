"""The fairness section of a model card (issue 17 part 5): what the audit of :mod:`llmkit.fairness.audit` measured
on a bundle's test predictions, as plain JSON that ``model_card.json`` and the service's ``GET /metadata`` carry.

:func:`card_section` takes the test rows' true labels, the model's predicted labels and one or more sensitive
columns (name -> one value per test row) and returns::

    {"test_rows": 64, "target": "label", "mitigation": None, "level": 0.95, "n_resamples": 200, "seed": 0,
     "min_group_rows": 30,
     "columns": {"sex": {"groups": [{"group": "F", "rows": 31, "positives": 12, "negatives": 19, "small": False,
                                      "selection rate": {"value": 0.39, "lo": 0.23, "hi": 0.55}, "TPR": ..., ...}],
                          "disparities": {"demographic parity difference": {"value": ..., "lo": ..., "hi": ...,
                                                                             "excludes parity": False}, ...},
                          "small_groups": []}}}

A group with fewer than ``min_group_rows`` test rows is kept and flagged (``small``, and listed under
``small_groups``): its rates are noisy, and hiding it would hide the people the model knows least about. A column
with one group only among the test rows says so (``skipped``) instead of a disparity. Every number is a float or
``None`` (a rate a group has no rows for, e.g. TPR without positives): strict JSON, no NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd

MIN_GROUP_ROWS = 30  # fewer test rows than this: a rate moves by more than 3 points per row; flagged as small
MAX_GROUPS = 8  # a numeric column with more distinct values is cut into quantile bands (groups_of)
MISSING = "missing"


def groups_of(values: ArrayLike, name: str = "column", max_groups: int = MAX_GROUPS) -> np.ndarray:
    """One group name (str) per row: categories as they are (a missing value is the group ``missing``); a
    number with more than ``max_groups`` distinct values cut into 3 quantile bands named by their ranges."""
    import pandas as pd

    s = pd.Series(list(np.asarray(values, dtype=object).reshape(-1)), dtype=object)
    missing = s.isna().to_numpy()
    present = s[~missing]
    number = (int, float, np.integer, np.floating)
    if (
        len(present)
        and present.map(lambda v: isinstance(v, number) and not isinstance(v, (bool, np.bool_))).all()
    ):
        x = present.astype(np.float64).to_numpy()
        if np.unique(x).size > max_groups:
            edges = np.unique(np.quantile(x, [0, 1 / 3, 2 / 3, 1]))
            band = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(len(edges) - 2, 0))
            labels = [f"{edges[i]:g}-{edges[i + 1]:g}" for i in range(len(edges) - 1)] or [f"{edges[0]:g}"]
            names = np.array([labels[b] for b in band], dtype=object)
        else:
            names = np.array([f"{v:g}" for v in x], dtype=object)
    else:
        names = present.astype(str).to_numpy(dtype=object)
    out = np.full(len(s), MISSING, dtype=object)
    out[~missing] = names
    return out.astype(str)


def binary_target(y_true: ArrayLike, target: str = "target") -> np.ndarray:
    """``y_true`` as 0/1 ints, or one line naming ``target`` and what it is (multi-class or a number)."""
    y = np.asarray(y_true).reshape(-1)
    values = np.unique(y)
    if y.dtype.kind in "biuf" and np.isin(values, (0, 1)).all():
        return y.astype(np.int64)
    if y.dtype.kind == "f" and not np.all(np.mod(values, 1) == 0):
        what = "a number (regression)"
    else:
        what = f"multi-class ({values.size} classes: {', '.join(map(str, values[:5].tolist()))})"
    raise LlmkitError(
        f"fairness section: target {target!r} is {what}; the audit needs a binary target (0/1) for now"
    )


def _number(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def card_section(
    y_true: ArrayLike,  # [n] 0/1 true labels of the test rows
    y_pred: ArrayLike,  # [n] 0/1 predicted labels of the same rows (the bundle's, at its threshold)
    sensitive: Mapping[str, ArrayLike],  # column name -> [n] group of each row (see groups_of)
    *,
    seed: int,
    n_resamples: int,
    mitigation: str | None = None,  # what was done about a disparity, in words; None -> nothing
    target: str = "target",  # what messages call the target
    min_group_rows: int = MIN_GROUP_ROWS,
    level: float = 0.95,
) -> dict[str, Any]:
    """The model card's fairness section (see the module docstring): per column, each group's size and rates
    with intervals, and the four disparities with intervals (:mod:`llmkit.fairness.audit`)."""
    from llmkit.fairness import audit

    y = binary_target(y_true, target)
    yhat = np.asarray(y_pred).reshape(-1)
    if yhat.size != y.size or not np.isin(yhat, (0, 1)).all():
        raise LlmkitError(f"y_pred: expected {y.size} predicted 0/1 labels, got {yhat.size} values")
    if not isinstance(sensitive, Mapping) or not sensitive:
        raise LlmkitError(
            f"sensitive: expected a mapping of column name -> groups, got {type(sensitive).__name__}"
        )
    if mitigation is not None and (not isinstance(mitigation, str) or not mitigation.strip()):
        raise LlmkitError(f"mitigation: expected None or a sentence, got {mitigation!r}")
    columns: dict[str, Any] = {}
    for name, values in sensitive.items():
        g = groups_of(values, str(name))
        if g.size != y.size:
            raise LlmkitError(
                f"sensitive column {name!r}: expected one group per test row ({y.size}), got {g.size}"
            )
        names = sorted(set(g.tolist()))
        if len(names) < 2:
            columns[str(name)] = {"groups": [], "disparities": {}, "small_groups": [],
                                  "skipped": f"one group only among the {y.size} test rows: {names}"}  # fmt: skip
            continue
        rates = audit.rate_intervals(y, yhat, g, seed=seed, n_resamples=n_resamples, level=level)
        disparities = audit.disparity_table(y, yhat, g, seed=seed, n_resamples=n_resamples, level=level)
        groups = []
        for group in names:
            member = g == group
            row: dict[str, Any] = {"group": group, "rows": int(member.sum()), "positives": int(y[member].sum()),
                                   "negatives": int((1 - y[member]).sum()),
                                   "small": bool(member.sum() < min_group_rows)}  # fmt: skip
            for r in rates[rates["group"] == group].itertuples():
                row[r.rate] = {"value": _number(r.value), "lo": _number(r.lo), "hi": _number(r.hi)}
            groups.append(row)
        columns[str(name)] = {
            "groups": groups,
            "disparities": {
                d: {
                    "value": _number(r["value"]),
                    "lo": _number(r["lo"]),
                    "hi": _number(r["hi"]),
                    "excludes parity": bool(r["excludes parity"]),
                }
                for d, r in disparities.iterrows()
            },  # fmt: skip
            "small_groups": [x["group"] for x in groups if x["small"]],
        }
    return {"test_rows": int(y.size), "target": target, "mitigation": mitigation, "level": level,
            "n_resamples": int(n_resamples), "seed": int(seed), "min_group_rows": int(min_group_rows),
            "columns": columns}  # fmt: skip


def _shown(x: Mapping[str, Any] | None) -> str:
    if not x or x.get("value") is None:
        return "-"
    lo, hi = x.get("lo"), x.get("hi")
    interval = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else ""
    return f"{x['value']:.2f}{interval}"


def section_table(section: Mapping[str, Any]) -> pd.DataFrame:
    """The per-group table of a section, for printing: one row per (column, group), each rate as
    ``value [lo, hi]``, the demographic parity and equalized odds differences on the column's first row."""
    import pandas as pd

    from llmkit.fairness.audit import RATES

    rows = []
    for column, part in section["columns"].items():
        if part.get("skipped"):
            rows.append({"column": column, "group": "-", "rows": 0, "note": part["skipped"]})
            continue
        for i, g in enumerate(part["groups"]):
            row = {"column": column, "group": g["group"], "rows": g["rows"], "positives": g["positives"]}
            row.update({rate: _shown(g.get(rate)) for rate in RATES})
            for d, short in (
                ("demographic parity difference", "DP diff."),
                ("equalized odds difference", "EO diff."),
            ):
                row[short] = _shown(part["disparities"].get(d)) if i == 0 else ""
            row["note"] = f"small (< {section['min_group_rows']} rows)" if g["small"] else ""
            rows.append(row)
    return pd.DataFrame(rows).set_index(["column", "group"])


def summary(section: Mapping[str, Any]) -> str:
    """One sentence for the card's limitations: what was measured, on how many rows, and the small groups."""
    parts, small = [], []
    for column, part in section["columns"].items():
        if part.get("skipped"):
            parts.append(f"{column}: {part['skipped']}")
            continue
        parts.append(f"by {column} {_shown(part['disparities'].get('demographic parity difference'))}")
        small += [f"{column} {g['group']} ({g['rows']} rows)" for g in part["groups"] if g["small"]]
    text = (f"fairness audited on {section['test_rows']} test rows only (see the card's fairness section): "
            f"demographic parity difference {'; '.join(parts)} ({int(100 * section['level'])}% bootstrap intervals)")  # fmt: skip
    if small:
        text += f"; groups too small to judge: {', '.join(small)}"
    if section.get("mitigation") is None:
        text += "; no mitigation applied"
    return text
