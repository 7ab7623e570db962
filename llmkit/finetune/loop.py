"""Fine-tuning a pretrained encoder for text classification, one explicit loop (notebook 03), and the cached
fine-tuned MiniLM that notebooks 05, 06, 08 and the case study use as their teacher."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from llmkit.core.batches import longest_first
from llmkit.core.hardware import autocast
from llmkit.finetune.batching import EncodedTexts, collator, length_grouped_batches, random_batches

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from llmkit.finetune.tasks import TextTask


# ---------------------------------------------------------------------------------------------- training


@dataclass
class FinetuneConfig:
    """The knobs of one fine-tuning run (the explicit loop and Trainer read the same ones)."""

    epochs: int = 5
    batch_size: int = 16
    learning_rate: float = 5e-5  # peak, after a linear warm-up; then linear decay to 0
    warmup: float = 0.1  # fraction of the steps spent warming up
    weight_decay: float = 0.01  # AdamW; not applied to biases and LayerNorm weights
    max_grad_norm: float = 1.0  # gradient clipping, as Trainer does by default
    group_by_length: bool = True  # length-grouped batches (else plain shuffled ones)
    seed: int = 0  # data order and dropout (the head's initialization: see build_classifier)
    bf16: bool = False  # autocast to bfloat16 (only where llmkit.core.hardware.bf16_supported())
    train_head_only: bool = False  # freeze the encoder: a linear probe on its [CLS] features
    eval_batch_size: int = 64


@dataclass
class FinetuneResult:
    """What a training run measured."""

    model: Any  # the fine-tuned PreTrainedModel
    step_loss: list[float] = field(default_factory=list)  # training loss of every optimizer step
    epoch_loss: list[float] = field(default_factory=list)  # mean training loss of each epoch
    eval_accuracy: list[float] = field(default_factory=list)  # on eval_ds after each epoch
    step_seconds: float = 0.0  # wall time inside training steps only (no evaluation, no collation)
    steps: int = 0
    examples: int = 0  # training examples processed (epochs x train size)
    tokens: int = 0  # real (non-padding) tokens processed
    padded_tokens: int = 0  # positions processed, padding included
    lengths: list[int] = field(default_factory=list)  # real length of every example processed (FLOPs)

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.step_seconds if self.step_seconds else float("nan")


def build_classifier(name: str = "minilm", num_labels: int = 2, seed: int = 0) -> PreTrainedModel:
    """A pretrained encoder with a new ``num_labels`` head, initialized from ``seed`` (repeatable runs)."""
    import torch

    from llmkit.assets.models import load_classifier

    torch.manual_seed(seed)
    return load_classifier(name, num_labels=num_labels)


def freeze_encoder(model: PreTrainedModel) -> int:
    """Train only the classification head (a linear probe); return the trainable parameter count."""
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(("classifier", "score"))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class LoopConfig(Protocol):
    """What :func:`fit` reads of a run's config (:class:`FinetuneConfig` and ``kdtrain.DistillConfig`` have it)."""

    epochs: int
    batch_size: int
    learning_rate: float
    warmup: float
    weight_decay: float
    max_grad_norm: float
    seed: int
    bf16: bool


def make_optimizer(model: PreTrainedModel, cfg: LoopConfig) -> Any:
    """AdamW over the trainable parameters, with weight decay on the weight matrices only (as Trainer).

    ``fused=True`` updates every parameter in one kernel: on MiniLM it took 25 ms a step here against
    130 ms for the default per-tensor loop (Trainer uses the fused kernel too).
    """
    import torch

    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 else decay).append(p)  # biases and LayerNorm weights are 1-D
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=True)


@dataclass
class Steps:
    """What :func:`fit` measured: the loss of every step and of every epoch, and the time spent in steps."""

    step_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    steps: int = 0
    step_seconds: float = 0.0  # forward, backward and update only: no batch preparation, no evaluation


def fit(
    model: PreTrainedModel,
    lengths: Sequence[int],  # real length of each training row (length-grouped batches)
    batch_of: Callable[[list[int]], dict[str, Any]],  # row indices -> a padded batch on the model's device
    loss_of: Callable[[dict[str, Any]], Any],  # batch -> the scalar loss tensor to minimize
    cfg: LoopConfig,
    *,
    group_by_length: bool = True,  # length-grouped batches (else plain shuffled ones)
    progress: bool = True,  # a tqdm bar per epoch
    log_dir: str | Path | None = None,  # TensorBoard: loss and learning rate per step
    tag: str = "train",  # the TensorBoard scalars' prefix and the progress bar's label
    after_epoch: Callable[[int], Mapping[str, float]] | None = None,  # scalars to log after each epoch
) -> Steps:
    """The training loop every fine-tuning and distillation run shares (notebook 03's lesson).

    Each epoch draws a new batch order from ``cfg.seed``; each step pads a batch (``batch_of``), takes
    the loss under bf16 autocast where ``cfg.bf16`` (``loss_of``), backpropagates, clips the gradient
    norm, steps AdamW (:func:`make_optimizer`) and a linear warm-up-then-decay schedule. ``model`` is
    trained in place and left in eval mode.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    device = next(model.parameters()).device.type
    torch.manual_seed(cfg.seed)  # dropout masks
    optimizer = make_optimizer(model, cfg)
    total = cfg.epochs * math.ceil(len(lengths) / cfg.batch_size)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(cfg.warmup * total), total)
    done = Steps()
    writer = None
    if log_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(log_dir))
    for epoch in range(cfg.epochs):
        seed = cfg.seed * 1000 + epoch  # a new order every epoch, the same every run
        if group_by_length:
            batches = length_grouped_batches(lengths, cfg.batch_size, seed)
        else:
            batches = random_batches(len(lengths), cfg.batch_size, seed)
        model.train()  # dropout on
        bar = tqdm(batches, desc=f"{tag} {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
        for indices in bar:
            batch = batch_of(indices)
            start = time.perf_counter()
            with autocast(cfg.bf16, device):
                loss = loss_of(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            done.step_seconds += time.perf_counter() - start
            done.step_loss.append(float(loss.detach()))
            done.steps += 1
            bar.set_postfix(loss=f"{done.step_loss[-1]:.3f}")
            if writer is not None:
                writer.add_scalar(f"{tag}/loss", done.step_loss[-1], done.steps)
                writer.add_scalar(f"{tag}/learning_rate", scheduler.get_last_lr()[0], done.steps)
        done.epoch_loss.append(float(np.mean(done.step_loss[-len(batches) :])))
        scalars = after_epoch(epoch) if after_epoch is not None else {}
        for name, value in scalars.items():
            if writer is not None:
                writer.add_scalar(name, value, done.steps)
    if writer is not None:
        writer.close()
    model.eval()
    return done


def train_classifier(
    model: PreTrainedModel,
    train_ds: EncodedTexts,
    eval_ds: EncodedTexts | None = None,  # accuracy after each epoch, if given
    cfg: FinetuneConfig | None = None,
    progress: bool = True,  # a tqdm bar per epoch
    log_dir: str
    | Path
    | None = None,  # TensorBoard: loss and learning rate per step, eval accuracy per epoch
) -> FinetuneResult:
    """Fine-tune ``model`` on ``train_ds``: :func:`fit` (the explicit PyTorch loop of notebook 03) with the
    cross-entropy of the model's own head as the loss.

    Works for any training size (notebook 04 calls it from 16 examples up). The model is trained in
    place and returned in eval mode inside the result. With ``log_dir`` the run is logged to TensorBoard
    with ``torch.utils.tensorboard.SummaryWriter`` (see :func:`tensorboard_dir`).
    """
    cfg = cfg or FinetuneConfig()
    device = next(model.parameters()).device.type
    pad = collator(train_ds.tokenizer)
    if cfg.train_head_only:
        freeze_encoder(model)
    result = FinetuneResult(model)

    def batch_of(indices: list[int]) -> dict[str, Any]:
        # input_ids, attention_mask [batch, tokens] padded to the longest text; labels [batch]
        batch = pad([train_ds[i] for i in indices])
        result.examples += len(indices)
        result.lengths += [train_ds.lengths[i] for i in indices]
        result.padded_tokens += int(batch["input_ids"].numel())
        return {k: v.to(device) for k, v in batch.items()}

    def cross_entropy(batch: dict[str, Any]) -> Any:
        return model(**batch).loss  # labels are passed, so the loss is the cross-entropy

    def evaluate(epoch: int) -> dict[str, float]:
        if eval_ds is None:
            return {}
        predicted = predict_proba(model, eval_ds, cfg.eval_batch_size).argmax(axis=1)
        result.eval_accuracy.append(float((predicted == np.asarray(eval_ds.labels)).mean()))
        return {"eval/accuracy": result.eval_accuracy[-1]}

    done = fit(model, train_ds.lengths, batch_of, cross_entropy, cfg, group_by_length=cfg.group_by_length,
               progress=progress, log_dir=log_dir, tag="train", after_epoch=evaluate)  # fmt: skip
    result.step_loss, result.epoch_loss, result.steps = done.step_loss, done.epoch_loss, done.steps
    result.step_seconds, result.tokens = done.step_seconds, sum(result.lengths)
    return result


def predict_proba(
    model: PreTrainedModel,
    ds: EncodedTexts,
    batch_size: int = 64,
    bf16: bool = False,  # autocast to bfloat16 (only where llmkit.core.hardware.bf16_supported())
) -> np.ndarray:
    """Class probabilities ``[len(ds), num_labels]``: eval mode, ``torch.no_grad()``, softmax of ``.logits``.

    Texts are run longest first (little padding) and the rows put back in the dataset's order.
    """
    import torch

    device = next(model.parameters()).device.type
    pad = collator(ds.tokenizer)
    probs = np.empty((len(ds), model.config.num_labels), dtype=np.float64)
    model.eval()  # dropout off
    with torch.no_grad():  # no graph kept: less memory, faster
        for rows in longest_first(ds.lengths, batch_size):
            batch = pad([{k: v for k, v in ds[int(i)].items() if k != "labels"} for i in rows])
            with autocast(bf16, device):
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits  # [batch, num_labels]
            probs[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return probs


# ----------------------------------------------------------------------------------------------- Trainer


def tensorboard_dir(run_dir: str | Path, name: str) -> Path:
    """Where :func:`train_with_trainer` logs run ``name``: ``<run_dir>/tensorboard/<name>``."""
    return Path(run_dir) / "tensorboard" / name


# ----------------------------------------------------------------------------------------- the teacher


def finetuned_minilm(
    task_name: str
    | TextTask = "diabetes_notes",  # one of llmkit.finetune.tasks.TASKS, or any TextTask (an analyst's)
    n_train: int = 1500,  # labeled training texts (a stratified subsample; the test split is untouched)
    epochs: int = 2,
    seed: int = 0,  # subsample, head initialization, data order, dropout
    bf16: bool | None = None,  # autocast training to bf16; None -> where hardware.bf16_supported()
    learning_rate: float = 1e-4,  # notebook 03's rate for the notes
    max_length: int = 128,  # tokens kept per training text
    name: str = "minilm",  # the encoder to fine-tune (a local folder works too, as in the tests)
    cache: bool = True,  # reuse $LLMKIT_CACHE/finetuned/<key>; False retrains and overwrites it
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict[str, Any]]:
    """MiniLM fine-tuned on ``task_name`` with notebook 03's loop, built once and cached as safetensors.

    The cache key hashes every setting, so notebooks 05, 06, 08 and the case study share one teacher
    when they ask for the same one; for a :class:`~llmkit.finetune.tasks.TextTask` it also hashes the training
    rows' texts and labels. ``info`` holds the settings, ``epoch_loss``, training ``seconds``, the
    ``folder`` and ``cached`` (True when loaded). The model is returned in eval mode.
    """
    from llmkit.assets.models import load_classifier, load_tokenizer
    from llmkit.core.hardware import bf16_supported
    from llmkit.core.io import cached_folder
    from llmkit.finetune import tasks

    bf16 = bf16_supported() if bf16 is None else bool(bf16)
    cfg = FinetuneConfig(epochs=epochs, learning_rate=learning_rate, seed=seed, bf16=bf16)
    given = task_name if isinstance(task_name, tasks.TextTask) else None
    settings = {
        "name": name,
        "task": given.name if given else task_name,
        "n_train": n_train,
        "max_length": max_length,
        **asdict(cfg),
    }
    rows = []  # an analyst's table: its training rows are part of the key
    if given is not None:
        rows = [f"{y}\t{t}" for t, y in zip(given.texts("train"), given.labels("train"), strict=True)]
    entry = cached_folder("finetuned", settings, rows, info_name="finetune_info.json", cache=cache)
    with entry:  # a build that raises (an interrupted cell too) gives up the entry's lock
        folder = str(entry.folder)
        if (saved := entry.found()) is not None:
            model = load_classifier(folder, num_labels=len(saved["label_names"])).eval()
            return model, load_tokenizer(folder), {**saved, "cached": True, "folder": folder}

        task = given or tasks.load_task(str(task_name))
        if n_train < len(task.split("train")):
            task = tasks.subsample(task, n_train, seed=seed)
        tokenizer = load_tokenizer(name)
        train = tasks.encode_task(tokenizer, task, "train", max_length)
        model = build_classifier(name, num_labels=task.num_labels, seed=seed)
        start = time.perf_counter()
        result = train_classifier(model, train, cfg=cfg, progress=False)
        info = {
            **settings,
            "key": entry.key,
            "label_names": list(task.label_names),
            "epoch_loss": result.epoch_loss,
            "seconds": round(time.perf_counter() - start, 1),
        }
        entry.save(lambda staging: save_classifier(model, tokenizer, staging), info)
        return model.eval(), tokenizer, {**info, "cached": False, "folder": folder}


# ----------------------------------------------------------------------------------- safetensors files


def save_classifier(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    folder: str | Path,  # replaced as a whole if it exists
    files: Mapping[str, str] | None = None,  # extra text files to put beside the weights, name -> text
) -> Path:
    """A classifier for deployment, written atomically (:func:`llmkit.assets.models.save_pretrained_folder`)."""
    from llmkit.assets.models import save_pretrained_folder

    return save_pretrained_folder(model, tokenizer, folder, dict(files or {}))
