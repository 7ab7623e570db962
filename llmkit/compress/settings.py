"""Notebook 06's sizes at each profile: ``CompressSettings.for_profile(profile, test_size=..., ...)``.

The teacher and the student are notebook 05's (:class:`llmkit.distill.settings.DistillRecipe`): 06 compresses
the same cached models.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.core.settings import per_profile
from llmkit.distill.settings import DistillRecipe


@dataclass(frozen=True)
class CompressSettings(DistillRecipe):
    """Notebook 05's teacher and student, the test notes and the timing of every variant (notebook 06)."""

    test_size: int = per_profile(
        32, 1000, 1000
    )  # test notes every variant is scored on (all 1,000 at lesson)
    timing_rounds: int = per_profile(1, 3, 7)  # alternating timed blocks
    timing_repeats: int = per_profile(2, 5, 10)  # calls per variant, batch size and round
