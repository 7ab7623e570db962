"""Exercises of notebook 08 (deployment); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _percentile(latencies_ms: list[float], q: float) -> float:
    values = sorted(latencies_ms)
    return float(values[math.ceil(q / 100 * len(values)) - 1])


@register(
    "08.percentile",
    prompt="Write percentile(latencies_ms, q): the nearest-rank q-th percentile (an observed latency).",
    reference=_percentile,
    wrong=lambda latencies_ms, q: float(np.percentile(latencies_ms, q)),
    hint="sort the latencies; the answer is the value at rank ceil(q/100 * n), counting ranks from 1. "
    "np.percentile interpolates between two observations, which no request ever took.",
)
def _check_percentile(answer: Any) -> None:
    cases = {
        "five requests, p50": ([12.0, 9.0, 30.0, 10.0, 11.0], 50),
        "five requests, p99 (one slow outlier)": ([12.0, 9.0, 300.0, 10.0, 11.0], 99),
        "a hundred requests, p95": ([float(x) for x in range(100, 0, -1)], 95),
        "one request": ([7.5], 99),
    }
    rng = np.random.default_rng(8)
    while len(cases) < 12:  # generated: random latency samples (log-normal, like real ones) and percentiles
        n, q = int(rng.integers(1, 300)), int(rng.choice([50, 75, 90, 95, 99]))
        if math.ceil(q / 100 * n) != math.ceil(q * n / 100):  # a float tie either way of writing it: skip
            continue
        lat = [round(float(x), 3) for x in rng.lognormal(mean=2.3, sigma=0.6, size=n)]
        cases[f"generated case: {n} requests, p{q}"] = (lat, q)
    for on, (lat, q) in cases.items():
        expect_close(call(answer, list(lat), q), _percentile(lat, q), on=on)


def _throughput(clients: int, latency_ms: float) -> float:
    return clients / (latency_ms / 1000)


@register(
    "08.little",
    prompt="Write throughput(clients, latency_ms): requests/s of a closed loop where each client waits for "
    "its answer (Little's law).",
    reference=_throughput,
    wrong=lambda clients, latency_ms: clients * latency_ms / 1000,
    hint="Little's law: clients in the system = throughput x time each spends there, so throughput = "
    "clients / latency, with the latency in seconds.",
)
def _check_throughput(answer: Any) -> None:
    for clients, latency in ((1, 10.0), (32, 250.0), (8, 64.0)):
        expect_close(
            call(answer, clients, latency), _throughput(clients, latency), on=f"({clients}, {latency})"
        )


def _batches(arrivals_ms: list[float], max_batch_size: int, max_wait_ms: float) -> list[int]:
    sizes, i = [], 0
    while i < len(arrivals_ms):
        j = i + 1
        while (
            j < len(arrivals_ms) and j - i < max_batch_size and arrivals_ms[j] <= arrivals_ms[i] + max_wait_ms
        ):
            j += 1
        sizes.append(j - i)
        i = j
    return sizes


@register(
    "08.batches",
    prompt="Write batches(arrivals_ms, max_batch_size, max_wait_ms): the sizes of the micro-batches a batcher "
    "forms from requests arriving at those (sorted) times.",
    reference=_batches,
    wrong=lambda arrivals_ms, max_batch_size, max_wait_ms: [
        min(max_batch_size, len(arrivals_ms) - i) for i in range(0, len(arrivals_ms), max_batch_size)
    ],
    hint="a batch opens at the first waiting request and closes when it holds max_batch_size requests or "
    "when the next request arrives more than max_wait_ms after the one that opened it.",
)
def _check_batches(answer: Any) -> None:
    cases = {
        "a burst, then quiet": ([0.0, 1.0, 2.0, 3.0, 50.0], 4, 5.0),
        "a slow trickle": ([0.0, 10.0, 20.0, 30.0], 8, 5.0),
        "steady and full": ([float(t) for t in range(10)], 3, 100.0),
        "waiting off": ([0.0, 0.0, 1.0], 8, 0.0),
    }
    for on, (arrivals, size, wait) in cases.items():
        got = call(answer, list(arrivals), size, wait)
        if list(got) != _batches(arrivals, size, wait):
            raise AssertionError(f"on {on}: expected {_batches(arrivals, size, wait)}, got {list(got)}")


def _oov_rate(vocabulary: set[str], texts: list[str]) -> float:
    words = [w for t in texts for w in re.findall(r"[a-z]+", t.lower())]
    return sum(w not in vocabulary for w in words) / len(words)


@register(
    "08.oov_rate",
    prompt="Write oov_rate(vocabulary, texts): the share of the texts' words (runs of letters, lowercased) "
    "that are not in the vocabulary.",
    reference=_oov_rate,
    wrong=lambda vocabulary, texts: float(
        np.mean([len({w for w in re.findall(r"[a-z]+", t.lower())} - vocabulary) > 0 for t in texts])
    ),
    hint="count words, not texts: split each text with re.findall(r'[a-z]+', text.lower()), then divide "
    "the words outside the vocabulary by all words.",
)
def _check_oov_rate(answer: Any) -> None:
    vocabulary = {"patient", "reports", "glucose", "high", "on", "metformin"}
    cases = {
        "all known": ["Patient reports glucose high.", "On metformin."],
        "one new word in six": ["Patient reports glucose high, on insulin."],
        "a drug review": ["This medicine worked wonders for my migraines", "glucose high"],
    }
    for on, texts in cases.items():
        expect_close(call(answer, set(vocabulary), list(texts)), _oov_rate(vocabulary, texts), on=on)
