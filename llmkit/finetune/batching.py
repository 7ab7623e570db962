"""Text into batches for an encoder (notebook 03; used by every notebook that trains or runs MiniLM).

* :func:`encode` tokenizes once, truncated but **not padded**, into :class:`EncodedTexts`;
* :func:`collator` pads each batch to its own longest text (*dynamic padding*) -- or, as the seed did,
  every text to a fixed 512 tokens;
* :func:`length_grouped_batches` puts texts of similar length in the same batch, so even dynamic padding
  adds little; :func:`padding_fraction` measures what is left.

A transformer's cost grows with the positions it processes, padding included, so these three decide
how much of a training step is spent on nothing (notebook 03, section 4). Importing this is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class EncodedTexts:
    """Token ids of each text, *unpadded*, and its label: a map-style dataset for DataLoader and Trainer.

    ``ds[i]`` is ``{"input_ids": [...], "attention_mask": [1, ...], "labels": int}``; ``lengths`` are
    the token counts (``[CLS]`` and ``[SEP]`` included) that length grouping sorts by.
    """

    def __init__(self, input_ids: list[list[int]], labels: Sequence[int], tokenizer: PreTrainedTokenizerBase):
        if len(input_ids) != len(labels):
            raise LlmkitError(f"{len(input_ids)} encoded texts but {len(labels)} labels; expected one each")
        self.input_ids = input_ids
        self.labels = [int(y) for y in labels]
        self.tokenizer = tokenizer  # the collator pads with its pad token
        self.lengths = [len(ids) for ids in input_ids]

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        ids = self.input_ids[i]
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": self.labels[i]}

    def subset(self, indices: Sequence[int]) -> EncodedTexts:
        return EncodedTexts(
            [self.input_ids[i] for i in indices], [self.labels[i] for i in indices], self.tokenizer
        )


def encode(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], labels: Sequence[int], max_length: int = 128
) -> EncodedTexts:
    """Tokenize ``texts`` once, truncated to ``max_length`` tokens and not padded."""
    if len(texts) == 0:
        raise LlmkitError("encode: expected at least one text, got none")
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return EncodedTexts(ids, labels, tokenizer)


# ---------------------------------------------------------------------------------------------- batching


def collator(tokenizer: PreTrainedTokenizerBase, pad_to: int | None = None) -> Any:
    """``DataCollatorWithPadding``: pad each batch to its longest text, or (the seed's way) to ``pad_to``.

    The collated batch holds tensors ``input_ids``, ``attention_mask`` ``[batch, tokens]`` and
    ``labels`` ``[batch]``.
    """
    from transformers import DataCollatorWithPadding

    if pad_to is None:
        return DataCollatorWithPadding(tokenizer, padding="longest", return_tensors="pt")
    return DataCollatorWithPadding(tokenizer, padding="max_length", max_length=pad_to, return_tensors="pt")


def random_batches(n: int, batch_size: int, seed: int = 0) -> list[list[int]]:
    """Shuffled indices cut into batches: what ``DataLoader(shuffle=True)`` does."""
    order = np.random.default_rng(seed).permutation(n)
    return [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int = 0, megabatch: int = 50
) -> list[list[int]]:
    """Batches of texts of similar length, in random order: little padding, still a shuffle.

    Shuffle, cut into mega-batches of ``megabatch * batch_size``, sort each by length, cut into batches,
    shuffle the batches (so the model never sees the lengths in order). Trainer's
    ``train_sampling_strategy="group_by_length"`` does the same.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    size = megabatch * batch_size
    batches = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start : start + size].tolist(), key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def padding_fraction(
    lengths: Sequence[int], batches: Sequence[Sequence[int]], pad_to: int | None = None
) -> float:
    """Share of the positions in ``batches`` that are padding (each padded to its longest, or ``pad_to``)."""
    real = padded = 0
    for batch in batches:
        longest = pad_to or max(lengths[i] for i in batch)
        real += sum(lengths[i] for i in batch)
        padded += longest * len(batch)
    return 1.0 - real / padded


class TokenDataset:
    """The seed's undefined ``TokenDataset``, written the usual way: every text padded to one fixed length.

    The seed passes it to ``DataLoader(dataset, batch_size=32)`` with no ``collate_fn``; the default
    collate stacks the rows' tensors, which works only if all have the same length. So a
    ``TokenDataset`` that works with that call pads every row to ``max_length`` (and truncates there).
    ``ds[i]`` is ``{"input_ids": LongTensor[max_length], "attention_mask": LongTensor[max_length],
    "labels": LongTensor[]}``.
    """

    def __init__(
        self, rows: Sequence[tuple[str, int]], tokenizer: PreTrainedTokenizerBase, max_length: int = 128
    ):
        import torch

        if len(rows) == 0:
            raise LlmkitError("TokenDataset: expected at least one (text, label) row, got none")
        texts = [text for text, _ in rows]
        enc = tokenizer(
            texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt"
        )
        self.input_ids = enc["input_ids"]  # [n, max_length]
        self.attention_mask = enc["attention_mask"]  # [n, max_length], 1 = real token
        self.labels = torch.tensor([int(y) for _, y in rows], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "input_ids": self.input_ids[i],
            "attention_mask": self.attention_mask[i],
            "labels": self.labels[i],
        }

    @property
    def padding_fraction(self) -> float:
        """Share of the positions that are padding."""
        return 1.0 - float(self.attention_mask.float().mean())
