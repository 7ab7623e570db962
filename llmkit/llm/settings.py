"""Notebook 09's sizes at each profile: ``LlmSettings.for_profile(profile, speed_new_tokens=..., ...)``."""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.core.settings import ProfileSettings, per_profile


@dataclass(frozen=True)
class LlmSettings(ProfileSettings):
    """SmolLM2 inside, generating, timed, prompted and costed (notebook 09)."""

    layer_tokens: int = per_profile(16, 32, 64)  # prompt tokens the by-hand layer is checked on
    generate_tokens: int = per_profile(4, 24, 48)  # new tokens per decoding rule
    speed_new_tokens: int = per_profile(
        8, 64, 64
    )  # decoded tokens per timed call (the course target is at 64)
    speed_rounds: int = per_profile(1, 1, 3)  # alternating timed rounds of every decoding variant
    prefill_tokens: int = per_profile(64, 256, 512)  # prompt length of the prefill timing
    prompt_rows: int = per_profile(4, 80, 300)  # stratified test notes every method is scored on
    shots_per_label: int = per_profile(1, 2, 4)  # few-shot examples of each label
    finetune_labels: tuple[int, ...] = per_profile(
        (), (), (16, 64, 3000), falsy_default=False
    )  # MiniLM fine-tuned on these many labels (69 s for 64 at lesson: left to full, for section 6's time)
    probe_labels: tuple[int, ...] = per_profile(
        (16,), (16, 64), (16, 64, 3000), falsy_default=False
    )  # a linear probe on frozen MiniLM embeddings of these many labels
    min_steps: int = per_profile(4, 40, 60)  # = TransferSettings.min_steps: notebook 04's rule for few labels
    min_epochs: int = per_profile(1, 2, 3)  # = TransferSettings.min_epochs
    # section 4: bits per byte on a held-out slice of Hamlet (notebook 02's validation play)
    bpb_bytes: int = per_profile(600, 4000, 16000)  # UTF-8 bytes of the slice every coder codes
    context_bytes: int = per_profile(
        50_000, 1_000_000, 4_000_000
    )  # bytes of the other plays the unigram is fitted on and the compressors read first
    # section 6: instruction tuning with LoRA
    sft_train_per_task: int = per_profile(1, 20, 100)  # training instructions of each of the three tasks
    sft_held_out_per_task: int = per_profile(1, 12, 50)  # held-out instructions per task, scored twice
    sft_max_words: int = per_profile(16, 40, 60)  # a note or review is cut to this many words
    sft_epochs: int = per_profile(1, 1, 2)
    sft_batch_size: int = per_profile(3, 6, 8)
    lora_rank: int = per_profile(4, 8, 8)  # r of each adapter (alpha = 2 r)
    sft_new_tokens: int = per_profile(3, 6, 6)  # greedy tokens of each scored answer
