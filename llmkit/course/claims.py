"""The claims ledger: every number a notebook reports and every promise it tests, with its source.

A notebook opens one ledger, records metrics and checks claims as it goes, and saves at the end::

    claims = Ledger("01_loss_derivation", profile=profile, out_dir=out_dir)
    claims.metric("train_loss", 0.071, headline=True)
    claims.check("gradient matches autograd", rel_err, "<", 1e-6,
                 seed=("梯度下降法优化损失函数", "the loss is optimized by gradient descent"))
    claims.check("distilled beats small net", errors_gap, "<", 0,
                 paper=("Hinton et al. 2015, §3", "MNIST: distilled 74 test errors vs 146 for the small net"))
    claims.check("int8 speed-up", speedup, ">=", 2, course="int8 is ≥ 2× faster at batch 32", timing=True)
    claims.figure(fig, "loss_curve")
    claims.save()   # -> <run>/01_loss_derivation/metrics.json (+ loss_curve.png)

Every claim names exactly one source:

* ``seed=(quote, gloss)``: a sentence of the seed text, quoted in Chinese exactly as it appears in
  ``llmkit/data/seed.txt`` (checked here: a quote that is not found raises), with an English gloss; the
  section (``§5.4``) is found from the file's headings;
* ``paper=(citation, number)``: a paper and the number it reports;
* ``course=target``: the course's own target, said in words.

What a claim's outcome does (``status``):

* ``met``: ``value op target`` holds (with ``interval=(low, high)``, on the bound that is least favourable);
* ``inconclusive``: an interval was given and it straddles the target: inside its own noise, recorded, never
  raises;
* ``not met``: the promise failed and the run goes on, for two reasons only: it was declared
  ``expected_to_fail="why"`` (a known failure, with the measured number), or it is a ``timing`` claim
  (this machine's speed; enforced only with ``llmkit run --strict-timing``, ``$LLMKIT_STRICT_TIMING=1``);
* ``failed``: any other failed promise; at ``lesson`` and ``full`` it raises :class:`~llmkit.core.errors.ClaimFailed`
  after the ledger is saved, so the report still shows it. At ``smoke`` every claim is only recorded.

``metrics.json`` holds ``notebook``, ``profile``, ``seconds``, ``machine`` (CPU, cores, load when the ledger
opened), ``metrics`` (a flat dict of numbers), ``headline``, ``timing`` (metric names that measure speed),
``claims`` (see :class:`Claim`) and ``figures``.
"""

from __future__ import annotations

import json
import math
import operator
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmkit.core.config import get_profile, notebook_dir, resolve_profile
from llmkit.core.errors import ClaimFailed, LlmkitError
from llmkit.core.io import atomic_write_text
from llmkit.data.seed import seed_section

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}

METRICS_FILE = "metrics.json"
SOURCE_KINDS = ("seed", "paper", "course")
STATUSES = ("met", "inconclusive", "not met", "failed")
STRICT_TIMING_ENV = "LLMKIT_STRICT_TIMING"


# ---------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    """Where a claim comes from: the seed (quote + gloss), a paper (citation + number) or the course."""

    kind: str  # "seed" | "paper" | "course"
    text: str  # seed: the Chinese quote, verbatim; paper: the number it reports; course: the target in words
    gloss: str = ""  # seed: the English gloss
    where: str = ""  # seed: its section, e.g. "§5.4"; paper: the citation

    def line(self) -> str:
        """One line for a report: ``seed §5.4: 「…」 (gloss)``."""
        if self.kind == "seed":
            return f"seed {self.where}: 「{self.text}」 ({self.gloss})"
        if self.kind == "paper":
            return f"paper, {self.where}: {self.text}"
        return f"course target: {self.text}"


def make_source(
    seed: tuple[str, str] | None = None,
    paper: tuple[str, str] | None = None,
    course: str | None = None,
    *,
    claim: str = "",
) -> Source:
    """The one :class:`Source` named by exactly one of ``seed``, ``paper`` or ``course``."""
    given = [k for k, v in (("seed", seed), ("paper", paper), ("course", course)) if v is not None]
    if len(given) != 1:
        raise LlmkitError(
            f"claim {claim!r}: name exactly one source (seed=(quote, gloss), paper=(citation, number) "
            f"or course='target'), got {', '.join(given) or 'none'}"
        )
    if course is not None:
        if not isinstance(course, str) or not course.strip():
            raise LlmkitError(f"claim {claim!r}: course= must say the course's target in words")
        return Source("course", course.strip())
    pair = seed if seed is not None else paper
    if (
        not isinstance(pair, tuple | list)
        or len(pair) != 2
        or not all(isinstance(x, str) and x.strip() for x in pair)
    ):
        what = (
            "(quote in Chinese, English gloss)" if seed is not None else "(citation, the number it reports)"
        )
        raise LlmkitError(f"claim {claim!r}: {given[0]}= expects a pair of strings {what}, got {pair!r}")
    if seed is not None:
        quote, gloss = seed
        return Source("seed", quote, gloss.strip(), seed_section(quote))
    citation, number = paper  # type: ignore[misc]
    return Source("paper", number.strip(), where=citation.strip())


# ---------------------------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """One tested promise: ``value op target``, its outcome and its source."""

    name: str
    value: float
    op: str
    target: float
    passed: bool  # the promise holds (on the interval's least favourable bound when one is given)
    status: str  # "met" | "inconclusive" | "not met" | "failed" (see the module docstring)
    source: dict[str, str]  # Source as a dict: kind, text, gloss, where
    timing: bool = False  # a measurement of this machine's speed
    reason: str = ""  # not met: why (declared), or the machine a timing claim missed on
    low: float | None = None  # the interval, when the claim is noise-aware
    high: float | None = None


def evaluate(value: float, op: str, target: float) -> bool:
    """Whether ``value op target`` holds; a NaN value never passes."""
    if op not in OPS:
        raise LlmkitError(f"claim op: expected one of {', '.join(OPS)}, got {op!r}")
    value, target = float(value), float(target)
    return not math.isnan(value) and OPS[op](value, target)


def interval_outcome(low: float, high: float, op: str, target: float) -> str:
    """``met`` if the whole interval satisfies ``op target``, ``failed`` if none of it does, else ``inconclusive``."""
    if op == "==":
        raise LlmkitError("claim op '==' takes no interval")
    worst, best = (low, high) if op in (">", ">=") else (high, low)
    if evaluate(worst, op, target):
        return "met"
    return "inconclusive" if evaluate(best, op, target) else "failed"


def _number(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise LlmkitError(
            f"metric {name!r}: expected a number, got {type(value).__name__} {value!r}"
        ) from exc
    return number


def strict_timing() -> bool:
    """Whether timing claims are enforced in this process (``llmkit run --strict-timing``)."""
    return os.environ.get(STRICT_TIMING_ENV, "").strip().lower() in {"1", "true", "yes"}


def machine_now() -> dict[str, Any]:
    """The CPU, its cores and the load average now: what a timing claim's outcome depends on."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - not Linux
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {"cpu": cpu, "cores": cores, "load_1_5_15": load}


def _machine_line(machine: dict[str, Any]) -> str:
    load = "/".join(str(x) for x in machine.get("load_1_5_15", [])) or "?"
    return f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, load {load}"


class Ledger:
    """The record of one notebook run: metrics, claims and figures, saved as ``metrics.json``."""

    def __init__(self, notebook: str, profile: str | None = None, out_dir: str | Path | None = None) -> None:
        """Open the ledger of ``notebook`` (its file stem) in the run folder ``out_dir``.

        ``out_dir`` defaults to ``$LLMKIT_OUT``; with neither set (a notebook run by hand), a new run
        folder under ``outputs/`` is made. An existing ledger is never overwritten.
        """
        self.notebook = notebook
        self.profile = resolve_profile(profile)
        self.enforce = get_profile(self.profile).enforce_claims
        self.dir = notebook_dir(notebook, out_dir)
        self.path = self.dir / METRICS_FILE
        if self.path.exists():
            raise LlmkitError(f"{self.path}: a ledger already exists here; runs are never overwritten")
        self.metrics: dict[str, float] = {}
        self.headline: list[str] = []
        self.timing: list[str] = []
        self.claims: list[Claim] = []
        self.figures: list[str] = []
        self.machine = machine_now()
        self._start = time.perf_counter()

    # -- recording ------------------------------------------------------------------------------
    def metric(self, name: str, value: Any, *, headline: bool = False, timing: bool = False) -> float:
        """Record a number (overwrites an earlier value of the same name) and return it.

        ``headline`` metrics are shown in the course report; ``timing`` marks a measurement of speed
        (seconds, GFLOP/s, tokens/s) that legitimately varies between runs: the determinism tests
        compare every other metric exactly.
        """
        number = _number(name, value)
        self.metrics[name] = number
        if headline and name not in self.headline:
            self.headline.append(name)
        if timing and name not in self.timing:
            self.timing.append(name)
        return number

    def log(self, **metrics: Any) -> None:
        """Record several metrics at once: ``claims.log(accuracy=0.93, f1=0.91)``."""
        for name, value in metrics.items():
            self.metric(name, value)

    def check(
        self,
        name: str,
        value: Any,
        op: str,
        target: Any,
        *,
        seed: tuple[str, str] | None = None,
        paper: tuple[str, str] | None = None,
        course: str | None = None,
        timing: bool = False,
        interval: tuple[float, float] | None = None,
        expected_to_fail: str | None = None,
    ) -> Claim:
        """Test the promise ``value op target`` and record it, with its source.

        ``interval=(low, high)`` (a bootstrap or seed interval around ``value``) makes the claim
        noise-aware: met only if the whole interval satisfies it. ``expected_to_fail`` is the reason a
        promise is known not to hold here; if it fails it is recorded *not met* and the run goes on.
        The value is also recorded as a metric under ``name``.
        """
        source = make_source(seed, paper, course, claim=name)
        if expected_to_fail is not None and not expected_to_fail.strip():
            raise LlmkitError(f"claim {name!r}: expected_to_fail must say why the promise does not hold")
        number = _number(name, value)
        target_n = _number(name + " target", target)
        low = high = None
        if interval is not None:
            low, high = (_number(name + " interval", x) for x in interval)
            if not low <= high:
                raise LlmkitError(
                    f"claim {name!r}: interval must be (low, high) with low <= high, got {interval}"
                )
            outcome = interval_outcome(low, high, op, target_n)
        else:
            outcome = "met" if evaluate(number, op, target_n) else "failed"
        reason = ""
        if outcome == "failed" and expected_to_fail:
            outcome, reason = "not met", expected_to_fail.strip()
        elif outcome == "failed" and timing and not strict_timing():
            outcome, reason = "not met", f"timing on {_machine_line(machine_now())}"
        elif outcome == "met" and expected_to_fail:
            reason = f"met, although declared expected to fail ({expected_to_fail.strip()})"
        elif timing:
            reason = f"timing on {_machine_line(machine_now())}"
        claim = Claim(
            name, number, op, target_n, outcome == "met", outcome, asdict(source), timing, reason, low, high
        )
        self.claims = [c for c in self.claims if c.name != name] + [claim]
        self.metric(name, number, timing=timing)
        if outcome == "failed" and self.enforce:
            self.save()
            bounds = f" (interval {low:.4g}–{high:.4g})" if low is not None else ""
            raise ClaimFailed(
                f"claim {name!r} failed at profile {self.profile}: {number:.6g}{bounds} {op} {target_n:.6g} "
                f"does not hold (tests the {source.line()})"
            )
        return claim

    def figure(self, fig: Any, name: str, dpi: int = 110) -> Path:
        """Save a matplotlib figure as ``<name>.png`` beside the ledger and return its path."""
        path = self.dir / f"{name}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        if path.name not in self.figures:
            self.figures.append(path.name)
        return path

    # -- reading back ---------------------------------------------------------------------------
    def markdown(self, names: Iterable[str] | None = None) -> str:
        """This run's claims (or the metrics ``names``) as a Markdown table, for a "what we measured" cell."""
        if names is not None:
            rows = [[n, _fmt(self.metrics[n])] for n in names if n in self.metrics]
            return markdown_table(["metric", "this run"], rows)
        return claims_markdown([asdict(c) for c in self.claims])

    # -- saving ---------------------------------------------------------------------------------
    @property
    def seconds(self) -> float:
        """Wall time since the ledger opened."""
        return time.perf_counter() - self._start

    def to_dict(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "profile": self.profile,
            "seconds": round(self.seconds, 3),
            "machine": self.machine,
            "metrics": self.metrics,
            "headline": self.headline,
            "timing": self.timing,
            "claims": [asdict(c) for c in self.claims],
            "figures": self.figures,
        }

    def save(self) -> Path:
        """Write ``metrics.json`` atomically (it may be called again; the last call wins)."""
        atomic_write_text(self.path, json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n")
        return self.path

    def summary(self) -> str:
        """One line per claim, for the notebook's last cell."""
        lines = [
            f"{self.notebook} [{self.profile}] {self.seconds:.1f} s; {count_text([asdict(c) for c in self.claims])}"
        ]
        for c in self.claims:
            lines.append(f"  {MARKS[c.status]} {c.status:<12} {c.name}: {_claim_value(asdict(c))}")
            if c.reason:
                lines.append(f"      {c.reason}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- rendering

MARKS = {"met": "✔", "inconclusive": "≈", "not met": "◐", "failed": "✘"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _claim_value(c: dict[str, Any]) -> str:
    bounds = f" [{_fmt(c['low'])}, {_fmt(c['high'])}]" if c.get("low") is not None else ""
    return f"{_fmt(c['value'])}{bounds} {c['op']} {_fmt(c['target'])}"


def source_line(c: dict[str, Any]) -> str:
    """The source line of a saved claim (a dict from ``metrics.json``)."""
    return Source(**c["source"]).line() if isinstance(c.get("source"), dict) else "source: (none recorded)"


def count_text(claims: list[dict[str, Any]]) -> str:
    """``5 met, 1 not met`` (the statuses that occur, in a fixed order)."""
    if not claims:
        return "no claims"
    counts = {s: sum(c.get("status") == s for c in claims) for s in STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (``|`` in cells escaped)."""

    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    return "\n".join(lines)


def claims_markdown(claims: list[dict[str, Any]]) -> str:
    """Saved claims as a Markdown table: status, claim, measured vs target, source."""
    rows = [
        [
            f"{MARKS[c['status']]} {c['status']}",
            c["name"],
            _claim_value(c),
            source_line(c) + (f" — {c['reason']}" if c.get("reason") else ""),
        ]
        for c in claims
    ]
    return markdown_table(["", "claim", "measured vs target", "source"], rows)


def load(path: str | Path) -> dict[str, Any]:
    """Read a ``metrics.json`` (or the one inside a notebook's run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise LlmkitError(f"{path}: no ledger found (expected a metrics.json written by claims.Ledger.save)")
    return json.loads(path.read_text(encoding="utf-8"))
