"""Generation (notebook 09, section 2): the chat template, the next-token distribution, and the decoding rules
(greedy, temperature, top-k, top-p) written out, so that a learner sees what ``generate`` does with the logits.

:func:`generate` is a plain loop over the KV cache; sampling draws from a ``torch.Generator`` seeded per call,
so the same seed gives the same text and nothing else in the process moves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import torch


def chat_ids(tokenizer: Any, question: str, system: str | None = None) -> torch.Tensor:
    """The chat template applied to one user turn, ready for the assistant's answer: ``[1, tokens]``."""
    if not isinstance(question, str) or not question.strip():
        raise LlmkitError(f"question: expected a non-empty string, got {question!r}")
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": question}
    ]
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    return encoded if hasattr(encoded, "dim") else encoded["input_ids"]


def chat_text(tokenizer: Any, question: str, system: str | None = None) -> str:
    """The same prompt as text: what the model actually reads, special tokens included."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": question}
    ]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


@dataclass(frozen=True)
class Rule:
    """A decoding rule. ``temperature == 0`` is greedy; ``top_k`` and ``top_p`` filter before sampling."""

    name: str
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0 or (self.top_k is not None and self.top_k < 1):
            raise LlmkitError(f"rule {self.name!r}: temperature must be >= 0 and top_k >= 1")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise LlmkitError(f"rule {self.name!r}: top_p must be in (0, 1], got {self.top_p}")


RULES: tuple[Rule, ...] = (
    Rule("greedy"),
    Rule("temperature 0.7", temperature=0.7),
    Rule("temperature 1.5", temperature=1.5),
    Rule("top-k 20", temperature=1.0, top_k=20),
    Rule("top-p 0.9", temperature=1.0, top_p=0.9),
)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Logits with all but the ``k`` largest set to ``-inf`` (ties at the k-th value kept)."""
    kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Logits outside the nucleus set to ``-inf``: the fewest most-likely tokens whose probability sums to
    at least ``p`` (the most likely token is always kept)."""
    import torch

    ordered, order = logits.sort(dim=-1, descending=True)
    before = ordered.softmax(-1).cumsum(-1) - ordered.softmax(-1)  # probability of the tokens ranked above
    drop_sorted = before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def next_token_probs(logits: torch.Tensor, rule: Rule) -> torch.Tensor:
    """The distribution ``rule`` samples the next token from, given the last position's ``logits`` ``[vocab]``.
    Greedy is a point mass on the arg-max."""
    import torch

    if rule.temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    scaled = logits.float() / rule.temperature
    if rule.top_k is not None:
        scaled = top_k_filter(scaled, rule.top_k)
    if rule.top_p is not None:
        scaled = top_p_filter(scaled, rule.top_p)
    return scaled.softmax(-1)


def last_logits(model: Any, input_ids: torch.Tensor) -> torch.Tensor:
    """The model's logits for the token after ``input_ids`` ``[1, T]``: ``[vocab]``, fp32."""
    import torch

    with torch.inference_mode():
        return model(input_ids=input_ids, use_cache=False, logits_to_keep=1).logits[0, -1].float()


def generate(
    model: Any,
    input_ids: torch.Tensor,  # [1, prompt tokens]
    rule: Rule,
    max_new_tokens: int = 32,
    seed: int = 0,  # the sampling generator's seed (unused by greedy)
    eos_token_id: int | None = None,  # stop after it; None: always max_new_tokens
    use_cache: bool = True,  # False recomputes the whole sequence for every new token
) -> torch.Tensor:
    """The new token ids ``[new]`` under ``rule``, one token at a time (batch 1)."""
    import torch

    if max_new_tokens < 1:
        raise LlmkitError(f"max_new_tokens: expected >= 1, got {max_new_tokens!r}")
    generator = torch.Generator().manual_seed(int(seed))
    ids, new, cache = input_ids, [], None
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            if use_cache:
                out = model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
                cache = out.cache
            else:
                seq = torch.cat([input_ids, *[t.view(1, 1) for t in new]], dim=1)
                out = model(input_ids=seq, use_cache=False, logits_to_keep=1)
            probs = next_token_probs(out.logits[0, -1], rule)
            token = (
                probs.argmax()
                if rule.temperature == 0
                else torch.multinomial(probs, 1, generator=generator)[0]
            )
            new.append(token)
            ids = token.view(1, 1)
            if eos_token_id is not None and int(token) == eos_token_id:
                break
    return torch.stack(new)
