"""llmkit.core.timing: the median of repeated calls and the alternating-rounds timer, on fake callables."""

from __future__ import annotations

import time

import pytest

from llmkit.core import timing
from llmkit.core.errors import LlmkitError


class FakeClock:
    """A perf_counter that advances only when a fake candidate says how long its call took."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def call(self, log: list[str], name: str, seconds: float):
        """A candidate that notes its name and takes ``seconds`` on this clock."""

        def fn() -> None:
            log.append(name)
            self.now += seconds

        return fn


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(timing, "perf_counter", fake)
    return fake


def test_median_ms_warms_up_then_takes_the_median(clock):
    durations = iter([9.0, 0.001, 0.005, 0.003])  # the warm-up's 9 s is not timed
    calls = []

    def fn() -> None:
        calls.append(1)
        clock.now += next(durations)

    assert timing.median_ms(fn, repeats=3, warmup=1) == pytest.approx(3.0)
    assert len(calls) == 4


def test_alternate_flips_the_order_every_round_after_the_warm_up(clock):
    log: list[str] = []
    candidates = {"a": clock.call(log, "a", 0.001), "b": clock.call(log, "b", 0.002)}
    rounds = []
    timed = timing.alternate(candidates, rounds=3, warmup=1, repeats=2, before_round=rounds.append)
    assert log[:2] == ["a", "b"]  # the warm-up, in the given order
    assert log[2:] == ["a", "a", "b", "b"] + ["b", "b", "a", "a"] + ["a", "a", "b", "b"]
    assert rounds == [0, 1, 2]
    assert list(timed.ms) == ["a", "b"] and all(len(t) == 3 for t in timed.ms.values())


def test_alternate_reports_medians_per_candidate_and_paired_speedups(clock):
    log: list[str] = []
    per_round = {"fast": iter([0.001, 0.004, 0.002]), "slow": iter([0.003, 0.008, 0.010])}

    def candidate(name: str):
        def fn() -> None:
            log.append(name)
            clock.now += next(per_round[name])

        return fn

    timed = timing.alternate({"fast": candidate("fast"), "slow": candidate("slow")}, rounds=3, warmup=0)
    assert log == ["fast", "slow", "slow", "fast", "fast", "slow"]
    assert timed.ms == {"fast": pytest.approx([1.0, 4.0, 2.0]), "slow": pytest.approx([3.0, 8.0, 10.0])}
    assert timed.median("fast") == pytest.approx(2.0) and timed.median("slow") == pytest.approx(8.0)
    assert timed.medians() == pytest.approx({"fast": 2.0, "slow": 8.0})
    assert timed.speedup("fast", "slow") == pytest.approx(3.0)  # ratios 3, 2, 5 round by round


def test_alternate_takes_any_hashable_key_and_really_times():
    timed = timing.alternate({("sleep", 20): lambda: time.sleep(0.02), ("noop", 0): lambda: None}, rounds=2)
    assert timed.median(("sleep", 20)) >= 20.0 > timed.median(("noop", 0))


def test_alternate_refuses_bad_arguments():
    with pytest.raises(LlmkitError, match="expected candidates"):
        timing.alternate({}, rounds=1)
    with pytest.raises(LlmkitError, match="rounds >= 1"):
        timing.alternate({"a": lambda: None}, rounds=0)
    with pytest.raises(LlmkitError, match="repeats >= 1"):
        timing.alternate({"a": lambda: None}, rounds=1, repeats=0)
