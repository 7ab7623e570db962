"""Tokenizers from raw text: train a WordPiece vocabulary and measure its fertility (notebook 02, part 1).

A language model never sees characters, only token ids, so its first design decision is the vocabulary.
WordPiece (the tokenizer of BERT and MiniLM) starts from characters and keeps merging pairs of adjacent pieces
until the vocabulary is full. Google's WordPiece picks the merge that most raises the corpus likelihood; the
``WordPieceTrainer`` of Hugging Face ``tokenizers`` used here wraps its BPE trainer with a ``##`` continuation
prefix (``tokenizers/src/models/wordpiece/trainer.rs``), so it merges the most frequent pair, as BPE does.
A word is then split greedily, longest piece first (``hyperglycemia`` -> ``hyper ##gly ##ce ##mia``), and a
character never seen becomes ``[UNK]``.

**Fertility** is tokens per word. A tokenizer trained on the text it will read keeps that text's frequent
words whole, so the same sentence costs fewer tokens: a longer effective context, fewer steps per epoch,
and no meaning lost to ``[UNK]``. :func:`fertility` counts both, with padding and special tokens off
(MiniLM's ``tokenizer.json`` pads every text to 128 tokens unless told otherwise).

Typical use::

    shakespeare = train_wordpiece(assets.shakespeare_texts().values(), vocab_size=8000)
    notes_tok = train_wordpiece(generate_unlabeled_notes(5000)["note"], vocab_size=2000)
    fertility(notes_tok, held_out_notes)        # Fertility(tokens_per_word=1.5, unk_rate=0.0, ...)
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4, as in BERT
_WORD = re.compile(r"\S+")  # a word = a whitespace-separated string: the same count for every tokenizer


def _is_bert_punctuation(char: str) -> bool:
    """BERT's pre-tokenizer splits these off as words of their own: ASCII symbols and Unicode P*."""
    code = ord(char)
    return (
        33 <= code <= 47
        or 58 <= code <= 64
        or 91 <= code <= 96
        or 123 <= code <= 126
        or (unicodedata.category(char).startswith("P"))
    )


def _pipeline(lowercase: bool) -> Tokenizer:
    """An empty BERT-style tokenizer: normalizer, pre-tokenizer and decoder, no vocabulary yet."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    return backend


def train_wordpiece(
    texts: Iterable[str],  # the training corpus, one document (or line) per item
    vocab_size: int = 8000,  # the most entries the vocabulary may hold, special tokens included
    *,
    min_frequency: int = 2,  # a merge must occur at least this often to enter the vocabulary
    lowercase: bool = True,  # fold case, as MiniLM's (bert-base-uncased) vocabulary does
    limit_alphabet: int = 200,  # the most distinct characters kept; rarer ones become [UNK]
) -> PreTrainedTokenizerFast:
    """Train a BERT-style WordPiece tokenizer with Hugging Face ``tokenizers`` and wrap it for transformers.

    The pipeline is BERT's: Unicode normalization (and lowercasing), split on whitespace and punctuation,
    WordPiece with ``##`` continuation pieces. The result has ``[PAD] [UNK] [CLS] [SEP] [MASK]`` at ids
    0-4, works with ``DataCollatorForLanguageModeling`` and decodes back to text. The same texts always
    give the same vocabulary and ids (see the comment in the code).
    """
    from tokenizers import models, trainers
    from transformers import PreTrainedTokenizerFast

    if not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS):
        raise LlmkitError(f"vocab_size: expected an integer > {len(SPECIAL_TOKENS)}, got {vocab_size!r}")
    texts = list(texts)
    if not texts:
        raise LlmkitError("texts: expected at least one training text, got none")
    backend = _pipeline(lowercase)
    # tokenizers' trainer creates the "##c" pieces while iterating a hash map, so their ids, and with them the
    # choice between equally frequent merges, change from run to run (huggingface/tokenizers#1794): the same
    # corpus gave different vocabularies. Creating every "##c" up front, in sorted order, makes it repeatable.
    chars = Counter(c for text in texts for c in backend.normalizer.normalize_str(text) if not c.isspace())
    alphabet = sorted(c for c, _ in chars.most_common(limit_alphabet))
    pieces = [f"##{c}" for c in alphabet if not _is_bert_punctuation(c)]  # punctuation never continues a word
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[*SPECIAL_TOKENS, *pieces],
        limit_alphabet=limit_alphabet,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tokenizer = _pipeline(lowercase)  # a fresh one, so that only the five real special tokens are special
    tokenizer.model = models.WordPiece(backend.get_vocab(), unk_token="[UNK]", max_input_chars_per_word=100)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        clean_up_tokenization_spaces=True,
        model_input_names=["input_ids", "attention_mask"],  # no token_type_ids: GPT-2 would add them in
    )


@dataclass(frozen=True)
class Fertility:
    """How many tokens a tokenizer spends on a set of texts."""

    tokens_per_word: float  # tokens / whitespace-separated words: 1.0 = every word is one token
    unk_rate: float  # fraction of the tokens that are [UNK]: meaning the model can never see
    tokens: int
    words: int


def fertility(tokenizer: PreTrainedTokenizerFast, texts: Sequence[str]) -> Fertility:
    """Tokens per word and the ``[UNK]`` rate of ``tokenizer`` on ``texts``.

    Counted without special tokens, padding or truncation (a tokenizer loaded with padding on would
    otherwise count every text as its padded length).
    """
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise LlmkitError("texts: expected at least one non-empty text")
    ids = tokenizer(texts, add_special_tokens=False, padding=False, truncation=False)["input_ids"]
    tokens = sum(len(row) for row in ids)
    unk = tokenizer.unk_token_id
    unknown = sum(row.count(unk) for row in ids) if unk is not None else 0
    words = sum(len(_WORD.findall(t)) for t in texts)
    return Fertility(tokens / words, unknown / tokens, tokens, words)


def text_counts(tokenizer: PreTrainedTokenizerFast, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Tokens and whitespace-separated words of each text (``[n]`` each), counted as :func:`fertility`
    counts them: per-text numbers to bootstrap a fertility ratio over the texts."""
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise LlmkitError("texts: expected at least one non-empty text")
    ids = tokenizer(texts, add_special_tokens=False, padding=False, truncation=False)["input_ids"]
    return np.array([len(row) for row in ids], dtype=np.float64), np.array(
        [len(_WORD.findall(t)) for t in texts], dtype=np.float64
    )


def show_tokens(tokenizer: PreTrainedTokenizerFast, text: str) -> str:
    """``text`` as the tokenizer splits it, pieces separated by spaces (``hyper ##gly ##ce ##mia``)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return " ".join(tokenizer.convert_ids_to_tokens(ids))


def domain_words(
    tokenizer: PreTrainedTokenizerFast,  # the domain tokenizer
    general: PreTrainedTokenizerFast,  # the general one it is compared with
    k: int = 20,
    min_chars: int = 5,
    texts: Sequence[str] | None = None,  # rank by frequency in these texts
) -> list[str]:
    """Up to ``k`` whole words in ``tokenizer``'s vocabulary that ``general`` must split into pieces.

    With ``texts``, the words are ordered by how often they occur there (most frequent first); else by id.
    """
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    if texts is not None:
        counts = Counter(
            t for row in tokenizer(list(texts), add_special_tokens=False)["input_ids"] for t in row
        )
        vocab.sort(key=lambda item: -counts[item[1]])
    found = []
    for token, _ in vocab:
        if token.startswith("##") or token.startswith("[") or len(token) < min_chars or not token.isalpha():
            continue
        if len(general(token, add_special_tokens=False)["input_ids"]) > 1:
            found.append(token)
            if len(found) == k:
                break
    return found


def unknown_words(
    tokenizer: PreTrainedTokenizerFast, texts: Sequence[str], k: int = 10
) -> list[tuple[str, int]]:
    """The ``k`` most frequent stretches of ``texts`` that ``tokenizer`` turns into ``[UNK]``, with counts.

    WordPiece maps a whole word to ``[UNK]`` as soon as one of its characters has no piece in the
    vocabulary (``HbA1c`` when ``##1`` is missing), so these are usually whole words, not characters.
    """
    found: Counter[str] = Counter()
    for text in texts:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        for token_id, (start, end) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
            if token_id == tokenizer.unk_token_id:
                found[text[start:end]] += 1
    return found.most_common(k)
