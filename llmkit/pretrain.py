"""Pretraining from scratch: token blocks, tiny BERT (masked LM) and GPT (causal LM), Trainer, perplexity
(notebook 02, part 2).

The recipe every language model shares, at a size a 2-core CPU trains in minutes:

1. tokenize a corpus and cut the stream into blocks of ``block_len`` tokens (:func:`build_corpus`);
2. build a model from a transformers config, never from pretrained weights (:func:`build_model`);
3. train it with ``Trainer`` and ``DataCollatorForLanguageModeling``, logging to TensorBoard
   (:func:`train_lm`), and measure validation perplexity against the unigram model
   (:func:`unigram_perplexity`).

A **causal LM** (GPT) predicts every next token: each position of a block carries a loss. A **masked LM**
(BERT) hides 15% of the tokens and predicts only those, so per step it gets ~1/7 of the training signal;
it also sees both sides of the gap, which is what makes its representations good for classification.
BERT's vocabulary head runs on every position although only the masked ones have a loss;
:class:`MaskedOnlyBertForMaskedLM` runs it on the masked positions only: the same loss, for a step
~1.7x cheaper with a 2,048-token vocabulary and ~2.9x with 4,096. FLOPs and throughput are in
:mod:`llmkit.scaling`; the same training under ``torchrun`` is :mod:`llmkit.pretrain_ddp`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.nn import functional as F
from transformers import (
    BertConfig,
    BertForMaskedLM,
    DataCollatorForLanguageModeling,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.modeling_outputs import MaskedLMOutput

from llmkit import losses
from llmkit.config import device, train_dtype
from llmkit.errors import LlmkitError
from llmkit.machine import median_ms

Kind = Literal["mlm", "clm"]
KINDS: tuple[str, ...] = ("mlm", "clm")

# ------------------------------------------------------------------------------------------------ data


@dataclass
class Corpus:
    """A tokenized corpus cut into equal blocks: what both kinds of model train on."""

    tokenizer: PreTrainedTokenizerFast
    train: torch.Tensor  # [n_train, block_len] token ids
    val: torch.Tensor  # [n_val, block_len] token ids, from texts the model never trains on
    block_len: int

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)


def token_blocks(tokenizer: PreTrainedTokenizerFast, texts: Sequence[str], block_len: int) -> torch.Tensor:
    """Tokenize ``texts``, join them with ``[SEP]`` and cut the stream into ``[n, block_len]`` blocks.

    The tail shorter than a block is dropped, so no position is padding and every block costs the same.
    """
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    sep = [tokenizer.sep_token_id] if tokenizer.sep_token_id is not None else []
    stream = np.fromiter((t for row in ids for t in (*row, *sep)), dtype=np.int64)
    n = len(stream) // block_len
    if n == 0:
        raise LlmkitError(f"texts: {len(stream)} tokens, fewer than one block of {block_len}")
    return torch.from_numpy(stream[: n * block_len].reshape(n, block_len).copy())


def build_corpus(
    tokenizer: PreTrainedTokenizerFast,
    train_texts: Sequence[str],
    val_texts: Sequence[str],  # held-out documents (e.g. a play never trained on)
    block_len: int = 128,
    max_val_blocks: int | None = 64,  # validation is run many times: keep it small
) -> Corpus:
    """Token blocks of the training and validation texts."""
    val = token_blocks(tokenizer, val_texts, block_len)
    return Corpus(tokenizer, token_blocks(tokenizer, train_texts, block_len), val[:max_val_blocks], block_len)


def held_out_split(
    tokenizer: PreTrainedTokenizerFast, texts: Sequence[str], block_len: int
) -> tuple[list[str], list[str]]:
    """(train, validation) documents: 5% held out, or as many as one block of ``block_len`` tokens needs.

    A small table (an analyst's 40 notes) still gets a validation block; too little text for a training block
    and a validation block is refused before any training starts.
    """
    lengths = np.array(
        [len(ids) + 1 for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    )
    n_val = max(1, len(texts) // 20)
    while n_val < len(texts) and lengths[:n_val].sum() < block_len:
        n_val += 1
    if lengths[:n_val].sum() < block_len or lengths[n_val:].sum() < block_len:
        raise LlmkitError(
            f"texts: {int(lengths.sum())} tokens in {len(texts)} documents; pretraining needs at least "
            f"{2 * block_len} (one block of {block_len} to train on and one to validate)"
        )
    return list(texts[n_val:]), list(texts[:n_val])


class BlockDataset:
    """A map-style dataset over ``blocks`` [n, block_len]: item ``i`` is ``{"input_ids": blocks[i]}``."""

    def __init__(self, blocks: torch.Tensor) -> None:
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.blocks[i]}


class LMCollator:
    """``DataCollatorForLanguageModeling`` for training; items that already carry labels pass through.

    A masked LM's validation set is masked once, with a fixed seed (:func:`validation_set`), so every
    evaluation scores the same positions; training batches are masked afresh each time.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerFast, kind: Kind, seed: int = 0) -> None:
        self.kind = kind
        self.masked = 0  # positions masked in training batches so far: where an MLM's head runs
        self.collator = DataCollatorForLanguageModeling(
            tokenizer, mlm=kind == "mlm", mlm_probability=0.15, seed=seed
        )

    def __call__(self, items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        if "labels" in items[0]:
            return {key: torch.stack([item[key] for item in items]) for key in items[0]}
        batch = self.collator([{"input_ids": item["input_ids"]} for item in items])
        if self.kind == "mlm":
            self.masked += int((batch["labels"] != -100).sum())
        return batch


def validation_set(corpus: Corpus, kind: Kind, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """The validation items with their labels fixed: masked once (seeded) for ``mlm``, shifted inside the
    model for ``clm`` (labels = input ids)."""
    if kind == "clm":
        return [{"input_ids": b, "labels": b.clone()} for b in corpus.val]
    batch = LMCollator(corpus.tokenizer, "mlm", seed=seed)([{"input_ids": b} for b in corpus.val])
    return [{"input_ids": x, "labels": y} for x, y in zip(batch["input_ids"], batch["labels"], strict=True)]


def targets(items: list[dict[str, torch.Tensor]], kind: Kind) -> np.ndarray:
    """The token ids a model is scored on: every next token (``clm``) or the masked ones (``mlm``).   # [T]"""
    labels = np.stack([item["labels"].numpy() for item in items])  # [n, block_len]
    labels = labels[:, 1:] if kind == "clm" else labels
    return labels[labels != -100]


def unigram_perplexity(corpus: Corpus, kind: Kind, seed: int = 0) -> float:
    """Perplexity of the unigram model (training-token frequencies, add-one smoothing) on the validation
    targets: the baseline a model must beat to show it uses context at all."""
    log_probs = losses.unigram_log_probs(corpus.train.numpy().reshape(-1), corpus.vocab_size)  # [V]
    return losses.perplexity(
        losses.next_token_nll(log_probs, targets(validation_set(corpus, kind, seed), kind))
    )


def unigram_block_nll(corpus: Corpus, kind: Kind, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The unigram model's summed negative log-likelihood (nats) on each validation block's targets, and
    each block's number of targets (``[n_blocks]`` each): :func:`unigram_perplexity`, per block, so that
    a model's gain over it can be bootstrapped over the blocks (:func:`perplexity_ratio`)."""
    log_probs = losses.unigram_log_probs(corpus.train.numpy().reshape(-1), corpus.vocab_size)  # [V]
    items = validation_set(corpus, kind, seed)
    labels = np.stack([item["labels"].numpy() for item in items])  # [n, block_len]
    labels = labels[:, 1:] if kind == "clm" else labels
    keep = labels != -100
    nll = np.where(keep, -log_probs[np.where(keep, labels, 0)], 0.0).sum(axis=1)  # [n]
    return nll, keep.sum(axis=1).astype(np.float64)


def perplexity_ratio(nll_a: np.ndarray, nll_b: np.ndarray, count: np.ndarray) -> float:
    """Perplexity of model a over that of model b on the same blocks: ``exp((sum nll_a - sum nll_b) / sum count)``.

    Above 1 means b is better; pass it to ``evaluate.bootstrap_interval`` with the per-block arrays for a
    paired interval over the validation blocks.
    """
    return float(np.exp((np.sum(nll_a) - np.sum(nll_b)) / np.sum(count)))


# ---------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSize:
    """The shape of a tiny transformer; the feed-forward width is 4x ``hidden``, as in BERT and GPT-2."""

    hidden: int = 128  # width of every token's vector
    layers: int = 2  # transformer blocks
    heads: int = 4  # attention heads; hidden must divide by it


class MaskedOnlyBertForMaskedLM(BertForMaskedLM):
    """``BertForMaskedLM`` whose vocabulary head runs only on the masked positions when labels are given.

    The loss is the parent's (mean cross-entropy over the positions whose label is not -100); ``logits``
    are then ``[n_masked, vocab]``. Without labels it is plain ``BertForMaskedLM`` (fill-mask).
    """

    accepts_loss_kwargs = True  # Trainer then passes num_items_in_batch: the loss is sum / that count

    def forward(self, input_ids=None, attention_mask=None, labels=None, num_items_in_batch=None, **kwargs):
        if labels is None:
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        hidden = self.bert(input_ids, attention_mask=attention_mask, return_dict=True, **kwargs)[0]
        keep = labels != -100  # [batch, tokens]
        scores = self.cls(hidden[keep])  # [n_masked, hidden] -> [n_masked, vocab]
        loss = F.cross_entropy(scores, labels[keep], reduction="sum")
        denominator = num_items_in_batch if num_items_in_batch is not None else keep.sum().clamp(min=1)
        return MaskedLMOutput(loss=loss / denominator, logits=scores)


def build_model(
    kind: Kind, tokenizer: PreTrainedTokenizerFast, size: ModelSize, block_len: int, seed: int = 0
) -> PreTrainedModel:
    """A randomly initialized tiny BERT (``mlm``, masked-only head) or GPT-2 (``clm``), seeded.

    Dropout is off: these models see each token about once, so they underfit and dropout only slows them.
    """
    if kind not in KINDS:
        raise LlmkitError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if size.hidden % size.heads:
        raise LlmkitError(f"size: hidden {size.hidden} must be divisible by heads {size.heads}")
    torch.manual_seed(seed)
    if kind == "mlm":
        config = BertConfig(
            vocab_size=len(tokenizer), hidden_size=size.hidden, num_hidden_layers=size.layers,
            num_attention_heads=size.heads, intermediate_size=4 * size.hidden,
            max_position_embeddings=block_len, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        return MaskedOnlyBertForMaskedLM(config)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=size.hidden, n_layer=size.layers, n_head=size.heads,
        n_positions=block_len, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model = GPT2LMHeadModel(config)
    # transformers infers the loss from the class name and "GPT2LMHeadModel" names none: without this, Trainer
    # counts block_len targets per block instead of block_len - 1 and reports every loss 1/block_len too low.
    model.loss_type = "ForCausalLM"
    return model


def parameter_count(model: PreTrainedModel) -> int:
    """Distinct parameters (a tied input/output embedding counted once)."""
    return sum(p.numel() for p in model.parameters())


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
def _env(**values: str) -> Iterator[None]:
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
    with _env(TENSORBOARD_LOGGING_DIR=str(run_dir / "tensorboard" / name)):
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


# ------------------------------------------------------------------------------------------ samples


def fill_mask(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, text: str, k: int = 5
) -> list[list[str]]:
    """The ``k`` most likely tokens for each ``[MASK]`` in ``text``, best first."""
    enc = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(model.device)
    where = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten()
    if len(where) == 0:
        raise LlmkitError(f"text: expected at least one {tokenizer.mask_token}, got {text!r}")
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=enc["input_ids"]).logits[0]  # [tokens, vocab]
    return [tokenizer.convert_ids_to_tokens(logits[i].topk(k).indices.tolist()) for i in where]


def generate_text(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    prompt: str,
    max_new_tokens: int = 30,
    seed: int = 0,
    top_k: int = 40,  # sample among the k most likely next tokens (greedy decoding loops on tiny models)
) -> str:
    """A sampled continuation of ``prompt`` (seeded, so the same model gives the same text)."""
    enc = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").to(model.device)
    model.eval()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        out = model.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            max_new_tokens=max_new_tokens,
            do_sample=True,
            top_k=top_k,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=None,
        )
    return tokenizer.decode(out[0], skip_special_tokens=True)


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
