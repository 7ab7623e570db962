"""Notebook 03's sizes at each profile: ``FinetuneSettings.for_profile(profile, seed_train_size=..., ...)``."""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.core.settings import ProfileSettings, per_profile


@dataclass(frozen=True)
class FinetuneSettings(ProfileSettings):
    """The seed's fixed code, llmkit's loop on reviews and conditions, and the padding timing (notebook 03)."""

    fixed_length: int = per_profile(64, 128, 128)  # tokens a usual TokenDataset pads (and truncates) to
    seed_train_size: int = per_profile(8, 64, 3000)  # diabetes notes the seed's fixed code trains on
    seed_validation_size: int = per_profile(8, 64, 1000)  # its per-epoch validation notes
    seed_test_size: int = per_profile(16, 300, 1000)  # the notes it is scored on
    max_length: int = per_profile(64, 128, 128)  # tokens kept per text in llmkit's loop
    learning_rate: float = per_profile(2e-4, 2e-4, 1e-4)  # peak AdamW step of llmkit's loop
    sentiment_train_size: int = per_profile(32, 546, 546)  # reviews fine-tuned on (all 546 at lesson)
    sentiment_epochs: int = per_profile(1, 2, 5)
    condition_epochs: int = per_profile(1, 2, 5, falsy_default=False)  # 0 skips: TF-IDF only
    timing_batch_size: int = per_profile(2, 16, 32)  # batch size of the padding comparison
    timing_batches: int = per_profile(1, 2, 4)  # batches per recipe and round
    timing_rounds: int = per_profile(1, 2, 5)  # alternating timed blocks
