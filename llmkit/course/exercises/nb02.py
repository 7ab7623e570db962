"""Exercises of notebook 02 (pretraining): tokens per word, causal targets, unigram perplexity, training
FLOPs; the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register
from llmkit.losses import language


def _minilm_tokenizer() -> Any:
    """MiniLM's tokenizer, loaded once (the 02 checkers need a real WordPiece tokenizer)."""
    global _MINILM_TOKENIZER
    if _MINILM_TOKENIZER is None:
        from llmkit.assets.models import load_tokenizer

        _MINILM_TOKENIZER = load_tokenizer("minilm")
    return _MINILM_TOKENIZER


_MINILM_TOKENIZER: Any = None


def _tokens_per_word(tokenizer: Any, texts: list[str]) -> float:
    ids = tokenizer(texts, add_special_tokens=False, padding=False)["input_ids"]
    return sum(len(row) for row in ids) / sum(len(t.split()) for t in texts)


@register(
    "02.tokens_per_word",
    prompt="Write tokens_per_word(tokenizer, texts): the tokenizer's fertility, tokens per whitespace word.",
    reference=_tokens_per_word,
    wrong=lambda tokenizer, texts: (
        sum(len(r) for r in tokenizer(texts)["input_ids"]) / sum(len(t.split()) for t in texts)
    ),
    hint="count only the text's own tokens: tokenizer(texts, add_special_tokens=False) leaves out [CLS] and [SEP]"
    " (and padding=False the [PAD]s); words are text.split().",
)
def _check_tokens_per_word(answer: Any) -> None:
    tokenizer = _minilm_tokenizer()
    cases = {
        "['Pt denies polyuria and polydipsia.']": ["Pt denies polyuria and polydipsia."],
        "two notes of different lengths": [
            "HbA1c 7.2, FBG 141. Started metformin 500 mg.",
            "No hx of T2DM.",
        ],
    }
    for on, texts in cases.items():
        expect_close(call(answer, tokenizer, list(texts)), _tokens_per_word(tokenizer, texts), on=on)


def _causal_targets(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ids[:, :-1], ids[:, 1:]


@register(
    "02.causal_targets",
    prompt="Write causal_targets(ids): for token blocks [n, L], the model inputs and the next-token targets.",
    reference=_causal_targets,
    wrong=lambda ids: (ids, ids),
    hint="position t predicts token t + 1: inputs drop the last column, targets drop the first; both are [n, L - 1].",
)
def _check_causal_targets(answer: Any) -> None:
    for ids in (np.arange(12).reshape(2, 6), np.random.default_rng(3).integers(0, 50, size=(3, 9))):
        got = call(answer, ids.copy())
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise AssertionError(f"expected a pair (inputs, targets), got {type(got).__name__}")
        want = _causal_targets(ids)
        for part, g, w in zip(("inputs", "targets"), got, want, strict=True):
            expect_close(g, w, on=f"{part} of blocks of shape {list(ids.shape)}")


def _unigram_perplexity(train_ids: np.ndarray, eval_ids: np.ndarray, vocab_size: int) -> float:
    return language.perplexity(
        language.next_token_nll(language.unigram_log_probs(train_ids, vocab_size), eval_ids)
    )


def _unsmoothed_unigram(train_ids: np.ndarray, eval_ids: np.ndarray, vocab_size: int) -> float:
    counts = np.bincount(train_ids, minlength=vocab_size)
    with np.errstate(divide="ignore"):
        return float(np.exp(-np.mean(np.log(counts[eval_ids] / counts.sum()))))


@register(
    "02.unigram_perplexity",
    prompt="Write unigram_perplexity(train_ids, eval_ids, vocab_size): add-one smoothed unigram perplexity.",
    reference=_unigram_perplexity,
    wrong=_unsmoothed_unigram,
    hint="p(token) = (count in train + 1) / (train tokens + vocab_size); perplexity = exp(-mean log p(eval token)).",
)
def _check_unigram_perplexity(answer: Any) -> None:
    rng = np.random.default_rng(4)
    cases = {
        "train = every id of a vocabulary of 10 once, eval = [3, 3, 7]": (
            np.arange(10),
            np.array([3, 3, 7]),
            10,
        ),
        "random ids, eval ids never seen in train": (rng.integers(0, 20, 200), np.array([25, 26, 3]), 30),
    }
    for on, (train_ids, eval_ids, vocab) in cases.items():
        expect_close(
            call(answer, train_ids.copy(), eval_ids.copy(), vocab),
            _unigram_perplexity(train_ids, eval_ids, vocab),
            on=on,
        )


def _gpt_training_flops(hidden: int, layers: int, vocab_size: int, seq_len: int, tokens: int) -> float:
    weights = (
        12 * layers * hidden**2 + vocab_size * hidden
    )  # attention 4 d^2 + MLP 8 d^2 per layer, the LM head
    return 6.0 * weights * tokens + 12.0 * layers * seq_len * hidden * tokens


@register(
    "02.training_flops",
    prompt="Write gpt_training_flops(hidden, layers, vocab_size, seq_len, tokens): FLOPs to train a GPT on tokens.",
    reference=_gpt_training_flops,
    wrong=lambda hidden, layers, vocab_size, seq_len, tokens: (
        6.0 * 12 * layers * hidden**2 * tokens + 12.0 * layers * seq_len * hidden * tokens
    ),
    hint="6 N per token for N matmul weights: 12 d^2 per layer (4 d^2 attention, 8 d^2 MLP) plus the LM head"
    " V d; attention scores add 12 L s d per token.",
)
def _check_training_flops(answer: Any) -> None:
    for args in ((128, 2, 4096, 128, 10_000), (64, 4, 30522, 32, 1)):
        expect_close(
            call(answer, *args),
            _gpt_training_flops(*args),
            on=f"(hidden, layers, V, seq_len, tokens) = {args}",
        )
