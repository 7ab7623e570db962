"""Compute: training FLOPs, throughput against the machine's matmul peak, and the mini scaling study
(notebook 02, part 3).

**Counting FLOPs.** Nearly all of a transformer's arithmetic is matrix products with its weights. A weight
matrix with ``N`` entries costs ``2N`` FLOPs per token forward (a multiply and an add per entry) and ``4N``
backward (the gradient for the input and for the weight), so training costs ``6N`` per token (Kaplan et
al. 2020). ``N`` here is every matmul weight *including the vocabulary head* (tied to the input embedding
or not, it is a ``[hidden, vocab]`` product per token, and at these sizes one of the largest), but not
the embedding lookup, which is indexing, not arithmetic. Attention adds its two ``[tokens x tokens]``
products, ``QK^T`` and ``AV``: ``4 * seq_len * hidden`` per token and layer forward, ``12 *`` that with
the backward pass. A masked LM that runs its head only on the masked positions pays the head on those
alone. :func:`training_flops` is that count; ``tests/test_pretrain.py`` checks it against torch's own
FLOP counter (exactly, with eager attention: the counter cannot see inside the fused CPU kernel).

**Throughput** is tokens/s and, divided by the fp32 matmul rate of the same machine
(:func:`llmkit.core.machine.matmul_gflops`), a fraction of peak: a number that means the same on a laptop and a
server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from llmkit.pretrain.training import TrainResult


@dataclass(frozen=True)
class MatmulParams:
    """The weights that take part in matrix products, split where the FLOPs differ."""

    body: int  # attention and feed-forward weights: applied at every position
    head: int  # vocabulary head (and BERT's head transform): applied where the loss is
    layers: int
    hidden: int


def matmul_params(model: PreTrainedModel) -> MatmulParams:
    """Count the matmul weights of a BERT or GPT-2 style model (biases, norms and lookups are left out)."""
    from torch import nn

    lookups = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    out = model.get_output_embeddings()
    head = out.weight.numel()  # [vocab, hidden], whether or not it is tied to the input embedding
    body = 0
    for name, p in model.named_parameters(remove_duplicate=True):
        if p.ndim != 2 or id(p) in lookups or p is out.weight:
            continue
        if name.startswith("cls."):  # BERT's head transform (dense hidden x hidden) runs with the head
            head += p.numel()
        else:
            body += p.numel()
    config = model.config
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    hidden = getattr(config, "hidden_size", None) or config.n_embd
    return MatmulParams(body, head, int(layers), int(hidden))


def training_flops(
    model: PreTrainedModel,
    tokens: int,  # input tokens processed (steps x batch x seq_len)
    seq_len: int,  # tokens per sequence: the attention span
    head_tokens: int | None = None,  # positions the vocabulary head runs on; default every token
) -> float:
    """FLOPs of training ``model`` on ``tokens`` tokens: ``6 N_body T + 6 N_head T_head + 12 L s d T``."""
    p = matmul_params(model)
    head_tokens = tokens if head_tokens is None else head_tokens
    return 6.0 * p.body * tokens + 6.0 * p.head * head_tokens + 12.0 * p.layers * seq_len * p.hidden * tokens


def result_flops(result: TrainResult, seq_len: int) -> float:
    """:func:`training_flops` of a finished :class:`~llmkit.pretrain.training.TrainResult`."""
    return training_flops(result.model, result.tokens, seq_len, result.head_tokens)


@dataclass(frozen=True)
class Throughput:
    """How fast a training run used the machine."""

    tokens_per_second: float
    gflops_per_second: float  # achieved: training FLOPs / time inside optimizer steps
    peak_gflops: float  # fp32 matmul peak measured on this machine
    fraction_of_peak: float


def throughput(result: TrainResult, seq_len: int, peak_gflops: float) -> Throughput:
    """Tokens/s and achieved GFLOP/s of ``result`` (evaluation time excluded), and their share of the peak."""
    achieved = result_flops(result, seq_len) / result.step_seconds / 1e9
    return Throughput(result.tokens_per_second, achieved, peak_gflops, achieved / peak_gflops)


def choose_threads(max_threads: int, repeats: int = 3) -> int:
    """Set torch to the thread count in ``1..max_threads`` that runs a small training-like workload fastest
    now, and return it.

    On a shared 2-core machine, two threads while another process holds a core ran a tiny model's step
    ~10x slower than one thread (every small op waits at a barrier for the descheduled thread); on an idle
    machine two threads are ~1.7x faster. Only a measurement tells which case this is.
    """
    import torch

    from llmkit.core.timing import median_ms

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1024, 128, generator=generator, requires_grad=True)  # [tokens, hidden]
    w = torch.randn(128, 512, generator=generator, requires_grad=True)  # [hidden, 4 hidden]

    def work() -> None:
        for _ in range(4):
            ((x @ w).softmax(-1) @ w.T).sum().backward()  # many small ops, as in a tiny transformer

    ms = {}
    for n in range(1, max(1, max_threads) + 1):
        torch.set_num_threads(n)
        ms[n] = median_ms(work, repeats, warmup=1)
    best = min(ms, key=ms.get)
    torch.set_num_threads(best)
    return best


def monotone_run(values: Sequence[float]) -> int:
    """The most consecutive values that strictly decrease, e.g. validation losses ordered by model size.

    ``[5.0, 4.6, 4.4] -> 3`` (every larger model is better); ``[5.0, 4.6, 4.7] -> 2``; ``[] -> 0``.
    """
    best = run = min(len(values), 1)
    for before, after in zip(values, values[1:], strict=False):
        run = run + 1 if after < before else 1
        best = max(best, run)
    return best


# ------------------------------------------------------------------------------------------ figures


def plot_training(
    results: Mapping[str, TrainResult],  # label -> run
    unigram_ppl: Mapping[str, float],  # label -> that run's unigram baseline perplexity
    title: str = "Pretraining from scratch",
) -> Any:
    """Two panels: train and validation loss per step, and validation perplexity against the unigram line."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_ppl) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (label, r) in enumerate(results.items()):
        color = f"C{i}"
        ax_loss.plot(r.log_steps, r.train_loss, color=color, linestyle="--", label=f"{label} train")
        ax_loss.plot(r.eval_steps, r.val_loss, color=color, marker="o", label=f"{label} validation")
        ax_ppl.plot(r.eval_steps, np.exp(r.val_loss), color=color, marker="o", label=f"{label} validation")
        if label in unigram_ppl:
            ax_ppl.axhline(unigram_ppl[label], color=color, linestyle=":", label=f"{label} unigram baseline")
    ax_loss.set(
        title=f"{title}: loss", xlabel="optimizer step", ylabel="cross-entropy (nats per target token)"
    )
    ax_ppl.set(
        title=f"{title}: validation perplexity", xlabel="optimizer step", ylabel="perplexity (log scale)"
    )
    ax_ppl.set_yscale("log")
    for ax in (ax_loss, ax_ppl):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_scaling(
    flops: Sequence[float],  # training FLOPs of each model
    val_loss: Sequence[float],  # its final validation loss
    labels: Sequence[str],  # e.g. "hidden 64 (0.6M params)"
    title: str = "Mini scaling study: same tokens, bigger models",
) -> Any:
    """Validation loss against training FLOPs on log-log axes, one point per model size."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(flops, val_loss, color="C0", marker="o")
    for x, y, label in zip(flops, val_loss, labels, strict=True):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 6), fontsize="small")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.2f"))  # a narrow log range: 5.50, not 5.5 x 10^0
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%.2f"))
    ax.set(
        title=title, xlabel="training compute (FLOPs, log scale)", ylabel="validation loss (nats, log scale)"
    )
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig
