"""Exercises of notebook 06 (compression); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _quantize_symmetric(w: np.ndarray) -> tuple[np.ndarray, float]:
    w = np.asarray(w, dtype=np.float64)
    scale = float(np.abs(w).max() / 127) if np.abs(w).max() > 0 else 1.0
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


@register(
    "06.quantize_symmetric",
    prompt="Write quantize_symmetric(w): int8 values q and the scale with w ≈ q * scale (scale = max|w| / 127).",
    reference=_quantize_symmetric,
    wrong=lambda w: (np.round(np.asarray(w) * 127).astype(np.int8), 1 / 127),
    hint="scale = max(|w|) / 127 maps the largest weight to ±127; q = round(w / scale), clipped to [-127, 127].",
)
def _check_quantize_symmetric(answer: Any) -> None:
    rng = np.random.default_rng(6)
    cases = {
        "[0.5, -1.0, 0.25]": np.array([0.5, -1.0, 0.25]),
        "random [4, 8]": rng.normal(size=(4, 8)) * 3,
    }
    for case in range(6):  # generated: random shapes, scales and signs (a few with one large outlier)
        shape = tuple(int(d) for d in rng.integers(1, 17, size=int(rng.integers(1, 4))))
        w = rng.normal(size=shape) * float(10 ** rng.uniform(-3, 2))
        if case % 2:
            w.flat[int(rng.integers(w.size))] *= 50.0
        cases[f"generated case {case + 1}: shape {shape}, max |w| {np.abs(w).max():.3g}"] = w
    for on, w in cases.items():
        got = call(answer, w.copy())
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise AssertionError(f"on {on}: expected a pair (q, scale), got {type(got).__name__}")
        q, scale = got
        want_q, want_scale = _quantize_symmetric(w)
        expect_close(scale, want_scale, on=f"{on} (scale)")
        expect_close(np.asarray(q, dtype=np.float64), want_q.astype(np.float64), on=f"{on} (q)")


def _size_ratio(n_linear: int, n_embedding: int) -> float:
    return 4.0 * (n_linear + n_embedding) / (1.0 * n_linear + 4.0 * n_embedding)


@register(
    "06.size_ratio",
    prompt="Write size_ratio(n_linear, n_embedding): fp32 bytes over bytes with only the Linear weights in int8.",
    reference=_size_ratio,
    wrong=lambda n_linear, n_embedding: 4.0,
    hint="fp32 costs 4 bytes a weight, int8 one: (4 L + 4 E) / (1 L + 4 E). Embeddings left in fp32 keep "
    "the ratio well under 4.",
)
def _check_size_ratio(answer: Any) -> None:
    for args in ((10_600_000, 11_900_000), (85_000_000, 24_000_000), (1000, 0)):
        expect_close(call(answer, *args), _size_ratio(*args), on=f"(n_linear, n_embedding) = {args}")


def _pareto(rows: list[tuple[str, float, float]]) -> list[str]:
    def dominates(a: tuple[str, float, float], b: tuple[str, float, float]) -> bool:
        return a[1] <= b[1] and a[2] >= b[2] and (a[1] < b[1] or a[2] > b[2])

    return [r[0] for r in rows if not any(dominates(o, r) for o in rows)]


@register(
    "06.pareto",
    prompt="Write pareto(rows): for (name, size_mb, accuracy) rows, the names no other row dominates.",
    reference=_pareto,
    wrong=lambda rows: [min(rows, key=lambda r: r[1])[0], max(rows, key=lambda r: r[2])[0]],
    hint="a row is dominated when another is no larger and no less accurate, and strictly better on one;"
    " keep every row nobody dominates, in the order given (there can be more than two).",
)
def _check_pareto(answer: Any) -> None:
    cases = {
        "four variants": [
            ("fp32", 91.0, 0.878),
            ("int8", 24.0, 0.872),
            ("pruned", 91.0, 0.873),
            ("onnx", 24.0, 0.874),
        ],
        "a chain of three": [("a", 1.0, 0.5), ("b", 2.0, 0.6), ("c", 3.0, 0.7), ("d", 3.0, 0.6)],
    }
    for on, rows in cases.items():
        got = call(answer, list(rows))
        if list(got) != _pareto(rows):
            raise AssertionError(f"on {on}: expected {_pareto(rows)}, got {list(got)}")
