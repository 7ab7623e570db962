"""The course runner: execute notebooks with papermill into a run folder and report on them.

``llmkit run 01 02 --profile lesson`` executes each notebook into ``<run>/<stem>/``::

    outputs/20261129-153012/
      index.html                      one row per notebook: status, time, headline metrics, claims
      01_loss_derivation/
        01_loss_derivation.ipynb      the executed notebook
        01_loss_derivation.html       ... rendered by nbconvert
        metrics.json                  the notebook's claims ledger (llmkit.course.claims)
        status.json                   what the runner saw: status, wall time, error
        *.png                         figures

A run folder is never overwritten: a fresh one is made per run, and a notebook whose folder already
exists in ``--out`` is refused before anything executes.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmkit.core.config import get_profile, new_run_dir, repo_root, resolve_profile
from llmkit.core.errors import LlmkitError
from llmkit.core.io import atomic_write_text
from llmkit.course import claims as claims_mod

KERNEL = "python3"
STATUS_FILE = "status.json"


def _ipc_kernel_manager() -> type:
    """A Jupyter kernel manager on IPC transport: local sockets, so the kernel warns of no plain-text TCP."""
    from jupyter_client.manager import KernelManager
    from traitlets import CaselessStrEnum

    class IPCKernelManager(KernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    return IPCKernelManager


@dataclass
class NotebookResult:
    """What happened to one notebook in a run."""

    notebook: str  # file stem, e.g. "01_loss_derivation"
    status: str  # "passed" | "failed"
    seconds: float  # wall time of papermill's execution, kernel start included
    profile: str
    error: str = ""  # one line: the exception the notebook raised
    budget_s: float = 0.0  # the profile's per-notebook budget
    parameters: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- finding


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def discover(root: Path | None = None) -> list[Path]:
    """The course's notebooks in order: numbered ones first, then the case studies."""
    root = root or notebooks_dir()
    numbered = sorted(p for p in root.glob("[0-9][0-9]_*.ipynb"))
    cases = sorted((root / "case_studies").glob("*.ipynb")) if (root / "case_studies").is_dir() else []
    return numbered + cases


def find_notebook(name: str, root: Path | None = None) -> Path:
    """A notebook named by its number (``01``), stem (``01_loss_derivation``), case study or path."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    known = discover(root)
    stem = path.stem if path.suffix == ".ipynb" else name
    matches = [p for p in known if p.stem == stem or p.stem.split("_", 1)[0] == stem.zfill(2)]
    if len(matches) == 1:
        return matches[0]
    choices = ", ".join(p.stem for p in known) or "(none found)"
    if not matches:
        raise LlmkitError(f"notebook {name!r}: not found; expected a number or one of: {choices}")
    raise LlmkitError(f"notebook {name!r}: ambiguous, matches {', '.join(p.stem for p in matches)}")


# ---------------------------------------------------------------------------------------------- parameters


def parse_value(text: str) -> Any:
    """A command-line parameter value, read as papermill's ``-y`` reads YAML.

    ``3`` -> int, ``1e-3`` -> float, ``true`` -> bool, ``none`` / ``null`` -> None, ``'["a", "b"]'`` -> a list,
    ``'{k: 1}'`` -> a dict; anything else (a path, ``latin-1``) stays the string. A value that opens a list
    or dict but is not valid YAML raises, naming it.
    """
    import yaml

    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in {"none", "null", "~"}:
        return None
    if lowered in {"true", "false"}:
        return lowered == "true"
    for kind in (int, float):  # before YAML: PyYAML reads "1e-3" as a string
        try:
            return kind(stripped)
        except ValueError:
            pass
    if stripped[:1] in {"[", "{"}:
        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError as exc:
            raise LlmkitError(
                f"parameter value {text!r}: not valid YAML ({str(exc).splitlines()[0]})"
            ) from exc
    return text


def resolve_paths(parameters: Mapping[str, Any], base: Path | None = None) -> dict[str, Any]:
    """Relative values of ``*_path`` / ``*_dir`` parameters made absolute against ``base`` (default: the cwd).

    The runner starts each kernel in the notebook's own folder, so ``-p data_path my.csv`` must mean the
    file where the command was typed.
    """
    base = base or Path.cwd()
    return {
        name: str((base / Path(value).expanduser()).resolve())
        if name.endswith(("_path", "_dir")) and isinstance(value, str) and value
        else value
        for name, value in parameters.items()
    }


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The knobs of a notebook's ``parameters`` cell (name -> default as written)."""
    import papermill

    return {name: spec["default"] for name, spec in papermill.inspect_notebook(str(path)).items()}


def check_parameters(path: Path, parameters: Mapping[str, Any]) -> None:
    """Refuse a parameter the notebook does not have, before anything runs."""
    known = notebook_parameters(path)
    unknown = [name for name in parameters if name not in known]
    if unknown:
        raise LlmkitError(
            f"{path.name}: no parameter {', '.join(map(repr, unknown))}; its parameters are: {', '.join(known)}"
        )


# ---------------------------------------------------------------------------------------------- running


def _one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # drop ANSI colours from tracebacks
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_html(notebook_path: Path) -> Path:
    """Render an executed notebook to HTML beside it (nbconvert)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook_path, as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    out = notebook_path.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def run_notebook(
    path: Path,
    run_dir: Path,
    profile: str,
    parameters: Mapping[str, Any] | None = None,
    strict_timing: bool = False,
) -> NotebookResult:
    """Execute one notebook with papermill into ``run_dir/<stem>/`` and render it to HTML.

    ``strict_timing`` makes the notebook's timing claims fail it like any other claim.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    parameters = dict(parameters or {})
    out_dir = run_dir / path.stem
    try:
        out_dir.mkdir(parents=True)
    except FileExistsError as exc:
        raise LlmkitError(
            f"{out_dir}: already exists; runs are never overwritten (choose another --out)"
        ) from exc
    executed = out_dir / path.name
    params = {"profile": profile, "out_dir": str(run_dir), **parameters}
    # The kernel inherits the environment: llmkit code that reads $LLMKIT_OUT / $LLMKIT_PROFILE agrees.
    saved = {k: os.environ.get(k) for k in ("LLMKIT_OUT", "LLMKIT_PROFILE", claims_mod.STRICT_TIMING_ENV)}
    os.environ.update(LLMKIT_OUT=str(run_dir), LLMKIT_PROFILE=profile)
    os.environ[claims_mod.STRICT_TIMING_ENV] = "1" if strict_timing else "0"
    start = time.perf_counter()
    status, error = "passed", ""
    try:
        papermill.execute_notebook(
            str(path),
            str(executed),
            parameters=params,
            kernel_name=KERNEL,
            cwd=str(path.parent),
            progress_bar=False,
            kernel_manager_class=_ipc_kernel_manager(),
        )
    except PapermillExecutionError as exc:
        status, error = "failed", _one_line(f"{exc.ename}: {exc.evalue}")
    except Exception as exc:  # kernel died, timeout, bad notebook: record it, go on with the course
        status, error = "failed", _one_line(f"{type(exc).__name__}: {exc}")
    finally:
        seconds = time.perf_counter() - start
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    result = NotebookResult(
        notebook=path.stem,
        status=status,
        seconds=round(seconds, 2),
        profile=profile,
        error=error,
        budget_s=get_profile(profile).budget_s,
        parameters={k: v for k, v in parameters.items()},
    )
    (out_dir / STATUS_FILE).write_text(
        json.dumps(asdict(result), indent=2, default=str) + "\n", encoding="utf-8"
    )
    if executed.exists():
        try:
            render_html(executed)
        except Exception as exc:  # a report without HTML is still a report
            result.error = result.error or _one_line(f"HTML export failed: {exc}")
    return result


def run_course(
    names: Iterable[str] = (),
    profile: str | None = None,
    out: Path | str | None = None,
    parameters: Mapping[str, Any] | None = None,
    echo: bool = True,
    strict_timing: bool = False,
) -> tuple[Path, list[NotebookResult]]:
    """Run notebooks (all of them when ``names`` is empty) and write ``index.html``.

    ``strict_timing`` enforces the speed claims too (``llmkit run --strict-timing``); without it a
    missed speed claim is recorded as not met, with the machine it ran on, and the run goes on.

    Every notebook and parameter is checked before the first one executes.
    """
    profile = resolve_profile(profile)
    paths = [find_notebook(n) for n in names] if names else discover()
    if not paths:
        raise LlmkitError(f"{notebooks_dir()}: no notebooks found")
    parameters = resolve_paths(parameters or {})
    for path in paths:
        check_parameters(path, parameters)
    if out is None:
        run_dir = new_run_dir()
    else:
        run_dir = Path(out).expanduser().resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        taken = [p.stem for p in paths if (run_dir / p.stem).exists()]
        if taken:
            raise LlmkitError(f"{run_dir}: already holds {', '.join(taken)}; runs are never overwritten")
    results = []
    for path in paths:
        if echo:
            print(f"▶ {path.stem} [{profile}] …", flush=True)
        result = run_notebook(path, run_dir, profile, parameters, strict_timing)
        results.append(result)
        if echo:
            print(f"  {result.status} in {result.seconds:.1f} s {result.error}".rstrip(), flush=True)
    write_report(run_dir)
    if echo:
        print(format_table(collect(run_dir)))
        print(f"report: {run_dir / 'index.html'}")
    return run_dir, results


# ---------------------------------------------------------------------------------------------- report


def collect(run_dir: Path | str) -> list[dict[str, Any]]:
    """One row per notebook folder of a run: the runner's status joined with the notebook's ledger."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LlmkitError(f"{run_dir}: not a run folder (expected outputs/<run-id>/)")
    rows = []
    for sub in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        status_path, ledger_path = sub / STATUS_FILE, sub / claims_mod.METRICS_FILE
        if not status_path.exists() and not ledger_path.exists():
            continue
        status = json.loads(status_path.read_text(encoding="utf-8")) if status_path.exists() else {}
        ledger = json.loads(ledger_path.read_text(encoding="utf-8")) if ledger_path.exists() else {}
        html_path = sub / f"{sub.name}.html"
        rows.append(
            {
                "notebook": sub.name,
                "status": status.get("status", "unknown"),
                "seconds": status.get("seconds", ledger.get("seconds")),
                "budget_s": status.get("budget_s"),
                "profile": status.get("profile", ledger.get("profile", "")),
                "error": status.get("error", ""),
                "headline": {
                    k: ledger["metrics"][k] for k in ledger.get("headline", []) if k in ledger["metrics"]
                },
                "claims": ledger.get("claims", []),
                "machine": ledger.get("machine", {}),
                "html": html_path.name if html_path.exists() else "",
            }
        )
    return rows


_fmt = claims_mod._fmt


def _claims_text(claims: list[dict[str, Any]]) -> str:
    return claims_mod.count_text(claims) if claims else "-"


def format_table(rows: list[dict[str, Any]]) -> str:
    """The run as a plain-text table for the terminal, then every claim that was not met."""
    header = ["notebook", "status", "time s", "claims", "headline metrics"]
    body = [
        [
            r["notebook"],
            r["status"] + (" (over budget)" if _over_budget(r) else ""),
            _fmt(r["seconds"]) if r["seconds"] is not None else "-",
            _claims_text(r["claims"]),
            ", ".join(f"{k}={_fmt(v)}" for k, v in r["headline"].items()) or r["error"][:80],
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=False)) for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        for c in r["claims"]:
            if c.get("status", "met") != "met":
                lines.append(
                    f"{c['status'].upper()} {r['notebook']}: {c['name']} = {claims_mod._claim_value(c)}"
                    + (f" ({c['reason']})" if c.get("reason") else "")
                )
    return "\n".join(lines)


def _over_budget(row: dict[str, Any]) -> bool:
    return bool(row.get("budget_s") and row.get("seconds") and row["seconds"] > row["budget_s"])


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.passed,.met{color:#1a7f37}.failed{color:#cf222e}.small{font-size:.85em;color:#555}
.not-met,.inconclusive{color:#9a6700}.kind{font-size:.75em;border:1px solid #bbb;border-radius:3px;padding:0 .25rem}
ul{margin:0;padding-left:1.1rem}
"""


def _claim_html(c: dict[str, Any]) -> str:
    esc = html.escape
    status = c.get("status", "met")
    source = c.get("source") if isinstance(c.get("source"), dict) else {}
    reason = f'<div class="small">{esc(c["reason"])}</div>' if c.get("reason") else ""
    return (
        f'<li class="{status.replace(" ", "-")}">{claims_mod.MARKS.get(status, "?")} {esc(status)}: '
        f"{esc(c['name'])} = {esc(claims_mod._claim_value(c))} "
        f'<span class="kind">{esc(source.get("kind", "?"))}</span>'
        f'<div class="small">{esc(claims_mod.source_line(c))}</div>{reason}</li>'
    )


def render_index(rows: list[dict[str, Any]], title: str) -> str:
    """The run's ``index.html``: per notebook, status, time, headline metrics and every claim with its source."""
    esc = html.escape
    trs = []
    for r in rows:
        name = esc(r["notebook"])
        link = f'<a href="{esc(r["notebook"])}/{esc(r["html"])}">{name}</a>' if r["html"] else name
        claims = "".join(_claim_html(c) for c in r["claims"])
        metrics = "".join(f"<li>{esc(k)} = {esc(_fmt(v))}</li>" for k, v in r["headline"].items())
        budget = f' <span class="failed">(budget {r["budget_s"]:.0f} s)</span>' if _over_budget(r) else ""
        error = f'<div class="small failed">{esc(r["error"])}</div>' if r["error"] else ""
        machine = r.get("machine") or {}
        where = f'<div class="small">{esc(claims_mod._machine_line(machine))}</div>' if machine else ""
        trs.append(
            f'<tr><td>{link}</td><td class="{esc(r["status"])}">{esc(r["status"])}{error}</td>'
            f"<td>{esc(_fmt(r['seconds']))}{budget}{where}</td><td><ul>{metrics}</ul></td>"
            f"<td><ul>{claims}</ul></td></tr>"
        )
    total = sum(r["seconds"] or 0 for r in rows)
    every = [c for r in rows for c in r["claims"]]
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}</title><style>{_CSS}</style></head>'
        f"<body><h1>{esc(title)}</h1><p>{len(rows)} notebooks, {total:.0f} s in all; "
        f"claims: {esc(claims_mod.count_text(every))}. ✔ met · ≈ inconclusive (the interval straddles the target) · "
        "◐ not met (a known failure with its reason, or a speed claim on this machine) · ✘ failed.</p>"
        "<table><tr><th>notebook</th><th>status</th><th>wall time (s)</th><th>headline metrics</th>"
        f"<th>claims</th></tr>{''.join(trs)}</table></body></html>\n"
    )


def write_report(run_dir: Path | str) -> Path:
    """(Re)build ``<run_dir>/index.html`` from the notebook folders in it."""
    run_dir = Path(run_dir)
    rows = collect(run_dir)
    profiles = sorted({r["profile"] for r in rows if r["profile"]})
    title = f"llmkit run {run_dir.name}" + (f" ({', '.join(profiles)})" if profiles else "")
    path = run_dir / "index.html"
    return atomic_write_text(path, render_index(rows, title))
