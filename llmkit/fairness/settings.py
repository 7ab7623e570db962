"""Notebook 10's sizes at each profile: ``FairnessSettings.for_profile(profile, notes=..., ...)``."""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.core.settings import ProfileSettings, per_profile


@dataclass(frozen=True)
class FairnessSettings(ProfileSettings):
    """The planted-bias notes, the bootstrap, the mitigation sweep and the MiniLM explained (notebook 10)."""

    notes: int = per_profile(
        4000, 10000, 20000
    )  # generated notes (60% train, 20% test) of the planted-bias study
    bootstrap_resamples: int = per_profile(200, 1000, 2000)  # resamples of every disparity interval
    eg_eps: tuple[float, ...] = per_profile((0.01,), (0.005, 0.01, 0.05), (0.002, 0.005, 0.01, 0.02, 0.05))
    minilm_train: int = per_profile(64, 320, 1500)  # labeled notes the explained MiniLM is fine-tuned on
    minilm_epochs: int = per_profile(1, 2, 2)
    explained_notes: int = per_profile(3, 12, 100)  # test notes of the deletion test (IG on each)
    ig_steps: int = per_profile(8, 16, 64)  # Riemann steps of Integrated Gradients
    deletion_k: int = per_profile(5, 5, 5)  # tokens removed by the deletion test
    random_draws: int = per_profile(3, 8, 20)  # random removals the top-k removal is compared with
