"""Exercises of notebook 07 (federated learning); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _fedavg(updates: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    weights = np.asarray(sizes, dtype=np.float64) / np.sum(sizes)
    return sum(w * np.asarray(u, dtype=np.float64) for w, u in zip(weights, updates, strict=True))


@register(
    "07.fedavg",
    prompt="Write fedavg(weights, sizes): the server's step, the average of the hospitals' weights by data size.",
    reference=_fedavg,
    wrong=lambda weights, sizes: np.mean(np.asarray(weights, dtype=np.float64), axis=0),
    hint="FedAvg weighs hospital k by n_k / sum(n): a hospital with twice the records counts twice;"
    " the plain mean gives a 20-record clinic the vote of a 2,000-record hospital.",
)
def _check_fedavg(answer: Any) -> None:
    rng = np.random.default_rng(7)
    cases = {
        "two hospitals, 1 and 3 records": ([np.array([0.0, 4.0]), np.array([4.0, 0.0])], [1, 3]),
        "five hospitals of a [3, 2] weight": (
            [rng.normal(size=(3, 2)) for _ in range(5)],
            [206, 72, 461, 74, 2187],
        ),
    }
    for case in range(6):  # generated: random federations, weight shapes and hospital sizes
        k = int(rng.integers(2, 9))
        shape = tuple(int(d) for d in rng.integers(1, 6, size=int(rng.integers(1, 3))))
        sizes = [int(s) for s in rng.integers(1, 3000, size=k)]
        cases[f"generated case {case + 1}: {k} hospitals, weights of shape {shape}, sizes {sizes}"] = (
            [rng.normal(size=shape) for _ in range(k)],
            sizes,
        )
    for on, (weights, sizes) in cases.items():
        expect_close(call(answer, [w.copy() for w in weights], list(sizes)), _fedavg(weights, sizes), on=on)


def _round_bytes(n_weights: int, n_hospitals: int, bytes_per_weight: int = 4) -> int:
    return 2 * n_hospitals * n_weights * bytes_per_weight


@register(
    "07.round_bytes",
    prompt="Write round_bytes(n_weights, n_hospitals, bytes_per_weight=4): the bytes one round moves, both ways.",
    reference=_round_bytes,
    wrong=lambda n_weights, n_hospitals, bytes_per_weight=4: n_hospitals * n_weights * bytes_per_weight,
    hint="every hospital downloads the global weights and uploads its own: 2 x hospitals x weights x bytes each"
    " (ignore the few bytes of metrics).",
)
def _check_round_bytes(answer: Any) -> None:
    for args in ((24_770, 5, 4), (770, 5, 4), (22_700_000, 5, 4), (100, 3, 2)):
        expect_close(call(answer, *args), _round_bytes(*args), on=f"(n_weights, n_hospitals, bytes) = {args}")


def _gdp_mu(noise_multiplier: float, rounds: int) -> float:
    return math.sqrt(rounds) / noise_multiplier


@register(
    "07.gdp_mu",
    prompt="Write gdp_mu(noise_multiplier, rounds): the mu of `rounds` Gaussian releases with multiplier z each.",
    reference=_gdp_mu,
    wrong=lambda noise_multiplier, rounds: rounds / noise_multiplier,
    hint="one release is (1/z)-GDP and GDP composes in squares: mu = sqrt(sum 1/z^2) = sqrt(rounds) / z, so"
    " four times the rounds cost only twice the mu.",
)
def _check_gdp_mu(answer: Any) -> None:
    for args in ((1.0, 20), (0.5, 20), (3.0, 1), (2.0, 100)):
        expect_close(call(answer, *args), _gdp_mu(*args), on=f"(noise_multiplier, rounds) = {args}")
