"""Pretraining from scratch with the transformers Trainer: steps, timing and perplexity (notebook 02)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F
from transformers import (
    BertForMaskedLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from llmkit.core.errors import LlmkitError
from llmkit.core.hardware import device, train_dtype
from llmkit.core.timing import median_ms
from llmkit.pretrain.lmdata import BlockDataset, Corpus, Kind, LMCollator, validation_set

if TYPE_CHECKING:
    from llmkit.core.io import CachedFolder

# -------------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainConfig:
    """The knobs of one pretraining run."""

    steps: int = 200  # optimizer steps
    batch_size: int = 32  # blocks per step (over all processes under torchrun)
    learning_rate: float = 2e-3  # peak; tiny models take large steps
    warmup: float = 0.1  # fraction of the steps with a linear warm-up, then cosine decay to 0
    weight_decay: float = 0.01
    eval_every: int = 50  # steps between validation passes (and train-loss log points)
    seed: int = 0  # model init, data order and masking
    bf16: bool | None = None  # autocast to bfloat16; None -> on a GPU that supports it (config.train_dtype)


@dataclass
class TrainResult:
    """What :func:`train_lm` measured."""

    name: str
    kind: str
    model: Any  # the trained PreTrainedModel
    log_steps: list[int] = field(default_factory=list)  # step of each train-loss point
    train_loss: list[float] = field(default_factory=list)  # mean loss over the steps since the last point
    eval_steps: list[int] = field(default_factory=list)  # step 0 = before training
    val_loss: list[float] = field(default_factory=list)  # nats per target token
    step_seconds: float = 0.0  # wall time inside optimizer steps only (evaluation excluded)
    tokens: int = 0  # input tokens processed in training
    head_tokens: int = 0  # positions the vocabulary head ran on (all for clm, the masked ones for mlm)

    @property
    def final_val_loss(self) -> float:
        return self.val_loss[-1]

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.step_seconds if self.step_seconds else float("nan")


class StepTimer(TrainerCallback):
    """Sums the wall time of optimizer steps, so that throughput leaves evaluation out."""

    def __init__(self) -> None:
        self.seconds, self._start = 0.0, 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds += time.perf_counter() - self._start


@contextlib.contextmanager
def env_vars(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def world_size() -> int:
    """Processes training together (``$WORLD_SIZE`` under torchrun, else 1)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def train_lm(
    model: PreTrainedModel,
    corpus: Corpus,
    kind: Kind,
    config: TrainConfig,
    run_dir: str | Path,  # the notebook's run folder (claims.dir)
    name: str,  # this run's name: its TensorBoard logs go to run_dir/tensorboard/name
    evaluate_during: bool = True,  # validation passes every eval_every steps (the curves)
) -> TrainResult:
    """Pretrain ``model`` on ``corpus`` with ``Trainer`` for ``config.steps`` steps; return curves, timings.

    Batches are sampled from the training blocks in a seeded order (``seed`` and ``data_seed``); the
    validation loss at step 0 and every ``eval_every`` steps is measured on :func:`validation_set`.
    Logs go to TensorBoard under ``run_dir/tensorboard/name``; no checkpoint is written (save the final
    model once with ``save_pretrained``, which writes safetensors).
    """
    if config.batch_size % world_size():
        raise LlmkitError(f"batch_size {config.batch_size} must divide by the {world_size()} processes")
    run_dir = Path(run_dir)
    val = validation_set(corpus, kind, config.seed)
    timer, collator = StepTimer(), LMCollator(corpus.tokenizer, kind, seed=config.seed)
    args = TrainingArguments(
        output_dir=str(run_dir / "trainer" / name),
        max_steps=config.steps,
        per_device_train_batch_size=config.batch_size // world_size(),
        per_device_eval_batch_size=64,
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=config.warmup,
        weight_decay=config.weight_decay,
        eval_strategy="steps" if evaluate_during else "no",
        eval_steps=config.eval_every,
        logging_steps=config.eval_every,
        save_strategy="no",
        report_to=["tensorboard"],
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=device() == "cpu",
        bf16=train_dtype() == "bf16" if config.bf16 is None else config.bf16,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        prediction_loss_only=True,
        disable_tqdm=False,
    )
    with env_vars(TENSORBOARD_LOGGING_DIR=str(run_dir / "tensorboard" / name)):
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=BlockDataset(corpus.train),
            eval_dataset=val,
            data_collator=collator,
            callbacks=[timer],
        )
    result = TrainResult(name, kind, model)
    result.eval_steps.append(0)
    result.val_loss.append(evaluate_lm(model, val, kind))
    trainer.train()
    for entry in trainer.state.log_history:
        if "loss" in entry:
            result.log_steps.append(int(entry["step"]))
            result.train_loss.append(float(entry["loss"]))
        if "eval_loss" in entry:
            result.eval_steps.append(int(entry["step"]))
            result.val_loss.append(float(entry["eval_loss"]))
    final = evaluate_lm(model, val, kind)  # token-weighted (Trainer averages per sequence)
    if result.eval_steps[-1] == config.steps:
        result.val_loss[-1] = final
    else:
        result.eval_steps.append(config.steps)
        result.val_loss.append(final)
    result.step_seconds = timer.seconds
    result.tokens = config.steps * config.batch_size * corpus.block_len
    result.head_tokens = collator.masked * world_size() if kind == "mlm" else result.tokens
    return result


@dataclass(frozen=True)
class Phase:
    """One :func:`train_lm` run of a pretraining in phases (a new head alone first, then everything)."""

    name: str  # its TensorBoard run: run_dir/tensorboard/name
    config: TrainConfig
    frozen: torch.nn.Module | None = None  # a part of the model whose weights this phase leaves as they are


def train_mlm_and_save(
    entry: CachedFolder,  # the run's cache entry (llmkit.core.io.cached_folder), not yet found
    model: PreTrainedModel,  # a masked LM, seeded and ready to train
    tokenizer: PreTrainedTokenizerBase,  # saved beside the weights
    corpus: Corpus,  # its training blocks and validation set
    phases: Sequence[Phase],  # trained in order, one curve
    report: dict[str, Any],  # the report's first fields (the run's settings)
    start: float,  # time.perf_counter() when the run began: the report's seconds count from there
    run_dir: str | Path | None = None,  # TensorBoard logs; None -> a temporary folder, removed once saved
) -> dict[str, Any]:
    """Train ``model`` with masked LM through ``phases``, save it with ``tokenizer`` into ``entry``; the report.

    The phases' validation curves are joined: a later phase's step 0 repeats the point before it and is left
    out, and its steps count on from the phases before. The report is ``report`` with ``val_mlm_loss`` (nats
    per masked token, at ``eval_steps``), ``seconds``, ``train_blocks`` and ``"cached": False``; it is the
    entry's info file, written with the safetensors folder in one swap (:meth:`CachedFolder.save`). Every
    weight trains again afterwards.
    """
    from llmkit.assets.models import save_pretrained_folder

    folder = entry.folder
    logs = Path(run_dir) if run_dir is not None else folder.parent / f".logs-{folder.name}"
    val_loss: list[float] = []
    eval_steps: list[int] = []
    done = 0
    for phase in phases:
        for p in model.parameters():
            p.requires_grad = True
        for p in phase.frozen.parameters() if phase.frozen is not None else ():
            p.requires_grad = False  # a decoder tied to frozen word embeddings stays frozen with them
        result = train_lm(model, corpus, "mlm", phase.config, logs, name=phase.name)
        keep = slice(1, None) if val_loss else slice(None)
        val_loss += result.val_loss[keep]
        eval_steps += [done + s for s in result.eval_steps[keep]]
        done += phase.config.steps
    for p in model.parameters():
        p.requires_grad = True
    report = {
        **report,
        "val_mlm_loss": val_loss,
        "eval_steps": eval_steps,
        "seconds": time.perf_counter() - start,
        "train_blocks": len(corpus.train),
        "cached": False,
    }
    entry.save(lambda staging: save_pretrained_folder(model, tokenizer, staging), report)
    if run_dir is None:
        shutil.rmtree(logs, ignore_errors=True)
    return report


def evaluate_lm(
    model: PreTrainedModel, items: list[dict[str, torch.Tensor]], kind: Kind, batch_size: int = 64
) -> float:
    """Mean loss in nats per target token of ``model`` on labeled ``items`` (see :func:`validation_set`)."""
    was_training, total, count = model.training, 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            input_ids = torch.stack([item["input_ids"] for item in chunk]).to(model.device)  # [b, block_len]
            labels = torch.stack([item["labels"] for item in chunk]).to(model.device)
            n = int(((labels[:, 1:] if kind == "clm" else labels) != -100).sum())
            total += float(model(input_ids=input_ids, labels=labels).loss) * n
            count += n
    model.train(was_training)
    return total / count


def block_nll(
    model: PreTrainedModel, items: list[dict[str, torch.Tensor]], kind: Kind, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Summed negative log-likelihood (nats) of ``model`` on each item's targets, and each item's number of
    targets (``[n_items]`` each). ``sum(nll) / sum(count)`` is :func:`evaluate_lm`'s loss."""
    was_training, nll, count = model.training, [], []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            input_ids = torch.stack([item["input_ids"] for item in chunk]).to(model.device)  # [b, block_len]
            labels = torch.stack([item["labels"] for item in chunk]).to(model.device)
            if kind == "clm":
                logits = model(input_ids=input_ids).logits[:, :-1].float()  # [b, L - 1, V]
                labels = labels[:, 1:]
            else:
                logits = BertForMaskedLM.forward(model, input_ids=input_ids).logits.float()  # [b, L, V]
            per_token = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none", ignore_index=-100
            ).view(labels.shape)  # [b, L'], 0 where the label is -100
            nll.append(per_token.sum(dim=1).double().cpu().numpy())
            count.append((labels != -100).sum(dim=1).double().cpu().numpy())
    model.train(was_training)
    return np.concatenate(nll), np.concatenate(count)


def mlm_step_ms(
    model: PreTrainedModel, batch: dict[str, torch.Tensor], masked_only: bool, repeats: int = 3
) -> float:
    """Median milliseconds of one forward + backward pass of a masked LM on ``batch``, with the vocabulary
    head on the masked positions only (``masked_only``) or on every position (plain ``BertForMaskedLM``)."""

    forward = model.forward if masked_only else lambda **kw: BertForMaskedLM.forward(model, **kw)

    def step() -> None:
        forward(input_ids=batch["input_ids"], labels=batch["labels"]).loss.backward()
        model.zero_grad(set_to_none=True)

    model.train()
    return median_ms(step, repeats=repeats, warmup=1)
