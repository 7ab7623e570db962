"""Classification by prompting (notebook 09, section 5): no training, only the label words' log-probabilities.

The chat prompt asks the question and ends where the assistant's answer begins; the model's probability of
each label word as the first answer token decides the class (never free text, so every answer is one of the
labels). Few-shot prepends solved examples as earlier chat turns. The shared prefix (instructions and
examples) is run once; each batch of rows then runs only its own tokens on a copy of the prefix's KV cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmkit.core.errors import LlmkitError


@dataclass(frozen=True)
class PromptTask:
    """What to ask: the question after the text, and one answer word per label (label i -> words[i])."""

    question: str
    words: tuple[str, ...]
    max_text_tokens: int = 96  # the text is cut to this many tokens (its start kept)


SENTIMENT = PromptTask(
    "Is the sentiment of this drug review positive or negative? Answer with one word.",
    ("negative", "positive"),
)
DIABETES = PromptTask(
    "Does this clinical note describe a patient with diabetes? Answer yes or no.", ("no", "yes")
)


def label_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """The first token of each label word as the answer's first token; they must differ."""
    ids = [tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in words]
    if len(set(ids)) != len(ids):
        raise LlmkitError(f"label words {list(words)}: their first tokens coincide; choose words that differ")
    return ids


def _clip(tokenizer: Any, text: str, max_tokens: int) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens]
    return tokenizer.decode(ids)


def _turn(task: PromptTask, text: str) -> str:
    return f"{text}\n\n{task.question}"


def prompt_parts(
    tokenizer: Any, task: PromptTask, text: str, shots: Sequence[tuple[str, int]] = ()
) -> tuple[str, str]:
    """(shared prefix, this row's suffix) of the chat prompt: the examples are the prefix's turns."""
    messages: list[dict[str, str]] = []
    for shot_text, label in shots:
        messages.append(
            {"role": "user", "content": _turn(task, _clip(tokenizer, shot_text, task.max_text_tokens))}
        )
        messages.append({"role": "assistant", "content": task.words[label]})
    marker = "\x00ROW\x00"
    messages.append({"role": "user", "content": marker})
    full = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prefix, after = full.split(marker)
    return prefix, _turn(task, _clip(tokenizer, text, task.max_text_tokens)) + after


def label_logprobs(
    model: Any,
    tokenizer: Any,
    task: PromptTask,
    texts: Sequence[str],
    shots: Sequence[tuple[str, int]] = (),  # (text, label) examples shown first: few-shot; () is zero-shot
    batch_size: int = 8,  # rows run together on copies of the prefix's cache
) -> np.ndarray:
    """``[len(texts), labels]``: log-probability of each label word's first token, renormalized over the labels.

    Rows of about the same length run as one batch, right-padded after the shared prefix: with the causal
    mask a row's real tokens never see its padding, and each row is read at its own last real token, so a
    batch gives the numbers one row at a time gives (to float rounding), with fewer, larger matrix products.
    """
    import copy

    import torch

    from llmkit.core.batches import longest_first

    if not texts:
        raise LlmkitError("label_logprobs: expected at least one text")
    word_ids = label_token_ids(tokenizer, task.words)
    prefix, _ = prompt_parts(tokenizer, task, texts[0], shots)
    prefix_ids = tokenizer(prefix, add_special_tokens=False, return_tensors="pt")["input_ids"]
    suffixes = [
        tokenizer(prompt_parts(tokenizer, task, text, shots)[1], add_special_tokens=False)["input_ids"]
        for text in texts
    ]
    head = model.get_output_embeddings().weight[word_ids]  # [labels, hidden]: only the label words' rows
    out = np.empty((len(texts), len(word_ids)), dtype=np.float32)
    with torch.inference_mode():
        prefix_cache = model(input_ids=prefix_ids, use_cache=True, logits_to_keep=1).cache
        for rows in longest_first([len(ids) for ids in suffixes], batch_size):
            width = max(len(suffixes[i]) for i in rows)
            ids = torch.zeros((len(rows), width), dtype=torch.long)  # right padding (never attended to)
            for j, i in enumerate(rows):
                ids[j, : len(suffixes[i])] = torch.tensor(suffixes[i])
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(rows))
            hidden = model.model(input_ids=ids, cache=cache, use_cache=True).last_hidden_state
            last = hidden[torch.arange(len(rows)), torch.tensor([len(suffixes[i]) - 1 for i in rows])]
            out[rows] = torch.log_softmax(last.float() @ head.float().T, dim=-1).numpy()
    return out


def pick_shots(
    texts: Sequence[str], labels: Sequence[int], per_label: int, seed: int = 0
) -> list[tuple[str, int]]:
    """``per_label`` training examples of each label, seeded, interleaved (label 0, 1, 0, 1, ...)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    chosen = [rng.choice(np.flatnonzero(labels == y), per_label, replace=False) for y in np.unique(labels)]
    order = [int(i) for group in zip(*chosen, strict=True) for i in group]
    return [(texts[i], int(labels[i])) for i in order]


def accuracy(logprobs: np.ndarray, labels: Sequence[int]) -> float:
    """Share of rows whose most probable label word is the true label."""
    return float((logprobs.argmax(axis=1) == np.asarray(labels)).mean())


def balanced_accuracy(logprobs: np.ndarray, labels: Sequence[int]) -> float:
    """Mean per-label recall: a prompt that always says one word scores 1 / labels, whatever the class balance."""
    labels = np.asarray(labels)
    pred = logprobs.argmax(axis=1)
    return float(np.mean([(pred[labels == y] == y).mean() for y in np.unique(labels)]))


def calibrate(logprobs: np.ndarray, content_free: np.ndarray) -> np.ndarray:
    """Contextual calibration (Zhao et al. 2021): subtract the label log-probabilities the same prompt gives a
    content-free text (``"N/A"``), so a model's prior for one label word no longer decides every row."""
    return logprobs - np.asarray(content_free).reshape(1, -1)
