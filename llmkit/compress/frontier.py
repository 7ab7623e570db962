"""The size / latency / accuracy Pareto front of the variants, and its plot (notebook 06)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from llmkit.core.errors import LlmkitError

# ------------------------------------------------------------------------------------------------ Pareto


class VariantPoint(NamedTuple):
    """One variant on the size / latency / accuracy map (a plain tuple in this order works too)."""

    name: str
    size_mb: float
    latency_ms: float
    accuracy: float


_COSTS = ("size_mb", "latency_ms")
_AXIS_LABELS = {"size_mb": "size on disk (MB)", "latency_ms": "median latency (ms)"}


def _points(rows: Sequence[Sequence[Any]]) -> list[VariantPoint]:
    points = [VariantPoint(str(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in rows]
    if not points:
        raise LlmkitError("rows: expected at least one (name, size_mb, latency_ms, accuracy), got none")
    for p in points:
        if not (p.size_mb > 0 and p.latency_ms > 0 and 0.0 <= p.accuracy <= 1.0):
            raise LlmkitError(
                f"row {p.name!r}: expected size_mb > 0, latency_ms > 0, accuracy in [0, 1], got {tuple(p)[1:]}"
            )
    if len({p.name for p in points}) != len(points):
        raise LlmkitError(f"rows: expected unique names, got {[p.name for p in points]}")
    return points


def pareto_front(rows: Sequence[Sequence[Any]], costs: Sequence[str] = _COSTS) -> list[str]:
    """Names of the rows no other row dominates (in the order given).

    Row ``a`` dominates ``b`` when it is no worse on every cost in ``costs`` (lower is better) and on
    accuracy (higher is better), and strictly better on at least one.
    """
    points = _points(rows)
    bad = [c for c in costs if c not in _COSTS]
    if bad or not costs:
        raise LlmkitError(f"costs: expected some of {', '.join(_COSTS)}, got {list(costs)}")

    def dominates(a: VariantPoint, b: VariantPoint) -> bool:
        no_worse = all(getattr(a, c) <= getattr(b, c) for c in costs) and a.accuracy >= b.accuracy
        better = any(getattr(a, c) < getattr(b, c) for c in costs) or a.accuracy > b.accuracy
        return no_worse and better

    return [p.name for p in points if not any(dominates(q, p) for q in points)]


def plot_pareto(
    rows: Sequence[Sequence[Any]],
    x: str = "size_mb",  # "size_mb" or "latency_ms"
    xlabel: str | None = None,  # e.g. "median latency at batch 32 (ms)"; default names the unit
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Accuracy against size or latency, every variant labeled, the 2-D Pareto front as a step line."""
    from llmkit.core.evaluate import axes

    if x not in _COSTS:
        raise LlmkitError(f"x: expected one of {', '.join(_COSTS)}, got {x!r}")
    points = _points(rows)
    front = set(pareto_front(points, (x,)))
    fig, ax = axes(ax, (6.4, 4.4))
    spots: dict[tuple[float, float], list[VariantPoint]] = {}  # variants at the same spot share one label
    for p in points:
        spots.setdefault((getattr(p, x), p.accuracy), []).append(p)
    for (px, py), here in spots.items():
        on = any(p.name in front for p in here)
        ax.scatter(px, py, color="C0" if on else "C7", zorder=3, s=40 if on else 25)
        label = " = ".join(p.name for p in here)
        ax.annotate(label, (px, py), textcoords="offset points", xytext=(5, 4), fontsize=8)
    line = sorted((getattr(p, x), p.accuracy) for p in points if p.name in front)
    ax.step([a for a, _ in line], [b for _, b in line], where="post", color="C0", label="Pareto front")
    ax.set(xlabel=xlabel or _AXIS_LABELS[x], ylabel="test accuracy (fraction correct)")
    ax.set_title(title or f"Accuracy vs {_AXIS_LABELS[x].split(' (')[0]}")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig
