"""A tiny random BERT classifier on MiniLM's vocabulary, for tests that need a model but not its quality
(compression, serving, a stand-in teacher): 2 layers, 32 wide, built in milliseconds."""

from __future__ import annotations


def tiny_classifier(seed: int = 0, num_labels: int = 2):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=num_labels)  # fmt: skip
    return BertForSequenceClassification(config).eval()
