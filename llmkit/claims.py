"""The claims ledger: every number a notebook reports and every claim it makes, measured and saved.

A notebook opens one ledger, records metrics and checks claims as it goes, and saves at the end::

    claims = Ledger("01_loss_derivation", profile=profile, out_dir=out_dir)
    claims.metric("train_loss", 0.071, headline=True)
    claims.check("gradient matches autograd", value=rel_err, op="<", target=1e-6,
                 seed="derive the gradient (y_hat - y) x, then check it against autograd")
    claims.figure(fig, "loss_curve")
    claims.save()   # -> <run>/01_loss_derivation/metrics.json (+ loss_curve.png)

At ``lesson`` and ``full`` a failed claim raises :class:`~llmkit.errors.ClaimFailed` (after it is
recorded and saved, so the report still shows it); at ``smoke`` it is only recorded.

``metrics.json`` holds ``notebook``, ``profile``, ``seconds`` (wall time since the ledger opened),
``metrics`` (a flat dict of numbers), ``headline`` (the metric names the course report shows),
``timing`` (the metric names that measure speed and so vary run to run),
``claims`` (a list of ``{name, value, op, target, passed, seed}``) and ``figures``.
"""

from __future__ import annotations

import json
import math
import operator
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmkit.config import atomic_write_text, get_profile, notebook_dir, resolve_profile
from llmkit.errors import ClaimFailed, LlmkitError

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}

METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class Claim:
    """One checked claim: ``value op target``, and the seed sentence it tests."""

    name: str
    value: float
    op: str
    target: float
    passed: bool
    seed: str  # the sentence of the seed text or design card that this claim tests


def evaluate(value: float, op: str, target: float) -> bool:
    """Whether ``value op target`` holds; a NaN value never passes."""
    if op not in OPS:
        raise LlmkitError(f"claim op: expected one of {', '.join(OPS)}, got {op!r}")
    value, target = float(value), float(target)
    return not math.isnan(value) and OPS[op](value, target)


def _number(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise LlmkitError(
            f"metric {name!r}: expected a number, got {type(value).__name__} {value!r}"
        ) from exc
    return number


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

    def check(self, name: str, value: Any, op: str, target: Any, seed: str, *, timing: bool = False) -> Claim:
        """Record the claim ``value op target``; raise at ``lesson``/``full`` if it fails.

        ``seed`` quotes the sentence of the seed text (or the design card) that the claim tests.
        The value is also recorded as a metric under ``name`` (``timing`` as in :meth:`metric`).
        """
        if not seed or not seed.strip():
            raise LlmkitError(f"claim {name!r}: seed must quote the sentence the claim tests")
        number = _number(name, value)
        claim = Claim(name, number, op, _number(name + " target", target), evaluate(number, op, target), seed)
        self.claims = [c for c in self.claims if c.name != name] + [claim]
        self.metric(name, number, timing=timing)
        if not claim.passed and self.enforce:
            self.save()
            raise ClaimFailed(
                f"claim {name!r} failed at profile {self.profile}: {number:.6g} {op} {claim.target:.6g} "
                f"does not hold (tests: {seed})"
            )
        return claim

    def figure(self, fig: Any, name: str, dpi: int = 110) -> Path:
        """Save a matplotlib figure as ``<name>.png`` beside the ledger and return its path."""
        path = self.dir / f"{name}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        if path.name not in self.figures:
            self.figures.append(path.name)
        return path

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
        lines = [f"{self.notebook} [{self.profile}] {self.seconds:.1f} s"]
        for c in self.claims:
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"  {mark}  {c.name}: {c.value:.6g} {c.op} {c.target:.6g}")
        return "\n".join(lines)


def load(path: str | Path) -> dict[str, Any]:
    """Read a ``metrics.json`` (or the one inside a notebook's run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise LlmkitError(f"{path}: no ledger found (expected a metrics.json written by claims.Ledger.save)")
    return json.loads(path.read_text(encoding="utf-8"))
