"""Notebook 04's sizes at each profile: ``TransferSettings.for_profile(profile, pool_size=..., ...)``.

The label-count curves follow the labeled pool: ``[16, pool_size]`` at smoke, every size up to it at full.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llmkit.core.settings import ProfileSettings, per_profile


def every_size(values: Mapping[str, Any]) -> list[int]:
    """16, 32, 64, 128, 256 and the pool, without the sizes the pool does not exceed (all 7 for 3,000)."""
    pool = values["pool_size"]
    if pool == 3000:
        return [16, 32, 64, 128, 256, 300, 3000]
    return sorted({16, 32, 64, 128, 256, pool} - {n for n in (128, 256) if n >= pool})


def with_pool(*sizes: int) -> Callable[[Mapping[str, Any]], list[int]]:
    """A default of ``sizes`` and then the labeled pool's size."""
    return lambda values: [*sizes, values["pool_size"]]


@dataclass(frozen=True)
class TransferSettings(ProfileSettings):
    """The label-count curves, domain adaptation and the review curves (notebook 04)."""

    pool_size: int = per_profile(48, 640, 3000)  # labeled training notes available ("all labels")
    test_size: int = per_profile(32, 300, 1000)  # test notes scored (half in unseen paraphrases)
    probe_sizes: list[int] = per_profile(with_pool(16), every_size, every_size)  # linear probe
    finetune_sizes: list[int] = per_profile(with_pool(16), with_pool(64), every_size)  # full fine-tuning
    random_sizes: list[int] = per_profile([16], [64], every_size)  # random initialization
    lora_sizes: list[int] = per_profile(with_pool(), with_pool(), every_size)  # LoRA
    dapt_sizes: list[int] = per_profile(
        [16], [64], [32, 64, 128]
    )  # fine-tuned from the domain-adapted MiniLM
    dapt_steps: int = per_profile(2, 30, 300)  # = adapt.DaptConfig.for_profile: the case study shares them
    dapt_head_steps: int = per_profile(1, 10, 100)
    dapt_notes: int = per_profile(300, 4000, 20000)  # unlabeled notes domain adaptation reads
    review_sizes: list[int] = per_profile([16, 32], [16, 32, 64, 128, 256, 546], [16, 32, 64, 128, 256, 546])
    review_finetune_sizes: list[int] = per_profile(
        [], [], [64, 128, 256, 546]
    )  # fine-tuning, random init, LoRA
    min_steps: int = per_profile(4, 40, 60)  # a small subset gets more epochs until it takes this many steps
    min_epochs: int = per_profile(1, 2, 3)  # epochs of every curve point at least
    max_length: int = per_profile(64, 128, 128)  # tokens kept per text
