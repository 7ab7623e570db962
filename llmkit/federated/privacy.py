"""Differential-privacy accounting for federated rounds (notebook 07): how much each hospital's data can leak.

Flower's client-side DP (``DifferentialPrivacyClientSideFixedClipping`` with ``fixedclipping_mod``)
clips every hospital's model update to L2 norm ``C`` on the client and adds Gaussian noise of standard
deviation ``z C / n`` to the mean of the ``n`` updates on the server. One round is then the Gaussian
mechanism on the mean (sensitivity ``C / n`` when one hospital is added or removed) with noise multiplier
``z``: the privacy unit is a **whole hospital**, not a patient.

Flower composes the rounds through an *accountant* it is given; its own (``RdpAccountant``) wraps Google's
``dp-accounting``, which is not installed here. :class:`GaussianAccountant` implements the same
``PrivacyAccountant`` protocol with **Gaussian differential privacy** (Dong, Roth & Su 2019): ``T`` rounds
with multipliers ``z_t`` and every hospital in every round (no sampling, so no amplification) are exactly
``mu``-GDP with ``mu = sqrt(sum 1 / z_t^2)``, and ``mu``-GDP is exactly
``(eps, delta(eps))``-DP for every ``eps`` with ``delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2)``
(Balle & Wang 2018, Theorem 8). No bound is loosened: the epsilon reported is the smallest that holds for
this mechanism. :func:`rdp_epsilon` gives the usual Renyi-DP upper bound (Mironov 2017) as a check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llmkit.core.errors import LlmkitError


def gdp_delta(epsilon: float, mu: float) -> float:
    """The smallest delta for which ``mu``-GDP is ``(epsilon, delta)``-DP."""
    from scipy.special import log_ndtr, ndtr

    if mu <= 0:
        return 0.0
    first = ndtr(-epsilon / mu + mu / 2)
    second = math.exp(epsilon + log_ndtr(-epsilon / mu - mu / 2))  # e^eps Phi(.), kept finite in logs
    return float(max(0.0, first - second))


def gdp_epsilon(delta: float, mu: float) -> float:
    """The smallest epsilon for which ``mu``-GDP is ``(epsilon, delta)``-DP (bisection on :func:`gdp_delta`)."""
    if not 0 < delta < 1:
        raise LlmkitError(f"delta: expected a probability in (0, 1), got {delta}")
    if mu <= 0:
        return 0.0
    if math.isinf(mu):
        return math.inf
    lo, hi = 0.0, 1.0
    while gdp_delta(hi, mu) > delta:
        hi *= 2
        if hi > 1e6:
            return math.inf
    if gdp_delta(0.0, mu) <= delta:
        return 0.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if gdp_delta(mid, mu) > delta else (lo, mid)
    return hi


def gdp_mu(noise_multipliers: list[float] | tuple[float, ...]) -> float:
    """``mu`` of the composition of Gaussian mechanisms with these noise multipliers (0 -> no privacy)."""
    if any(z <= 0 for z in noise_multipliers):
        return math.inf
    return math.sqrt(sum(1.0 / z**2 for z in noise_multipliers))


def rdp_epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """The Renyi-DP upper bound on epsilon for ``rounds`` Gaussian releases (orders 1.01 ... 256).

    RDP of one release at order ``a`` is ``a / (2 z^2)`` and adds up over rounds; converted with
    ``eps = rdp + log((a - 1) / a) - (log delta + log a) / (a - 1)`` (Balle et al. 2020, Theorem 21).
    """
    if noise_multiplier <= 0:
        return math.inf
    orders = [1 + x / 100 for x in range(1, 100)] + [2 + x / 4 for x in range(0, 1017)]
    best = math.inf
    for a in orders:
        rdp = rounds * a / (2 * noise_multiplier**2)
        best = min(best, rdp + math.log((a - 1) / a) - (math.log(delta) + math.log(a)) / (a - 1))
    return max(0.0, best)


@dataclass
class GaussianAccountant:
    """Flower's ``PrivacyAccountant`` protocol, accounted exactly with Gaussian DP (no sampling).

    Pass it as ``accountant=`` to Flower's fixed-clipping DP strategy wrappers; they compose one event per
    round in which noise was added, check that every hospital's weight is equal (the sensitivity above
    assumes a plain mean) and log the epsilon spent.
    """

    target_delta: float
    population_size: int  # the hospitals
    max_epsilon: float | None = None
    multipliers: list[float] = field(default_factory=list)  # one per release

    def __post_init__(self) -> None:
        from flwr.supercore.privacy_accounting import NeighboringRelation, PrivacyConfig, SamplingMethod

        self._config = PrivacyConfig(
            target_delta=self.target_delta,
            population_size=self.population_size,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
            max_epsilon=self.max_epsilon,
        )

    @property
    def config(self) -> Any:
        return self._config

    @property
    def num_releases(self) -> int:
        return len(self.multipliers)

    @property
    def mu(self) -> float:
        return gdp_mu(self.multipliers) if self.multipliers else 0.0

    def compose(self, event: Any, count: int = 1) -> None:
        if event.population_size != self.population_size:
            raise LlmkitError(
                f"event.population_size: expected {self.population_size}, got {event.population_size}"
            )
        self.multipliers += [float(event.noise_multiplier)] * int(count)

    def get_epsilon(self, delta: float) -> float:
        return gdp_epsilon(delta, self.mu)

    def get_delta(self, epsilon: float) -> float:
        return gdp_delta(epsilon, self.mu)

    def get_privacy_spent(self, delta: float | None = None) -> Any:
        from flwr.supercore.privacy_accounting import PrivacySpent

        delta = self.target_delta if delta is None else delta
        return PrivacySpent(self.get_epsilon(delta), delta, self.num_releases, "gdp")

    def would_exceed(self, event: Any, max_epsilon: float | None = None, count: int = 1) -> bool:
        limit = max_epsilon if max_epsilon is not None else self.max_epsilon
        if limit is None:
            raise LlmkitError("max_epsilon: give it here or to GaussianAccountant")
        mu = gdp_mu(self.multipliers + [float(event.noise_multiplier)] * int(count))
        return gdp_epsilon(self.target_delta, mu) > limit

    def state_dict(self) -> dict[str, object]:
        return {"method": "gdp", "multipliers": list(self.multipliers)}

    def load_state_dict(self, state: dict[str, object]) -> None:
        if state.get("method") != "gdp":
            raise LlmkitError(
                f"state: expected a GaussianAccountant state, got method {state.get('method')!r}"
            )
        self.multipliers = [float(z) for z in state["multipliers"]]  # type: ignore[union-attr]


def plot_privacy_utility(
    epsilons: Sequence[float], accuracies: Sequence[float], no_dp: float, ax: Any = None
) -> Any:
    """Accuracy against epsilon (log scale) for the DP runs, and the same federation without DP."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    finite = [(e, a) for e, a in zip(epsilons, accuracies, strict=True) if math.isfinite(e)]
    ax.plot([e for e, _ in finite], [a for _, a in finite], marker="o", label="FedAvg + client-side DP")
    for e, a in finite:
        ax.annotate(f"ε={e:.1f}", (e, a), textcoords="offset points", xytext=(4, -12), fontsize=8)
    ax.axhline(no_dp, linestyle="--", color="C1", label="same federation, clipped, no noise")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"$\varepsilon$ (hospital-level, δ fixed; log scale)")
    ax.set_ylabel("test accuracy after the last round")
    ax.set_title("Privacy against utility")
    ax.legend(fontsize=8)
    return ax
