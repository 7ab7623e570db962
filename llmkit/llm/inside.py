"""Inside a Llama-family decoder (SmolLM2): its config in plain words, its parameters by component, and one
decoder layer computed by hand from the model's own weights (notebook 09, section 1).

The by-hand layer is the whole of a Llama block, written out so that every step can be read::

    x ──RMSNorm──► q, k, v ──RoPE(q, k)──► causal GQA attention ──o_proj──► + x  ─┐
    ┌──────────────────────────────────────────────────────────────────────────────┘
    h ──RMSNorm──► down(silu(gate(h)) * up(h)) ──► + h

:func:`layer_match` runs it beside the library's layer on the same input and reports the largest absolute
difference: the course's proof that the picture is the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import torch


def config_in_words(config: Any) -> list[tuple[str, str, str]]:
    """(name, value, what it means) for the settings that shape a Llama model, in the order a reader needs."""
    heads, kv = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    rope = (getattr(config, "rope_parameters", None) or {}).get(
        "rope_theta", getattr(config, "rope_theta", "?")
    )
    return [
        (
            "num_hidden_layers",
            str(config.num_hidden_layers),
            "decoder blocks stacked; each token passes all of them",
        ),
        ("hidden_size", str(config.hidden_size), "numbers that represent one token between blocks"),
        ("num_attention_heads", str(heads), f"query heads, each {head_dim} wide"),
        ("num_key_value_heads", str(kv), f"key/value heads: every {heads // kv} query heads share one (GQA)"),
        (
            "intermediate_size",
            str(config.intermediate_size),
            "width of the SwiGLU feed-forward inside each block",
        ),
        ("hidden_act", str(config.hidden_act), "the gate's activation: SwiGLU = silu(gate) * up"),
        ("rope_theta", str(rope), "RoPE base: positions enter as rotations of q and k, no position table"),
        ("rms_norm_eps", f"{config.rms_norm_eps:.0e}", "RMSNorm (no mean, no bias) before attention and MLP"),
        ("vocab_size", f"{config.vocab_size:,}", "tokens the tokenizer knows; one logit per token"),
        (
            "tie_word_embeddings",
            str(config.tie_word_embeddings),
            "the output layer reuses the input embedding",
        ),
        (
            "max_position_embeddings",
            f"{config.max_position_embeddings:,}",
            "longest context it was trained for",
        ),
    ]


def parameters_by_component(model: Any) -> dict[str, int]:
    """Parameters of a ``LlamaForCausalLM`` by component; the values add up to
    :func:`llmkit.core.params.parameter_count` (a tied output layer is counted once, in the embedding)."""
    from llmkit.core.params import parameter_count

    groups = {
        "embedding (tied with the output)": 0,
        "attention q,k,v,o": 0,
        "MLP gate,up,down": 0,
        "RMSNorm": 0,
    }
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if "embed_tokens" in name or "lm_head" in name:
            key = (
                "embedding (tied with the output)"
                if model.config.tie_word_embeddings
                else "embedding and output"
            )
        elif ".self_attn." in name:
            key = "attention q,k,v,o"
        elif ".mlp." in name:
            key = "MLP gate,up,down"
        elif "norm" in name:
            key = "RMSNorm"
        else:  # pragma: no cover - a model with another part
            key = "other"
        groups[key] = groups.get(key, 0) + p.numel()
    total = parameter_count(model)
    if sum(groups.values()) != total:  # pragma: no cover - a parameter counted twice or missed
        raise LlmkitError(f"parameters_by_component: groups sum to {sum(groups.values())}, model has {total}")
    return groups


# --------------------------------------------------------------------------------- the layer, by hand


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """``weight * x / sqrt(mean(x^2) + eps)`` over the last dimension (no mean subtracted, no bias)."""
    import torch

    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope_cos_sin(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``[tokens, head_dim]``: pair ``i`` of every head turns by ``position * theta^(-2i/head_dim)``."""
    import torch

    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # [head_dim/2]
    angles = positions.float()[:, None] * inv_freq[None, :]  # [tokens, head_dim/2]
    angles = torch.cat([angles, angles], dim=-1)  # [tokens, head_dim]: Llama rotates halves, not neighbours
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ``[heads, tokens, head_dim]``: first half paired with second half (Llama's layout)."""
    import torch

    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def causal_gqa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Softmax attention with the causal mask; ``q`` ``[heads, T, d]``, ``k``/``v`` ``[kv_heads, T, d]``.

    Grouped-query attention: query head ``h`` reads key/value head ``h // (heads / kv_heads)``.
    Returns ``[heads, T, d]``.
    """
    import torch

    heads, kv_heads, tokens, d = q.shape[0], k.shape[0], q.shape[1], q.shape[2]
    if heads % kv_heads:
        raise LlmkitError(f"attention: {heads} query heads do not split into {kv_heads} key/value groups")
    group = heads // kv_heads
    k, v = k.repeat_interleave(group, dim=0), v.repeat_interleave(group, dim=0)  # [heads, T, d]
    scores = q @ k.transpose(-1, -2) / d**0.5  # [heads, T, T]
    future = torch.ones(tokens, tokens, dtype=torch.bool).triu(1)  # True above the diagonal: not yet seen
    scores = scores.masked_fill(future, float("-inf"))
    return scores.softmax(dim=-1) @ v


def swiglu(x: torch.Tensor, gate: torch.Tensor, up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """``down(silu(x @ gate.T) * (x @ up.T))`` with the weights as ``nn.Linear`` stores them ([out, in])."""
    import torch

    return (torch.nn.functional.silu(x @ gate.T) * (x @ up.T)) @ down.T


def decoder_layer_by_hand(layer: Any, x: torch.Tensor, config: Any) -> torch.Tensor:
    """One Llama decoder layer from ``layer``'s weights on ``x`` ``[tokens, hidden]`` at positions 0..T-1."""
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    d = getattr(config, "head_dim", None) or config.hidden_size // heads
    theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta") or config.rope_theta
    att, mlp = layer.self_attn, layer.mlp
    tokens = x.shape[0]
    h = rms_norm(x, layer.input_layernorm.weight, config.rms_norm_eps)  # [T, hidden]
    q = (h @ att.q_proj.weight.T).view(tokens, heads, d).transpose(0, 1)  # [heads, T, d]
    k = (h @ att.k_proj.weight.T).view(tokens, kv_heads, d).transpose(0, 1)  # [kv_heads, T, d]
    v = (h @ att.v_proj.weight.T).view(tokens, kv_heads, d).transpose(0, 1)
    import torch

    cos, sin = rope_cos_sin(torch.arange(tokens), d, float(theta))
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    mixed = causal_gqa_attention(q, k, v).transpose(0, 1).reshape(tokens, heads * d)  # [T, heads*d]
    x = x + mixed @ att.o_proj.weight.T
    h = rms_norm(x, layer.post_attention_layernorm.weight, config.rms_norm_eps)
    return x + swiglu(h, mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj.weight)


@dataclass(frozen=True)
class LayerMatch:
    """The by-hand layer against the library's, on the same hidden states."""

    layer_index: int
    tokens: int
    max_abs_diff: float  # largest |by hand - library| over every token and dimension
    output_scale: float  # largest |library output|, to read the difference against


def layer_match(model: Any, input_ids: torch.Tensor, layer_index: int = 0) -> LayerMatch:
    """Run ``model`` on ``input_ids`` ``[1, T]``, catch layer ``layer_index``'s input and output with a hook,
    recompute the output with :func:`decoder_layer_by_hand`, and compare."""
    import torch

    layers = model.model.layers
    if not 0 <= layer_index < len(layers):
        raise LlmkitError(f"layer_index: expected 0..{len(layers) - 1}, got {layer_index!r}")
    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise LlmkitError(f"input_ids: expected shape [1, tokens], got {list(input_ids.shape)}")
    caught: dict[str, torch.Tensor] = {}

    def hook(module: Any, args: tuple, kwargs: dict, output: Any) -> None:
        caught["in"] = (args[0] if args else kwargs["hidden_states"]).detach()
        caught["out"] = (output[0] if isinstance(output, tuple) else output).detach()

    handle = layers[layer_index].register_forward_hook(hook, with_kwargs=True)
    try:
        with torch.inference_mode():
            model(input_ids=input_ids, use_cache=False)
            mine = decoder_layer_by_hand(layers[layer_index], caught["in"][0].float(), model.config)
    finally:
        handle.remove()
    theirs = caught["out"][0].float()
    return LayerMatch(
        layer_index, int(input_ids.shape[1]), float((mine - theirs).abs().max()), float(theirs.abs().max())
    )
