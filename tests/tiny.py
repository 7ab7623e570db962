"""The tests' one tiny random BERT, on MiniLM's vocabulary, for tests that need a model but not its quality
(fine-tuning loops, transfer, compression, serving, a stand-in teacher): 2 layers, 32 wide, 2 heads, built in
milliseconds. Each builder seeds torch first, so the same seed gives the same weights in every test file."""

from __future__ import annotations

from pathlib import Path

MINILM_VOCAB = 30522
TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
}


def tiny_config(*, vocab_size: int = MINILM_VOCAB, dropout: float | None = None, **kwargs):
    """The tiny BertConfig; ``dropout`` sets both dropouts (None keeps BERT's 0.1), ``kwargs`` go to the config."""
    from transformers import BertConfig

    if dropout is not None:
        kwargs.update(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return BertConfig(vocab_size=vocab_size, **TINY_BERT, **kwargs)


def tiny_classifier(
    seed: int = 0,
    num_labels: int = 2,
    *,
    dropout: float | None = None,
    vocab_size: int = MINILM_VOCAB,
    attn_implementation: str | None = None,
):
    """A seeded tiny BertForSequenceClassification in eval mode (as ``from_pretrained`` returns one)."""
    import torch
    from transformers import BertForSequenceClassification

    extra = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    torch.manual_seed(seed)
    config = tiny_config(vocab_size=vocab_size, dropout=dropout, num_labels=num_labels, **extra)
    return BertForSequenceClassification(config).eval()


def tiny_masked_lm(seed: int = 0, *, dropout: float | None = None):
    """A seeded tiny BertForMaskedLM in eval mode: a 'pretrained' encoder with its MLM head."""
    import torch
    from transformers import BertForMaskedLM

    torch.manual_seed(seed)
    return BertForMaskedLM(tiny_config(dropout=dropout)).eval()


def save_tiny_pretrained(folder: Path, tokenizer, seed: int = 0, dropout: float | None = 0.0) -> Path:
    """Save :func:`tiny_masked_lm` and ``tokenizer`` to ``folder`` like a hub model (safetensors, tokenizer
    files), so code that takes a model name can load it; dropout 0 by default, so training from it is exact."""
    tiny_masked_lm(seed, dropout=dropout).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)
