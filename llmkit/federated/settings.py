"""Notebook 07's sizes at each profile: ``FederatedSettings.for_profile(profile, n_train=..., ...)``."""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.core.settings import ProfileSettings, per_profile


@dataclass(frozen=True)
class FederatedSettings(ProfileSettings):
    """The hospitals' notes, the federated rounds and whether `flwr run` runs too (notebook 07)."""

    n_train: int | None = per_profile(200, None, None)  # notes shared out; None: the whole train split
    n_test: int | None = per_profile(100, None, None)  # shared test notes; None: the whole test split
    rounds: int = per_profile(5, 20, 20)  # federated rounds
    run_flwr: bool = per_profile(False, True, True, falsy_default=False)  # False is a value: skip `flwr run`
