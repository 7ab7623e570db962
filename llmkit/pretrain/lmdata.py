"""Language-model data: token blocks, held-out splits, collators and the unigram baseline (notebook 02)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from transformers import (
    DataCollatorForLanguageModeling,
    PreTrainedTokenizerFast,
)

from llmkit.core.errors import LlmkitError
from llmkit.losses import language

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
    log_probs = language.unigram_log_probs(corpus.train.numpy().reshape(-1), corpus.vocab_size)  # [V]
    return language.perplexity(
        language.next_token_nll(log_probs, targets(validation_set(corpus, kind, seed), kind))
    )


def unigram_block_nll(corpus: Corpus, kind: Kind, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The unigram model's summed negative log-likelihood (nats) on each validation block's targets, and
    each block's number of targets (``[n_blocks]`` each): :func:`unigram_perplexity`, per block, so that
    a model's gain over it can be bootstrapped over the blocks (:func:`perplexity_ratio`)."""
    log_probs = language.unigram_log_probs(corpus.train.numpy().reshape(-1), corpus.vocab_size)  # [V]
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
