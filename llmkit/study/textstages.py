"""The analyst engine's transformer stages (:mod:`llmkit.study.engine`): MiniLM on the text columns, MiniLM on
the records written as text, late fusion, the student distilled from the better of the two, and its bundle.

Each stage trains on a seeded sample of the training rows (``AnalystSettings.transformer_train_rows``), is
cached like every model of the course (``loop.finetuned_minilm``, ``shrink.shrunk_student``), and is scored on
the engine's test rows. The better transformer is chosen on the *validation* rows, never on the test rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.study.stages import Prepared, Result

if TYPE_CHECKING:
    from llmkit.finetune.tasks import TextTask
    from llmkit.study.settings import AnalystSettings


def _sample(rows: np.ndarray, y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded sample of ``n`` of ``rows``, stratified by ``y`` where every class has two rows or more."""
    if n >= len(rows):
        return rows
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y[rows]) if y.dtype.kind in "iu" else np.array([0])
    strat = y[rows] if counts.size > 1 and counts[counts > 0].min() >= 2 else None
    kept, _ = train_test_split(rows, train_size=n, stratify=strat, random_state=seed)
    return np.sort(np.asarray(kept))


def _task(
    name: str, texts: dict[str, list[str]], labels: dict[str, np.ndarray], classes: Sequence[str]
) -> TextTask:
    import pandas as pd

    from llmkit.finetune.tasks import TextTask

    frame = pd.concat(
        [
            pd.DataFrame({"text": texts[k], "label": labels[k], "split": k})
            for k in ("train", "validation", "test")
        ],
        ignore_index=True,
    )
    return TextTask(name, frame, tuple(classes))


def run_transformer_stages(
    p: Prepared,
    settings: AnalystSettings,
    test_rows: np.ndarray,
    wanted: Sequence[str],  # of "minilm", "records", "fusion", "student", "bundle"
    *,
    model_name: str = "minilm",
    bundle_dir: str | Path | None = None,
    seed: int = 0,
    bf16: bool | None = None,
    tabular_results: Sequence[Result] = (),
    say: Callable[..., Any] = print,
) -> list[Result]:
    """The transformer stages' results (those that did not apply say why)."""
    from llmkit.core.hardware import bf16_supported

    s = p.schema
    names = {"minilm": "MiniLM fine-tuned (text)", "records": "MiniLM fine-tuned (records as text)",
             "fusion": "fusion (transformer log-odds + features)", "student": "student distilled from the best transformer",
             "bundle": "student, ONNX int8 (the bundle)"}  # fmt: skip
    kinds = {
        "minilm": "transformer",
        "records": "transformer",
        "fusion": "fusion",
        "student": "student",
        "bundle": "bundle",
    }
    if not p.classification:
        why = "the transformer stages classify; this target is a number (regression)"
        return [Result(w, names[w], kinds[w], False, why) for w in wanted]
    bf16 = bf16_supported() if bf16 is None else bool(bf16)
    train = _sample(p.rows("train"), p.y, settings.transformer_train_rows, seed)
    val = _sample(p.rows("validation"), p.y, settings.fusion_rows, seed)
    rows = {"train": train, "validation": val, "test": test_rows}
    labels = {k: p.y[r] for k, r in rows.items()}
    sample_note = f"{len(train)} of {len(p.rows('train'))} training rows (seeded sample), {settings.transformer_epochs} epochs"
    out: list[Result] = []
    fitted: dict[str, tuple[Any, Any, TextTask, float]] = {}
    sources: dict[str, Callable[[np.ndarray], list[str]] | None] = {
        "minilm": p.texts if s.text else None,
        "records": (lambda r: _records(p, r)) if s.features else None,
    }
    for stage in ("minilm", "records"):
        if stage not in wanted:
            continue
        make = sources[stage]
        if make is None:
            out.append(Result(stage, names[stage], "transformer", False,
                              "no text column" if stage == "minilm" else "no numeric or categorical column"))  # fmt: skip
            continue
        task = _task(
            f"{stage}:{Path(p.source).name}", {k: make(r) for k, r in rows.items()}, labels, s.classes
        )
        start = time.perf_counter()
        model, tok, info = _finetune(task, settings, model_name, seed, bf16)
        proba = _predict(model, tok, task, "test", settings, bf16)
        seconds = time.perf_counter() - start
        fitted[stage] = (model, tok, task, seconds)
        cached = " (cached)" if info.get("cached") else ""
        out.append(Result(stage, names[stage], "transformer", True, sample_note + cached, proba, seconds))
    best, val_proba = _best_on_validation(fitted, settings, bf16)
    if "fusion" in wanted:
        out.append(_fusion(p, fitted, best, val_proba, rows, settings, seed, bf16, names["fusion"]))
    student = None
    if "student" in wanted or "bundle" in wanted:
        if best is None:
            why = "no transformer ran (the student is distilled from one)"
            out += [Result(w, names[w], kinds[w], False, why) for w in ("student", "bundle") if w in wanted]
            return out
        student = _student(p, fitted[best], rows, settings, seed, bf16, model_name)
        if "student" in wanted:
            out.append(Result("student", names["student"], "student", True, student["why"], student["proba"],
                              student["seconds"], {"size_mb": student["size_mb"]}))  # fmt: skip
    if "bundle" in wanted and student is not None:
        if bundle_dir is None:
            out.append(Result("bundle", names["bundle"], "bundle", False, "no bundle_dir given"))
        else:
            out.append(_bundle(p, student, fitted[best][2], bundle_dir, names["bundle"], say, test_rows=test_rows,
                               seed=seed, n_resamples=settings.bootstrap_resamples))  # fmt: skip
    return out


def _records(p: Prepared, rows: np.ndarray) -> list[str]:
    from llmkit.data.text import records_to_text

    return records_to_text(p.X.iloc[rows], p.schema.features)


def _finetune(task: TextTask, settings: AnalystSettings, model_name: str, seed: int, bf16: bool) -> Any:
    from llmkit.finetune import loop

    return loop.finetuned_minilm(
        task, n_train=len(task.split("train")), epochs=settings.transformer_epochs, seed=seed, bf16=bf16,
        max_length=settings.max_length, name=model_name,
    )  # fmt: skip


def _predict(
    model: Any, tok: Any, task: TextTask, split: str, settings: AnalystSettings, bf16: bool
) -> np.ndarray:
    from llmkit.finetune import loop, tasks

    return loop.predict_proba(model, tasks.encode_task(tok, task, split, settings.max_length), bf16=bf16)


def _best_on_validation(
    fitted: dict[str, tuple[Any, ...]], settings: AnalystSettings, bf16: bool
) -> tuple[str | None, dict[str, np.ndarray]]:
    """The transformer stage with the higher validation accuracy (ties: the text model), and each one's
    validation probabilities (the fuser's inputs)."""
    scores, probas = {}, {}
    for stage, (model, tok, task, _) in fitted.items():
        probas[stage] = _predict(model, tok, task, "validation", settings, bf16)
        scores[stage] = float((probas[stage].argmax(1) == task.labels("validation")).mean())
    return (max(scores, key=lambda k: scores[k]) if scores else None), probas


def _fusion(p: Prepared, fitted: dict[str, Any], best: str | None, val_probas: dict[str, np.ndarray], rows: dict[str, np.ndarray],
            settings: AnalystSettings, seed: int, bf16: bool, name: str) -> Result:  # fmt: skip
    from llmkit.study.fusion import text_scores
    from llmkit.study.tabular import tabular_models

    s = p.schema
    if best is None or not s.features:
        why = "no transformer ran" if best is None else "no numeric or categorical column to fuse with"
        return Result("fusion", name, "fusion", False, why)
    model, tok, task, _ = fitted[best]
    val_proba = val_probas[best]
    start = time.perf_counter()
    test_proba = _predict(model, tok, task, "test", settings, bf16)
    score_cols = [f"__log_odds_{i}" for i in range(val_proba.shape[1] - 1)]

    def frame(split: str, proba: np.ndarray) -> Any:
        f = p.X.iloc[rows[split]].copy()
        f[score_cols] = text_scores(proba)
        return f

    gb = [m for m in tabular_models(s.task, frame("validation", val_proba), p.y[rows["validation"]],
                                    numeric=s.numeric + score_cols, categorical=s.categorical, seed=seed,
                                    num_classes=len(s.classes))
          if m.name == "gradient boosting"][0]  # fmt: skip
    proba = np.asarray(gb.predict(frame("test", test_proba)))
    why = f"gradient boosting on [{best} log-odds, features], fitted on {len(rows['validation'])} validation rows"
    return Result("fusion", name, "fusion", True, why, proba, time.perf_counter() - start)


def _student(p: Prepared, best: tuple[Any, ...], rows: dict[str, np.ndarray], settings: AnalystSettings,
             seed: int, bf16: bool, model_name: str) -> dict[str, Any]:  # fmt: skip
    from llmkit.distill import shrink
    from llmkit.distill.student import safetensors_mb

    teacher, _, task, _ = best
    depth = (
        teacher.config.num_hidden_layers
    )  # the default cut keeps the first and the last layer, (0, 5) of MiniLM's 6
    layers = (0, depth - 1) if depth > 1 else (0,)
    train_all = p.rows("train")
    others = np.setdiff1d(train_all, rows["train"])
    extra = _sample(others, p.y, settings.transfer_rows, seed) if len(others) else others
    stage_texts = p.texts if task.name.startswith("minilm:") else (lambda r: _records(p, r))
    start = time.perf_counter()
    model, tok, info = shrink.shrunk_student(
        task, teacher_train_size=len(task.split("train")), teacher_epochs=settings.transformer_epochs,
        layers=layers, kd_epochs=settings.kd_epochs, unlabeled=stage_texts(extra) if len(extra) else None, seed=seed,
        bf16=bf16, teacher_name=model_name,
    )  # fmt: skip
    proba = _predict(model, tok, task, "test", settings, bf16)
    layers = info.get("layers")
    why = (f"initialized from {len(layers) if layers else '?'} of the teacher's layers, distilled on "
           f"{len(task.split('train'))} labeled + {len(extra)} unlabeled rows" + (" (cached)" if info.get("cached") else ""))  # fmt: skip
    return {"model": model, "tokenizer": tok, "proba": proba, "seconds": time.perf_counter() - start,
            "size_mb": safetensors_mb(model), "why": why, "info": info}  # fmt: skip


def _bundle(p: Prepared, student: dict[str, Any], task: TextTask, bundle_dir: str | Path, name: str,
            say: Callable[..., Any], test_rows: np.ndarray | None = None, seed: int = 0,
            n_resamples: int = 200) -> Result:  # fmt: skip
    from llmkit.deploy import export
    from llmkit.deploy.rows import rows_input

    s = p.schema
    records = task.name.startswith("records:")  # the model reads rows written as text: it serves table rows
    start = time.perf_counter()
    card = export.ModelCard(
        name="llmkit-analyst-" + Path(p.source).stem.replace("_", "-").lower()[:40], version="1.0.0",
        task=f"predicts {s.target!r} ({', '.join(s.classes)}) from "
             + ("the text of " + ", ".join(map(repr, s.text)) if task.name.startswith("minilm:")
                else "the record written as text (columns " + ", ".join(s.features) + ")"),
        labels=list(s.classes),
        training_data={"source": p.source, "train_rows": len(task.split("train")), "split": p.split.kind},
        metrics={}, intended_use="analysis and teaching; decisions about people need a fairness audit first",
        limitations=["trained on one table, on a seeded sample of its training rows", "texts beyond 128 tokens are truncated"],
        extra={} if records else {"schema": s.to_dict()}, input=rows_input(s.to_dict()) if records else {"kind": "texts"},
    )  # fmt: skip
    folder = export.build_bundle(student["model"], student["tokenizer"], bundle_dir, card,
                                 reference_texts=task.texts("train"), holdout_texts=task.texts("validation"))  # fmt: skip
    predictor = export.load_predictor(folder, "onnx_int8")
    proba = predictor.predict_many(task.texts("test"))
    size = sum(f.stat().st_size for f in Path(folder).glob("*.onnx")) / 1e6
    say(f"bundle: {folder}")
    extra: dict[str, Any] = {"size_mb": size, "folder": str(folder)}
    if p.sensitive and test_rows is not None:
        extra["fairness"] = _audit(
            p, folder, card, test_rows, np.asarray(proba).argmax(1), seed, n_resamples, say
        )
    return Result("bundle", name, "bundle", True, f"ONNX Runtime int8, {size:.1f} MB", proba,
                  time.perf_counter() - start, extra)  # fmt: skip


def _audit(p: Prepared, folder: Path, card: Any, test_rows: np.ndarray, pred: np.ndarray, seed: int,
           n_resamples: int, say: Callable[..., Any]) -> dict[str, Any] | None:  # fmt: skip
    """The bundle's fairness section by ``p.sensitive`` on its test predictions, written into its card; a
    target that is not binary is skipped with a note (in the card's limitations too)."""
    from llmkit.deploy import export
    from llmkit.fairness import card as fairness_card

    if p.schema.task != "binary":
        why = (f"no fairness section: the audit by {', '.join(p.sensitive)} needs a binary target; "
               f"{p.schema.target!r} is {p.schema.task}")  # fmt: skip
        say(why)
        export.update_card(folder, limitations=[*card.limitations, why])
        return None
    groups = {c: p.frame[c].to_numpy(dtype=object)[test_rows] for c in p.sensitive}
    section = fairness_card.card_section(p.y[test_rows], pred, groups, seed=seed, n_resamples=n_resamples,
                                         target=p.schema.target)  # fmt: skip
    export.update_card(
        folder, fairness=section, limitations=[*card.limitations, fairness_card.summary(section)]
    )
    say(fairness_card.section_table(section).to_string())
    return section
