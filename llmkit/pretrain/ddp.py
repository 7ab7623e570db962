"""Notebook 02's pretraining as a script for ``torchrun``: the same :func:`llmkit.pretrain.training.train_lm`, run by
several processes with DistributedDataParallel (``Trainer`` wraps the model when it finds itself under
torchrun). Gloo on CPUs, NCCL on GPUs; one process per GPU, or per core group on a CPU machine::

    torchrun --nproc_per_node=2 -m llmkit.pretrain.ddp --kind clm --steps 200 --out outputs/ddp
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --nproc_per_node=8 -m llmkit.pretrain.ddp ...

Each process samples its own share of every batch (``--batch-size`` is the global batch), DDP averages the
gradients, so every rank takes the same optimizer step and ends with the same weights. Each rank writes
``weights-rank<r>.json`` (a SHA-256 of its weights) into ``--out`` so this can be checked; rank 0 also saves
the model and tokenizer with ``save_pretrained`` (safetensors) into ``--out/model``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="torchrun --nproc_per_node=N -m llmkit.pretrain.ddp", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--out", required=True, help="folder for the weight digests, TensorBoard logs and the model"
    )
    p.add_argument("--kind", choices=("clm", "mlm"), default="clm", help="causal (GPT-2) or masked (BERT) LM")
    p.add_argument("--steps", type=int, default=200, help="optimizer steps")
    p.add_argument("--batch-size", type=int, default=32, help="global batch in blocks (split over processes)")
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--block-len", type=int, default=128, help="tokens per block")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab-size", type=int, default=4096, help="WordPiece vocabulary trained on the corpus")
    p.add_argument(
        "--works", default="", help="comma-separated Shakespeare works to train on (default: all plays)"
    )
    p.add_argument("--val-work", default="hamlet", help="the held-out play for validation")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def weights_sha256(model) -> str:
    """A digest of every tensor in the state dict, in name order: equal digests mean equal weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch
    import torch.distributed as dist
    from transformers import PreTrainedTokenizerFast

    from llmkit.assets import corpora
    from llmkit.core import hardware
    from llmkit.core.params import parameter_count
    from llmkit.pretrain import lmdata, networks, tokenization, training

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    # one process per core group: never more threads than this process's share of the cores
    hardware.set_threads(workers=int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    texts = corpora.shakespeare_texts("plays")
    names = [w for w in args.works.split(",") if w] or [w for w in texts if w != args.val_work]
    train_texts = [texts[w] for w in names]
    tokenizer_dir = out / "tokenizer"
    if rank == 0:  # one process trains the vocabulary; the others wait and load it
        tokenization.train_wordpiece(train_texts, args.vocab_size).save_pretrained(tokenizer_dir)
    dist.barrier()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)

    corpus = lmdata.build_corpus(tokenizer, train_texts, [texts[args.val_work]], args.block_len)
    size = networks.ModelSize(args.hidden, args.layers, args.heads)
    model = networks.build_model(args.kind, tokenizer, size, args.block_len, seed=args.seed)
    train_config = training.TrainConfig(
        steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed
    )
    result = training.train_lm(
        model, corpus, args.kind, train_config, out, f"{args.kind}-ddp", evaluate_during=False
    )

    record = {
        "rank": rank,
        "world_size": world,
        "backend": backend,
        "sha256": weights_sha256(model),
        "parameters": parameter_count(model),
        "val_loss": result.final_val_loss,
        "tokens_per_second": result.tokens_per_second,
    }
    (out / f"weights-rank{rank}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if rank == 0:
        model.save_pretrained(out / "model")  # safetensors
        tokenizer.save_pretrained(out / "model")
        print(f"{args.kind}: {world} processes ({backend}), validation loss {result.final_val_loss:.3f}")
    dist.barrier()  # without it, gloo sometimes aborts while another rank is still exiting
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
