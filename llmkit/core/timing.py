"""Wall-clock timing: the median of repeated calls, and candidates timed in alternating rounds.

On a shared machine speed drifts while a measurement runs (another process takes a core, the CPU
clocks down). Timing candidate A fully and then candidate B hands all of a slow spell to one of them;
:func:`alternate` runs them in rounds instead, round ``r`` in the given order and round ``r + 1`` in the
reverse order (A B, B A, A B, ...), so drift hits every candidate alike, and compares them round by round
(:meth:`Rounds.speedup`) before taking medians.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Generic, TypeVar

from llmkit.core.errors import LlmkitError

K = TypeVar("K", bound=Hashable)


def median_ms(fn: Callable[[], object], repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = perf_counter()
        fn()
        times.append((perf_counter() - start) * 1e3)
    return statistics.median(times)


@dataclass
class Rounds(Generic[K]):
    """Per candidate, one milliseconds-per-call value for each round, in round order."""

    ms: dict[K, list[float]]  # candidate -> per round, the median ms of that round's calls

    def median(self, key: K) -> float:
        """Median over rounds of ``key``'s milliseconds per call."""
        return statistics.median(self.ms[key])

    def medians(self) -> dict[K, float]:
        """:meth:`median` of every candidate, in the candidates' order."""
        return {k: statistics.median(t) for k, t in self.ms.items()}

    def speedup(self, fast: K, slow: K) -> float:
        """Median over rounds of slow/fast time, each round's pair timed within the same round."""
        pairs = zip(self.ms[slow], self.ms[fast], strict=True)
        return statistics.median(s / f for s, f in pairs)


def alternate(
    candidates: Mapping[K, Callable[[], object]],  # timed in this order in even rounds, reversed in odd
    rounds: int,
    warmup: int = 1,  # untimed calls per candidate before the first round, in the candidates' order
    repeats: int = 1,  # timed calls per candidate and round; the round's value is their median
    before_round: Callable[[int], object] | None = None,  # called with the round index, untimed
    progress: bool = False,
) -> Rounds[K]:
    """Time every candidate in ``rounds`` alternating rounds: milliseconds per call, one value per round.

    In round ``r`` each candidate in turn runs ``repeats`` back-to-back calls (:func:`median_ms` with no
    warm-up); the order flips every round. ``before_round(r)`` runs first in each round, e.g. a fresh
    measurement of the machine's peak to set that round's times against.
    """
    items = list(candidates.items())
    if rounds < 1 or repeats < 1 or warmup < 0 or not items:
        raise LlmkitError(
            "alternate: expected candidates, rounds >= 1, repeats >= 1, warmup >= 0; "
            f"got {len(items)} candidates, {rounds}, {repeats}, {warmup}"
        )
    from tqdm.auto import tqdm

    for _, fn in items:
        for _ in range(warmup):
            fn()
    ms: dict[K, list[float]] = {k: [] for k, _ in items}
    for r in tqdm(range(rounds), desc="timing", disable=not progress, leave=False):
        if before_round is not None:
            before_round(r)
        for key, fn in items if r % 2 == 0 else items[::-1]:
            ms[key].append(median_ms(fn, repeats, warmup=0))
    return Rounds(ms)
