"""The models notebook 02 pretrains: tiny BERT (masked LM) and GPT (causal LM), with fill-mask and generation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F
from transformers import (
    BertConfig,
    BertForMaskedLM,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.modeling_outputs import MaskedLMOutput

from llmkit.core.errors import LlmkitError
from llmkit.pretrain.lmdata import KINDS, Kind

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
