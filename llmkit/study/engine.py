"""The analyst engine: any table from the seed's domains, read, typed, split and modeled, floor first.

:func:`prepare` reads a file (CSV, TSV, Parquet, JSONL, Excel; :func:`llmkit.data.tables.read_table`) or takes
a DataFrame, gives every column a role (:mod:`llmkit.study.schema`), encodes the target and splits the rows
(:mod:`llmkit.study.splits`) -- every problem one line, before any model is trained. :func:`run` then fits
each model that applies and says, for each one that does not, why:

==================  ====================================================================================
floor               majority class or training mean; with a time column also the last value (naive), and with
                    ``season_lag`` the seasonal naive forecast (the value one season before: last week's)
tabular             logistic / ridge regression and gradient boosting on the numeric and categorical columns
text                TF-IDF + logistic regression on the text columns
MiniLM on text      MiniLM fine-tuned on the text columns (classification)
records as text     every feature written as "The <column> is <value>." (TabLLM) -> MiniLM (classification)
fusion              gradient boosting on [the best transformer's log-odds, the features], fitted on validation rows
student             the best transformer distilled into a student initialized from its own layers
bundle              that student as an ONNX int8 bundle with a model card, ready for ``llmkit serve``
==================  ====================================================================================

The tabular models train on every training row; the transformer stages train on a stated, seeded sample
(:class:`llmkit.study.settings.AnalystSettings`), and every stage is scored on the same test rows
(all of them, or a stated seeded sample when there are more than ``test_rows``), so one table compares them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError
from llmkit.study.stages import Prepared, Result

if TYPE_CHECKING:
    import pandas as pd

    from llmkit.study.schema import Schema
    from llmkit.study.settings import AnalystSettings

STAGES = ("floor", "tabular", "text", "minilm", "records", "fusion", "student", "bundle")
_TRANSFORMER_STAGES = ("minilm", "records", "fusion", "student", "bundle")


def prepare(
    data: str | Path | pd.DataFrame,
    target: str,
    *,
    name: str | None = None,  # what messages call a DataFrame
    encoding: str = "utf-8",
    sheet: str | int | None = None,  # Excel: a sheet name or 0-based index; None -> the first
    task: str | None = None,  # "binary" | "multiclass" | "regression"; None -> inferred from the target
    text_columns: Sequence[str] | None = None,
    feature_columns: Sequence[str] | None = None,
    drop_columns: Sequence[str] | None = None,
    time_column: str | None = None,
    group_column: str | None = None,
    split_column: str | None = None,
    shuffle_time: bool = False,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.2,
    seed: int = 0,
    positive: str | None = None,  # binary: the class that is the event (a default, a failure) -> class 1
    sensitive_columns: Sequence[str] | str | None = None,  # columns to audit the bundle by; None -> no audit
) -> Prepared:
    """Read (or take) the table, infer its schema, encode the target and split it; nothing is trained."""
    import pandas as pd

    from llmkit.data.tables import read_table
    from llmkit.study.schema import infer_schema
    from llmkit.study.splits import assign_splits

    if isinstance(data, pd.DataFrame):
        frame, source = data.reset_index(drop=True), name or "DataFrame"
    else:
        kwargs: dict[str, Any] = {"encoding": encoding}
        if sheet is not None:
            kwargs["sheet"] = sheet
        frame, source = read_table(data, **kwargs).reset_index(drop=True), str(data)
    as_list = _as_list
    schema = infer_schema(
        frame, target, name=source, task=task, text_columns=as_list(text_columns),
        feature_columns=as_list(feature_columns), drop_columns=as_list(drop_columns),
        time_column=time_column, group_column=group_column, split_column=split_column,
    )  # fmt: skip
    if not schema.features and not schema.text:
        raise LlmkitError(
            f"{source}: no column to learn {target!r} from (every other column was dropped or is an id); "
            "pass feature_columns or text_columns"
        )
    if positive is not None:
        schema = _with_positive(schema, positive)
    split = assign_splits(
        frame, schema, test_fraction=test_fraction, validation_fraction=validation_fraction, seed=seed,
        split_column=split_column, shuffle_time=shuffle_time,
    )  # fmt: skip
    y = schema.encode_target(frame[target])
    sensitive = as_list(sensitive_columns) or []
    for column in sensitive:
        if column not in frame.columns or column == target:
            from llmkit.data.tables import show_list

            raise LlmkitError(
                f"{source}: sensitive column {column!r} "
                + ("is the target" if column == target else "not found")
                + f"; expected one of the other columns: {show_list([c for c in frame.columns if c != target], 12)}"
            )
    return Prepared(frame, schema, split, y, source, [split.description], sensitive)


def _with_positive(schema: Schema, positive: Any) -> Schema:
    """The schema with ``positive`` as class 1 of a binary target (PR-AUC, thresholds and costs are about it)."""
    from dataclasses import replace

    wanted = str(positive)
    if schema.task != "binary" or wanted not in schema.classes:
        raise LlmkitError(
            f"positive: expected one of the classes of the binary target {schema.target!r} "
            f"({', '.join(schema.classes) or 'a regression target has none'}), got {positive!r}"
        )
    other = next(c for c in schema.classes if c != wanted)
    return replace(schema, classes=(other, wanted))


def _as_list(value: Sequence[str] | str | None) -> list[str] | None:
    """A papermill parameter as a list: None, one name, or a list of names."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


# ------------------------------------------------------------------------------------------------ results


@dataclass
class Analysis:
    """Every stage's result on the same test rows, and the table that compares them (floor rows first)."""

    prepared: Prepared
    test_rows: np.ndarray  # positional rows every stage is scored on
    results: list[Result]
    notes: list[str]
    seed: int = 0
    n_resamples: int = 200

    @property
    def y_test(self) -> np.ndarray:
        return self.prepared.y[self.test_rows]

    def result(self, model: str) -> Result:
        for r in self.results:
            if r.model == model:
                return r
        from llmkit.data.tables import show_list

        names = show_list([r.model for r in self.results], 12)
        raise LlmkitError(f"model {model!r}: not in this analysis; models are: {names}")

    def table(self) -> pd.DataFrame:
        """One row per model (floor first): the metrics with 95% bootstrap intervals, seconds, and why."""
        from llmkit.study import scoring

        rows = []
        for r in self.results:
            row: dict[str, Any] = {
                "stage": r.stage,
                "model": r.model,
                "kind": r.kind,
                "ran": r.ran,
                "why": r.why,
            }
            if r.ran and r.pred is not None:
                row.update(
                    scoring.score(self.prepared.schema.task, self.y_test, r.pred, seed=self.seed,
                                  n_resamples=self.n_resamples)
                )  # fmt: skip
                row["seconds"] = round(r.seconds, 1)
                row.update({k: v for k, v in r.extra.items() if k in ("size_mb", "latency_b32_ms")})
            rows.append(row)
        return scoring.stage_table(rows)

    def predict(self, model: str, split: str = "validation") -> np.ndarray:
        """A fitted tabular or TF-IDF model's predictions on every row of ``split`` (the transformer stages keep
        only their test predictions)."""
        r = self.result(model)
        fitted = r.extra.get("fitted")
        if fitted is None or r.kind not in ("tabular", "text"):
            raise LlmkitError(f"model {model!r}: only tabular and TF-IDF models predict other splits here")
        rows = self.prepared.rows(split)
        inputs = self.prepared.texts(rows) if r.kind == "text" else self.prepared.X.iloc[rows]
        return np.asarray(fitted.predict(inputs))

    def chosen(self, kinds: Sequence[str] = ("tabular", "text"), metric: str | None = None) -> Result:
        """The model of ``kinds`` best on the *validation* rows (so the test rows judge it, not choose it)."""
        from llmkit.study import scoring

        metric = metric or self.headline_metric()
        y_val = self.prepared.y[self.prepared.rows("validation")]
        scores = {
            r.model: scoring.score(self.prepared.schema.task, y_val, self.predict(r.model), intervals=False)[
                metric
            ]
            for r in self.results
            if r.ran and r.kind in kinds
        }
        if not scores:
            raise LlmkitError(f"no model of kinds {list(kinds)} ran")
        lower = metric in ("MAE", "RMSE", "ECE")
        return self.result(min(scores, key=scores.get) if lower else max(scores, key=scores.get))

    def headline_metric(self) -> str:
        if not self.prepared.classification:
            return "RMSE"
        rare = self.prepared.schema.task == "binary" and float(np.mean(self.prepared.y == 1)) < 0.1
        return "PR-AUC" if rare else "accuracy"


def run(
    prepared: Prepared,
    settings: AnalystSettings,
    *,
    stages: Sequence[str] = STAGES,
    model_name: str = "minilm",
    bundle_dir: str | Path | None = None,  # where the bundle stage writes; None -> no bundle
    seed: int = 0,
    bf16: bool | None = None,
    echo: bool = True,
    season_lag: str | float | None = None,  # e.g. "7D": adds the seasonal naive floor (needs a time column)
) -> Analysis:
    """Fit every stage of ``stages`` that applies to the table; return their results on the same test rows."""
    from llmkit.study import tabular, textstages

    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise LlmkitError(f"stages: unknown {unknown}; expected some of {list(STAGES)}")
    s, p = prepared.schema, prepared
    if season_lag is not None and not s.time_column:
        raise LlmkitError(
            f"season_lag={season_lag!r}: the seasonal naive floor needs a time column; pass time_column to prepare"
        )
    train = p.rows("train")
    test_rows, notes = _test_rows(p, settings.test_rows, seed)
    say = print if echo else (lambda *_: None)
    if p.sensitive and (s.task != "binary" or "bundle" not in stages or bundle_dir is None):
        notes.append(f"sensitive_columns {p.sensitive}: no fairness audit, "
                     + ("it needs a binary target" if s.task != "binary" else "no bundle is built"))  # fmt: skip
    results: list[Result] = []
    k = len(s.classes) or None
    previous = _previous(p, test_rows) if s.time_column else None
    seasonal, season = None, "one season"
    if season_lag is not None:
        seasonal, season, note = seasonal_naive(p, test_rows, season_lag)
        notes.append(note)
    for note in notes:
        say(note)
    floors = tabular.floors(s.task, p.y[train], k, previous=previous, seasonal=seasonal, season=season)
    for fitted in floors:
        results.append(_scored("floor", fitted, p.X.iloc[test_rows]))
    if "tabular" in stages:
        if s.features:
            for fitted in tabular.tabular_models(
                s.task,
                p.X.iloc[train],
                p.y[train],
                numeric=s.numeric,
                categorical=s.categorical,
                seed=seed,
                num_classes=k,
            ):
                results.append(_scored("tabular", fitted, p.X.iloc[test_rows]))
        else:
            results.append(
                Result("tabular", "tabular models", "tabular", False, "no numeric or categorical column")
            )
    if "text" in stages:
        if s.text:
            fitted = tabular.text_model(s.task, p.texts(train), p.y[train], seed=seed, num_classes=k)
            results.append(_scored("text", fitted, p.texts(test_rows)))
        else:
            tfidf = "TF-IDF + " + ("ridge" if s.task == "regression" else "logistic") + " regression"
            results.append(Result("text", tfidf, "text", False, "no text column"))
    wanted = [x for x in _TRANSFORMER_STAGES if x in stages]
    if wanted:
        results += textstages.run_transformer_stages(
            p, settings, test_rows, wanted, model_name=model_name, bundle_dir=bundle_dir, seed=seed,
            bf16=bf16, tabular_results=results, say=say,
        )  # fmt: skip
    for r in results:
        say(
            f"{r.stage:>15} | {r.model}: "
            + (f"ran in {r.seconds:.1f} s ({r.why})" if r.ran else f"skipped: {r.why}")
        )
    return Analysis(p, test_rows, results, notes, seed=seed, n_resamples=settings.bootstrap_resamples)


def _scored(stage: str, fitted: Any, inputs: Any) -> Result:
    start = time.perf_counter()
    pred = np.asarray(fitted.predict(inputs))
    return Result(
        stage, fitted.name, fitted.kind, True, getattr(fitted, "note", "") or "", pred,
        fitted.seconds + time.perf_counter() - start, {"fitted": fitted},
    )  # fmt: skip


def _test_rows(p: Prepared, cap: int | None, seed: int) -> tuple[np.ndarray, list[str]]:
    """The test rows every stage is scored on: all of them, or a seeded (stratified) sample of ``cap``."""
    rows = p.rows("test")
    if cap is None or len(rows) <= cap:
        return rows, [f"scored on all {len(rows)} test rows"]
    from sklearn.model_selection import train_test_split

    strat = p.y[rows] if p.classification and min(np.bincount(p.y[rows])) >= 2 else None
    kept, _ = train_test_split(rows, train_size=cap, stratify=strat, random_state=seed)
    kept = np.sort(np.asarray(kept))
    return kept, [
        f"scored on a seeded sample of {cap} of the {len(rows)} test rows (seed {seed}), the same for every model"
    ]


def _previous(p: Prepared, rows: np.ndarray) -> np.ndarray:
    """For each of ``rows``, the target of the row just before it in time order (the naive forecast's input)."""
    from llmkit.study.values import parse_time

    t = p.schema.time_column
    times = parse_time(p.frame[t], t, p.source)
    order = np.argsort(times.to_numpy(), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    before = order[np.maximum(rank[rows] - 1, 0)]
    return p.y[before]


def seasonal_naive(p: Prepared, rows: np.ndarray, lag: str | float) -> tuple[np.ndarray, str, str]:
    """For each of ``rows``, the target one ``lag`` earlier in time: the row at exactly that time, else the
    latest row before it (a gap in the data), else the earliest row (no history that far back).

    ``lag`` is a pandas offset ("7D", "168h") for a date-time column, a number for a numeric one. Returns the
    values, the lag in words ("7 days") and a note that counts the rows found exactly. Like the last value, it
    reads the table as one series: with several rows at one time, it takes the last of them in file order.
    """
    import pandas as pd

    from llmkit.study.values import parse_time

    t = p.schema.time_column
    times = parse_time(p.frame[t], t, p.source)
    if pd.api.types.is_datetime64_any_dtype(times):
        try:
            step = pd.Timedelta(lag)
        except ValueError as error:
            raise LlmkitError(
                f"season_lag={lag!r}: expected a pandas offset such as '7D' or '168h' ({error})"
            ) from None
        positive, hours = step > pd.Timedelta(0), step / pd.Timedelta(hours=1)
        words = _plural(hours / 24, "day") if hours % 24 == 0 else _plural(hours, "hour")
        offset = step.to_timedelta64()
    else:
        offset = float(lag)
        positive, words = offset > 0, f"{offset:g} {t}"
    if not positive:
        raise LlmkitError(f"season_lag={lag!r}: expected a positive lag")
    values = times.to_numpy()
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    wanted = values[rows] - offset
    at = np.searchsorted(ordered, wanted, side="right") - 1  # the latest row at or before the wanted time
    exact = int(np.sum((at >= 0) & (ordered[np.maximum(at, 0)] == wanted)))
    early = int(np.sum(at < 0))
    note = f"seasonal naive ({words}): {exact} of {len(rows)} scored rows have a row exactly {words} before"
    if exact < len(rows):
        note += f"; {len(rows) - exact - early} take the latest row before that (gaps in the data)"
    if early:
        note += f", {early} the earliest row (no history {words} back)"
    return p.y[order[np.maximum(at, 0)]], words, note


def _plural(count: float, unit: str) -> str:
    return f"{count:g} {unit}" + ("" if count == 1 else "s")
