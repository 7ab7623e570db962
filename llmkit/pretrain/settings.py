"""Notebook 02's sizes at each profile: ``PretrainSettings.for_profile(profile, vocab_size=..., ...)``."""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.core.settings import ProfileSettings, per_profile


@dataclass(frozen=True)
class PretrainSettings(ProfileSettings):
    """The tokenizers, the masked and causal LMs and the scaling study (notebook 02)."""

    vocab_size: int = per_profile(1000, 2048, 2048)  # WordPiece vocabulary trained on Shakespeare
    n_notes: int = per_profile(1000, 5000, 20000)  # unlabeled notes the domain tokenizer trains on
    block_len: int = per_profile(64, 128, 128)  # tokens per training sequence
    batch_size: int = per_profile(16, 32, 32)  # sequences per optimizer step
    hidden: int = per_profile(64, 128, 128)  # width of the BERT and GPT models
    mlm_steps: int = per_profile(12, 240, 1000)  # optimizer steps of the masked LM
    clm_steps: int = per_profile(12, 120, 400)  # of the causal LM and of each model of the scaling study
    scaling_hidden: list[int] = per_profile([16, 32], [32, 64], [32, 64, 256])  # widths of the scaling study
    max_val_blocks: int = per_profile(16, 128, 256)  # validation blocks each perplexity is measured on

    @property
    def scaling_widths(self) -> list[int]:
        """The scaling study's widths, sorted, with ``hidden``: the causal LM is its point at that width."""
        return sorted(set(self.scaling_hidden) | {self.hidden})
