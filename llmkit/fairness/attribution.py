"""Per-token attributions for a sequence classifier (notebook 10): Integrated Gradients written out, occlusion,
the deletion test that checks them, and the note shown as highlighted HTML.

**Integrated Gradients** (Sundararajan et al. 2017). For input embeddings ``x`` and a baseline ``b`` (here every
token but [CLS]/[SEP] replaced by [PAD]), token ``i``'s attribution is

    IG_i = sum_d (x_id - b_id) * mean over alpha of  d f(b + alpha (x - b)) / d x_id

with ``f`` the probability of the target class and the mean a midpoint Riemann sum over ``steps`` alphas. By
the gradient theorem the attributions sum to ``f(x) - f(b)`` (**completeness**) up to the sum's error:
:func:`integrated_gradients` returns both sides so the notebook can check it.

**Occlusion**: token ``i``'s attribution is ``f(x) - f(x without token i)``, one forward pass per token.

**Deletion test**: remove the ``k`` tokens with the largest attribution; the target probability should fall
more than when ``k`` random tokens are removed. If it does not, the attributions are not explaining the model.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmkit.core.errors import LlmkitError


@dataclass(frozen=True)
class Attribution:
    """One text's token attributions toward ``target``."""

    tokens: list[str]  # wordpieces, [CLS] and [SEP] included
    scores: np.ndarray  # [T] one score per token (0 on [CLS]/[SEP])
    target: int  # the class explained
    f_input: float  # probability of target on the text
    f_baseline: float  # ... on the baseline (IG) or nan (occlusion)
    ids: list[int]  # the token ids


def encode(tokenizer: Any, text: str, max_length: int = 128) -> list[int]:
    """Token ids of ``text`` ([CLS] ... [SEP]), truncated, unpadded."""
    if not isinstance(text, str) or not text.strip():
        raise LlmkitError(f"text: expected a non-empty string, got {text!r}")
    return list(tokenizer(text, truncation=True, max_length=max_length)["input_ids"])


def probabilities(model: Any, batch_ids: list[list[int]], pad_id: int = 0) -> np.ndarray:
    """``[n, k]`` class probabilities of token-id lists of any lengths (padded here), in one forward pass."""
    import torch

    width = max(len(ids) for ids in batch_ids)
    ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(batch_ids):
        ids[row, : len(seq)], mask[row, : len(seq)] = torch.tensor(seq), 1
    with torch.no_grad():
        return torch.softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1).numpy()


def integrated_gradients(
    model: Any, tokenizer: Any, text: str, target: int | None = None, steps: int = 16, max_length: int = 128
) -> Attribution:
    """Integrated Gradients of the target class's probability (None: the predicted class) per token."""
    import torch

    if steps < 1:
        raise LlmkitError(f"steps: expected at least 1, got {steps}")
    ids = encode(tokenizer, text, max_length)
    p = probabilities(model, [ids], tokenizer.pad_token_id)[0]
    target = int(p.argmax()) if target is None else int(target)
    special = set(tokenizer.all_special_ids)
    base_ids = [i if i in special else tokenizer.pad_token_id for i in ids]
    embed = model.get_input_embeddings()
    with torch.no_grad():
        x, b = embed(torch.tensor([ids]))[0], embed(torch.tensor([base_ids]))[0]  # [T, d]
    alphas = ((torch.arange(steps, dtype=torch.float32) + 0.5) / steps)[:, None, None]  # midpoints
    path = (b + alphas * (x - b)).detach().requires_grad_(True)  # [steps, T, d]
    mask = torch.ones(steps, len(ids), dtype=torch.long)
    probs = torch.softmax(model(inputs_embeds=path, attention_mask=mask).logits.float(), -1)[:, target]
    (grads,) = torch.autograd.grad(probs.sum(), path)  # [steps, T, d]
    scores = ((x - b) * grads.mean(0)).sum(-1).detach().numpy().astype(np.float64)  # [T]
    with torch.no_grad():
        one = torch.ones(1, len(ids), dtype=torch.long)
        f_base = torch.softmax(model(inputs_embeds=b[None], attention_mask=one).logits.float(), -1)[0, target]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    return Attribution(tokens, scores, target, float(p[target]), float(f_base), ids)


def occlusion(
    model: Any, tokenizer: Any, text: str, target: int | None = None, max_length: int = 128
) -> Attribution:
    """Occlusion: the drop in the target probability when each token alone is removed."""
    ids = encode(tokenizer, text, max_length)
    p = probabilities(model, [ids], tokenizer.pad_token_id)[0]
    target = int(p.argmax()) if target is None else int(target)
    special = set(tokenizer.all_special_ids)
    positions = [i for i, t in enumerate(ids) if t not in special]
    variants = [ids[:i] + ids[i + 1 :] for i in positions]
    drops = p[target] - probabilities(model, variants, tokenizer.pad_token_id)[:, target]
    scores = np.zeros(len(ids))
    scores[positions] = drops
    return Attribution(
        tokenizer.convert_ids_to_tokens(ids), scores, target, float(p[target]), float("nan"), ids
    )


def completeness_error(a: Attribution) -> float:
    """|sum of IG attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)|."""
    gap = a.f_input - a.f_baseline
    return float(abs(a.scores.sum() - gap) / max(abs(gap), 1e-12))


def deletion_drops(
    model: Any, tokenizer: Any, a: Attribution, k: int, random_draws: int = 5, seed: int = 0
) -> tuple[float, float]:
    """(drop in the target probability after removing the top-``k`` attributed tokens, mean drop after
    removing ``k`` random tokens over ``random_draws`` draws); special tokens are never removed."""
    special = set(tokenizer.all_special_ids)
    candidates = [i for i, t in enumerate(a.ids) if t not in special]
    if k < 1 or k >= len(candidates):
        raise LlmkitError(f"k: expected 1 <= k < {len(candidates)} (the text's tokens), got {k}")
    rng = np.random.default_rng(seed)
    top = sorted(candidates, key=lambda i: -a.scores[i])[:k]
    removals = [set(top)] + [
        set(rng.choice(candidates, size=k, replace=False).tolist()) for _ in range(random_draws)
    ]
    variants = [[t for i, t in enumerate(a.ids) if i not in gone] for gone in removals]
    drops = a.f_input - probabilities(model, variants, tokenizer.pad_token_id)[:, a.target]
    return float(drops[0]), float(drops[1:].mean())


def highlight_html(a: Attribution, title: str = "") -> str:
    """The text as HTML, each word shaded by its attribution (green toward the target class, red against);
    wordpieces are merged into words by summing their scores."""
    words: list[tuple[str, float]] = []
    for token, score in zip(a.tokens, a.scores, strict=True):
        if token in ("[CLS]", "[SEP]", "[PAD]"):
            continue
        if token.startswith("##") and words:
            words[-1] = (words[-1][0] + token[2:], words[-1][1] + float(score))
        else:
            words.append((token, float(score)))
    scale = max((abs(s) for _, s in words), default=0.0) or 1.0
    spans = []
    for word, score in words:
        alpha = min(1.0, abs(score) / scale)
        color = f"rgba(0,160,0,{alpha:.2f})" if score >= 0 else f"rgba(220,0,0,{alpha:.2f})"
        spans.append(f'<span style="background:{color}" title="{score:+.3f}">{html.escape(word)}</span>')
    head = f"<b>{html.escape(title)}</b><br>" if title else ""
    return f'<div style="line-height:1.8">{head}{" ".join(spans)}</div>'
