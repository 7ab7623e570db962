"""Exercises of notebook 00 (setup); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

from llmkit.course.exercises import call, expect_close, register


def _matmul_flops(m: int, k: int, n: int) -> int:
    return 2 * m * k * n


@register(
    "00.matmul_flops",
    prompt="Write matmul_flops(m, k, n): floating-point operations of an (m x k) by (k x n) matmul.",
    reference=_matmul_flops,
    wrong=lambda m, k, n: m * k * n,
    hint="each of the m*n outputs is a dot product of length k: k multiplies and k adds.",
)
def _check_matmul_flops(answer: Any) -> None:
    for shape in ((2, 3, 4), (1024, 1024, 1024), (32, 384, 1536)):
        expect_close(call(answer, *shape), _matmul_flops(*shape), on=f"(m, k, n) = {shape}", rtol=1e-9)


def _fraction_of_peak(tokens_per_second: float, flops_per_token: float, peak_gflops: float) -> float:
    return tokens_per_second * flops_per_token / (peak_gflops * 1e9)


@register(
    "00.fraction_of_peak",
    prompt="Write fraction_of_peak(tokens_per_second, flops_per_token, peak_gflops).",
    reference=_fraction_of_peak,
    wrong=lambda t, f, p: t * f / p,
    hint="achieved FLOP/s = tokens/s x FLOPs per token; the peak is in GFLOP/s, i.e. 1e9 FLOP/s.",
)
def _check_fraction_of_peak(answer: Any) -> None:
    for args in ((1000.0, 6e7, 180.0), (52.5, 2e9, 90.0), (1.0, 1e9, 1.0)):
        expect_close(call(answer, *args), _fraction_of_peak(*args), on=f"{args}")


def _ci_parameters(seed: int) -> dict[str, Any]:
    return {"profile": "smoke", "seed": seed}


@register(
    "00.ci_parameters",
    prompt="Write ci_parameters(seed): the papermill parameters (a dict) that rerun a notebook at the CI profile.",
    reference=_ci_parameters,
    wrong=lambda seed: {"profile": "lesson", "seed": seed},
    hint="CI uses the profile whose budget is 60 s per notebook; the names are those of the parameters cell.",
)
def _check_ci_parameters(answer: Any) -> None:
    for seed in (3, 11):
        got = call(answer, seed)
        if not isinstance(got, dict):
            raise AssertionError(f"expected a dict like {{'name': value}}, got {type(got).__name__}")
        if got != _ci_parameters(seed):
            raise AssertionError(f"for seed {seed}: expected {_ci_parameters(seed)}, got {got}")


def _peak_gflops(timings: dict[int, list[float]]) -> tuple[int, float]:
    best = {n: 2 * n**3 / min(seconds) / 1e9 for n, seconds in timings.items()}
    n = max(best, key=best.get)
    return n, best[n]


@register(
    "00.peak_gflops",
    prompt="Write peak_gflops(timings): for {n: [seconds of one n×n·n×n matmul, per repeat]}, return "
    "(n, GFLOP/s) of the fastest size, each size timed by its best repeat.",
    reference=_peak_gflops,
    wrong=lambda timings: max(
        ((n, 2 * n**3 / (sum(s) / len(s)) / 1e9) for n, s in timings.items()), key=lambda pair: pair[1]
    ),
    hint="a repeat is only ever slowed down by something else on the machine: the best (smallest) time is the "
    "estimate of the machine's speed; an n×n·n×n matmul costs 2n³ FLOPs.",
)
def _check_peak_gflops(answer: Any) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    for case in range(5):
        sizes = [int(n) for n in rng.choice([128, 256, 512, 1024, 2048], size=3, replace=False)]
        timings = {
            n: list(2 * n**3 / (rng.uniform(20, 200) * 1e9) * rng.uniform(1, 3, size=4)) for n in sizes
        }
        got = call(answer, timings)
        want = _peak_gflops(timings)
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise AssertionError(f"expected a pair (n, gflops), got {got!r}")
        if int(got[0]) != want[0]:
            raise AssertionError(f"case {case}: the fastest size is n = {want[0]}, you said {got[0]}")
        expect_close(got[1], want[1], on=f"case {case}, n = {want[0]}")
