"""Domain-adaptive pretraining (DAPT): MiniLM's masked-LM training continued on unlabeled clinical notes
(notebook 04)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmkit.core.errors import LlmkitError

# ------------------------------------------------------------------------ domain-adaptive pretraining


@dataclass(frozen=True)
class DaptConfig:
    """Continued masked-LM training of a pretrained encoder on unlabeled in-domain text."""

    steps: int = 60  # optimizer steps of the whole model
    batch_size: int = 16  # blocks per step
    block_len: int = 128  # tokens per block (notes are joined with [SEP] and cut)
    learning_rate: float = 1e-4  # peak; cosine decay
    head_steps: int = 30  # first, steps that train only the new masked-LM head (the encoder frozen)
    head_learning_rate: float = 1e-3
    seed: int = 0
    bf16: bool = False  # autocast to bfloat16 (only where llmkit.core.hardware.bf16_supported())

    @classmethod
    def for_profile(cls, profile: str | None, **overrides: Any) -> DaptConfig:
        """Notebook 04's steps at ``profile`` (the case study asks for the same, so it finds 04's cached
        encoder): ``dapt_head_steps`` + ``dapt_steps`` of :class:`llmkit.transfer.settings.TransferSettings`
        (1 + 2 at smoke, 10 + 30 at lesson, 100 + 300 at full); an override of None is left out."""
        from llmkit.transfer.settings import TransferSettings

        sizes = TransferSettings.for_profile(profile)
        steps = {"steps": sizes.dapt_steps, "head_steps": sizes.dapt_head_steps}
        return cls(**{**steps, **{k: v for k, v in overrides.items() if v is not None}})


def domain_adapt(
    texts: Sequence[str],  # unlabeled in-domain documents
    cfg: DaptConfig | None = None,
    name: str = "minilm",  # the pretrained encoder to continue from
    run_dir: str | Path | None = None,  # TensorBoard logs go to <run_dir>/tensorboard/dapt
    cache: bool = True,  # reuse an earlier identical run from $LLMKIT_CACHE/dapt/<key>
) -> tuple[Path, dict[str, Any]]:
    """Continue ``name``'s masked-LM training on ``texts``; return the saved model folder and a report.

    The folder (safetensors and the tokenizer) loads with :func:`llmkit.assets.models.load_classifier` like any
    model. The sentence-transformers MiniLM checkpoint has no masked-LM head: its transform layer starts
    random and its decoder is tied to the pretrained word embeddings, so ``head_steps`` first train the
    head alone (encoder frozen), then ``steps`` train everything. The report holds the validation
    masked-LM loss before and after, the steps and the seconds; a cached folder returns the saved report
    with ``"cached": True``. The folder is written to a temporary name and renamed, so it is never half done.
    """
    import torch

    from llmkit.assets.models import load_tokenizer, resolve_model
    from llmkit.core.io import cached_folder
    from llmkit.pretrain import lmdata, networks, training

    cfg = cfg or DaptConfig()
    if len(texts) < 2:
        raise LlmkitError(f"texts: expected at least 2 unlabeled documents, got {len(texts)}")
    settings = {"model": name, **asdict(cfg)}
    entry = cached_folder("dapt", settings, texts, info_name="dapt_report.json", cache=cache)
    with entry:  # a build that raises (an interrupted cell too) gives up the entry's lock
        folder = entry.folder
        if (saved := entry.found()) is not None:
            return folder, {**saved, "cached": True}

        tokenizer = load_tokenizer(name)
        corpus = lmdata.build_corpus(tokenizer, *lmdata.held_out_split(tokenizer, texts, cfg.block_len), cfg.block_len,
                                       max_val_blocks=32)  # fmt: skip
        torch.manual_seed(cfg.seed)
        model = networks.MaskedOnlyBertForMaskedLM.from_pretrained(resolve_model(name))
        start = time.perf_counter()
        plan = []  # (name, steps, learning rate, the part left frozen)
        if cfg.head_steps:
            # A random head sends random gradients into the pretrained encoder: fit the head alone first.
            plan.append(("dapt_head", cfg.head_steps, cfg.head_learning_rate, model.bert))
        plan.append(("dapt", cfg.steps, cfg.learning_rate, None))
        phases, done = [], 0
        for phase, steps, lr, frozen in plan:
            train_cfg = training.TrainConfig(
                steps=steps, batch_size=cfg.batch_size, learning_rate=lr, eval_every=max(1, steps // 2),
                seed=cfg.seed + done, bf16=cfg.bf16,
            )  # fmt: skip
            phases.append(training.Phase(phase, train_cfg, frozen))
            done += steps
        report = training.train_mlm_and_save(
            entry, model, tokenizer, corpus, phases, {"model": name, "config": asdict(cfg)}, start, run_dir
        )
        return folder, report
