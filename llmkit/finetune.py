"""Fine-tuning a pretrained encoder for text classification (notebook 03; notebook 04 reuses every verb).

The recipe, top to bottom:

1. **Tasks** (:func:`load_task`): texts, integer labels and splits -- Drugs.com sentiment and condition,
   and the synthetic diabetes notes. :func:`subsample` draws a stratified training subset of any size
   (notebook 04's data-efficiency curves).
2. **Encoding and batching** (:mod:`llmkit.batching`, :func:`encode_task`): tokenize once without
   padding, pad each batch to its longest text, group texts of similar length.
3. **The training loop, by hand** (:func:`train_classifier`): labels passed so the model returns a
   loss, ``.logits`` for predictions, evaluation under ``torch.no_grad()`` -- each a bug of the seed's
   snippet, fixed. ``train_head_only`` freezes the encoder (a linear probe, notebook 04).
4. **The same with** ``Trainer`` (:func:`train_with_trainer`), logged to TensorBoard.
5. **Prediction** (:func:`predict_proba`): class probabilities ``[n, k]`` for :mod:`llmkit.evaluate`.

FLOPs, timing and the padding comparison are in :mod:`llmkit.throughput`; the TF-IDF baseline is in
:mod:`llmkit.baselines`. torch and transformers load inside the functions, so importing this is cheap.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.batching import EncodedTexts, collator, encode, length_grouped_batches, random_batches
from llmkit.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

TASKS: tuple[str, ...] = ("drug_sentiment", "drug_condition", "diabetes_notes")

# ------------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class TextTask:
    """A text classification task: one table of ``text``, ``label`` (0..k-1) and ``split``."""

    name: str
    frame: pd.DataFrame  # columns text, label, split ("train", "test", maybe "validation"), maybe more
    label_names: tuple[str, ...]  # label_names[i] is what label i means

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def split(self, split: str) -> pd.DataFrame:
        rows = self.frame[self.frame["split"] == split]
        if rows.empty:
            have = ", ".join(sorted(self.frame["split"].unique()))
            raise LlmkitError(f"task {self.name!r}: no rows in split {split!r}; it has: {have}")
        return rows

    def texts(self, split: str) -> list[str]:
        return self.split(split)["text"].tolist()

    def labels(self, split: str) -> np.ndarray:
        return self.split(split)["label"].to_numpy(dtype=np.int64)

    def majority_accuracy(self, split: str = "test") -> float:
        """Accuracy of always predicting the most common *training* label: the floor to beat."""
        majority = np.bincount(self.labels("train"), minlength=self.num_labels).argmax()
        return float((self.labels(split) == majority).mean())


def _drug_frame() -> pd.DataFrame:
    import pandas as pd

    from llmkit.data.real import drug_reviews

    parts = [drug_reviews(s).assign(split=s) for s in ("train", "test")]
    return pd.concat(parts, ignore_index=True).rename(columns={"review": "text"})


def load_task(name: str, top_conditions: int = 4) -> TextTask:
    """One of :data:`TASKS`, ready to encode.

    * ``drug_sentiment``: Drugs.com reviews, 0 = negative (1-4 stars), 1 = positive (7-10); neutral
      (5-6) dropped: 546 train / 343 test, majority 0.723. A hard, small, real task.
    * ``drug_condition``: the reviews of the ``top_conditions`` most common conditions in the training
      split; the label is which condition the review is about.
    * ``diabetes_notes``: the synthetic notes (train 3000 / validation 1000 / test 1000), 1 = diabetes;
      best achievable accuracy 0.95 (5% label noise). Column ``shifted`` marks the test notes written
      in paraphrases the training notes never use.
    """
    from llmkit.data.tables import validate_frame

    if name == "drug_sentiment":
        df = _drug_frame()
        df = df[df["rating"] != "neutral"].assign(label=lambda d: (d["rating"] == "positive").astype("int64"))
        names: tuple[str, ...] = ("negative", "positive")
    elif name == "drug_condition":
        if not isinstance(top_conditions, int) or top_conditions < 2:
            raise LlmkitError(f"top_conditions: expected an integer >= 2, got {top_conditions!r}")
        df = _drug_frame()
        names = tuple(df[df["split"] == "train"]["condition"].value_counts().index[:top_conditions])
        df = df[df["condition"].isin(names)].assign(label=lambda d: d["condition"].map(names.index))
    elif name == "diabetes_notes":
        from llmkit.data.synth.clinical_notes import load_diabetes_notes

        df = load_diabetes_notes().rename(columns={"note": "text"})
        names = ("no diabetes", "diabetes")
    else:
        raise LlmkitError(f"task: expected one of {', '.join(TASKS)}, got {name!r}")
    extra = ["shifted"] if name == "diabetes_notes" else []  # 1 = a test note in unseen paraphrases
    df = df[["text", "label", "split", *extra]].reset_index(drop=True)
    validate_frame(df, name=name, text_column="text", label_column="label", split_column="split")
    return TextTask(name, df, names)


def subsample(task: TextTask, n: int, split: str = "train", seed: int = 0) -> TextTask:
    """The task with only ``n`` rows of ``split``, stratified by label and seeded; other splits unchanged.

    Notebook 04's data-efficiency curves call it with n = 16, 32, ...; each class keeps its share.
    """
    from sklearn.model_selection import train_test_split

    rows = task.split(split)
    if not isinstance(n, int) or not task.num_labels <= n <= len(rows):
        raise LlmkitError(
            f"n: expected an integer in [{task.num_labels}, {len(rows)}] for {split!r}, got {n!r}"
        )
    if n == len(rows):
        return task
    keep, _ = train_test_split(rows.index, train_size=n, stratify=rows["label"], random_state=seed)
    dropped = rows.index.difference(keep)
    return replace(task, frame=task.frame.drop(index=dropped))


def encode_task(
    tokenizer: PreTrainedTokenizerBase, task: TextTask, split: str, max_length: int = 128
) -> EncodedTexts:
    """:func:`encode` of one split of ``task``."""
    return encode(tokenizer, task.texts(split), task.labels(split), max_length)


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
    bf16: bool = False  # autocast to bfloat16 (only where llmkit.throughput.bf16_supported())
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

    from llmkit.assets import load_classifier

    torch.manual_seed(seed)
    return load_classifier(name, num_labels=num_labels)


def freeze_encoder(model: PreTrainedModel) -> int:
    """Train only the classification head (a linear probe); return the trainable parameter count."""
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(("classifier", "score"))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _optimizer(model: PreTrainedModel, cfg: FinetuneConfig) -> Any:
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


def _autocast(enabled: bool, device: str) -> Any:
    import torch

    return torch.autocast(device, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


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
    """Fine-tune ``model`` on ``train_ds`` with an explicit PyTorch loop (the lesson of notebook 03).

    Works for any training size (notebook 04 calls it from 16 examples up). The model is trained in
    place and returned in eval mode inside the result. With ``log_dir`` the run is logged to TensorBoard
    with ``torch.utils.tensorboard.SummaryWriter`` (see :func:`tensorboard_dir`).
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    cfg = cfg or FinetuneConfig()
    device = next(model.parameters()).device.type
    torch.manual_seed(cfg.seed)  # dropout masks
    pad = collator(train_ds.tokenizer)
    if cfg.train_head_only:
        freeze_encoder(model)
    optimizer = _optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(train_ds) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(cfg.warmup * total), total)
    result = FinetuneResult(model)
    writer = None
    if log_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(log_dir))
    for epoch in range(cfg.epochs):
        seed = cfg.seed * 1000 + epoch  # a new order every epoch, the same every run
        if cfg.group_by_length:
            batches = length_grouped_batches(train_ds.lengths, cfg.batch_size, seed)
        else:
            batches = random_batches(len(train_ds), cfg.batch_size, seed)
        model.train()  # dropout on
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
        for indices in bar:
            # input_ids, attention_mask [batch, tokens] padded to the longest text; labels [batch]
            batch = pad([train_ds[i] for i in indices])
            batch = {k: v.to(device) for k, v in batch.items()}
            start = time.perf_counter()
            with _autocast(cfg.bf16, device):
                out = model(**batch)  # labels are passed, so out.loss is the cross-entropy
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            result.step_seconds += time.perf_counter() - start
            result.step_loss.append(float(out.loss.detach()))
            result.steps += 1
            result.examples += len(indices)
            result.lengths += [train_ds.lengths[i] for i in indices]
            result.padded_tokens += int(batch["input_ids"].numel())
            bar.set_postfix(loss=f"{result.step_loss[-1]:.3f}")
            if writer is not None:
                writer.add_scalar("train/loss", result.step_loss[-1], result.steps)
                writer.add_scalar("train/learning_rate", scheduler.get_last_lr()[0], result.steps)
        result.epoch_loss.append(float(np.mean(result.step_loss[-len(batches) :])))
        if eval_ds is not None:
            predicted = predict_proba(model, eval_ds, cfg.eval_batch_size).argmax(axis=1)
            result.eval_accuracy.append(float((predicted == np.asarray(eval_ds.labels)).mean()))
            if writer is not None:
                writer.add_scalar("eval/accuracy", result.eval_accuracy[-1], result.steps)
    if writer is not None:
        writer.close()
    result.tokens = sum(result.lengths)
    model.eval()
    return result


def predict_proba(
    model: PreTrainedModel,
    ds: EncodedTexts,
    batch_size: int = 64,
    bf16: bool = False,  # autocast to bfloat16 (only where llmkit.throughput.bf16_supported())
) -> np.ndarray:
    """Class probabilities ``[len(ds), num_labels]``: eval mode, ``torch.no_grad()``, softmax of ``.logits``.

    Texts are run longest first (little padding) and the rows put back in the dataset's order.
    """
    import torch

    device = next(model.parameters()).device.type
    pad = collator(ds.tokenizer)
    order = np.argsort([-n for n in ds.lengths], kind="stable")
    probs = np.empty((len(ds), model.config.num_labels), dtype=np.float64)
    model.eval()  # dropout off
    with torch.no_grad():  # no graph kept: less memory, faster
        for start in range(0, len(ds), batch_size):
            rows = order[start : start + batch_size]
            batch = pad([{k: v for k, v in ds[int(i)].items() if k != "labels"} for i in rows])
            with _autocast(bf16, device):
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits  # [batch, num_labels]
            probs[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return probs


# ----------------------------------------------------------------------------------------------- Trainer


def tensorboard_dir(run_dir: str | Path, name: str) -> Path:
    """Where :func:`train_with_trainer` logs run ``name``: ``<run_dir>/tensorboard/<name>``."""
    return Path(run_dir) / "tensorboard" / name


def train_with_trainer(
    model: PreTrainedModel,
    train_ds: EncodedTexts,
    eval_ds: EncodedTexts | None,  # evaluated (loss, accuracy) after each epoch, if given
    cfg: FinetuneConfig,
    run_dir: str | Path,  # the notebook's run folder (claims.dir)
    name: str,  # this run's name in TensorBoard
) -> FinetuneResult:
    """The same fine-tuning with ``transformers.Trainer``: what you would use in practice.

    Logs loss, learning rate, gradient norm and evaluation accuracy to TensorBoard under
    :func:`tensorboard_dir` (open it with ``tensorboard --logdir <run_dir>/tensorboard``); writes no
    checkpoint (``save_strategy="no"``; save once with ``save_pretrained``, which writes safetensors).
    """
    import torch
    from transformers import Trainer, TrainingArguments

    from llmkit.config import device
    from llmkit.pretrain import StepTimer, _env  # the same timer and env switch as pretraining

    def accuracy(prediction: Any) -> dict[str, float]:
        return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}

    run_dir = Path(run_dir)
    args = TrainingArguments(
        output_dir=str(run_dir / "trainer" / name),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=cfg.warmup,  # a float below 1 is a fraction of the steps
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        eval_strategy="epoch" if eval_ds is not None else "no",
        logging_steps=max(1, math.ceil(len(train_ds) / cfg.batch_size) // 4),
        save_strategy="no",
        report_to=["tensorboard"],
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=device() == "cpu",
        bf16=cfg.bf16,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=False,
    )
    if cfg.train_head_only:
        freeze_encoder(model)
    timer = StepTimer()
    with _env(TENSORBOARD_LOGGING_DIR=str(tensorboard_dir(run_dir, name))):
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            data_collator=collator(train_ds.tokenizer),
            compute_metrics=accuracy,
            callbacks=[timer],
        )
    trainer.train()
    result = FinetuneResult(model, step_seconds=timer.seconds, steps=trainer.state.global_step)
    for entry in trainer.state.log_history:
        if "loss" in entry:
            result.step_loss.append(float(entry["loss"]))  # mean over the steps since the last log
        if "eval_accuracy" in entry:
            result.eval_accuracy.append(float(entry["eval_accuracy"]))
    result.examples = cfg.epochs * len(train_ds)
    result.lengths = train_ds.lengths * cfg.epochs
    result.tokens = sum(result.lengths)
    del trainer
    torch.set_grad_enabled(True)
    model.eval()
    return result


# ------------------------------------------------------------------------------------ the seed's own code


@dataclass(frozen=True)
class SeedFix:
    """One fix to the seed's §5.2 code: the defect, the verbatim text it replaces and the replacement."""

    key: str  # a short name: seed_fixes("labels", ...) picks fixes by it
    defect: str  # what is wrong, in one line
    old: str  # verbatim text of the seed's code
    new: str
    count: int = 1  # how many times ``old`` occurs (every occurrence is replaced)


def seed_block(section: str, language: str = "") -> str:
    """The first fenced code block under the seed's heading ``section`` (``"5.2"``), verbatim, fences removed.

    ``seed_block("5.2", "python")`` is the seed's fine-tuning code; ``seed_block("5.4")`` the output it
    says the code printed.
    """
    from llmkit.claims import SEED_FILE, seed_text

    text = seed_text()
    heading = re.search(rf"^#{{2,4}} {re.escape(section)} .*$", text, flags=re.MULTILINE)
    if heading is None:
        raise LlmkitError(f"seed: no heading numbered {section!r} in {SEED_FILE.name}")
    rest = text[heading.end() :]
    following = re.search(r"^#{2,4} \d", rest, flags=re.MULTILINE)
    body = rest[: following.start()] if following else rest
    fence = re.search(rf"^```{re.escape(language)}\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)
    if fence is None:
        raise LlmkitError(f"seed §{section}: no fenced ```{language} block under this heading")
    return fence.group(1)


def seed_code() -> str:
    """The seed's fine-tuning code (§5.2 源代码详细实现), exactly as written, Chinese comments included."""
    return seed_block("5.2", "python")


def seed_epoch_lines(text: str) -> list[tuple[int, float, float]]:
    """``(epoch, loss, accuracy)`` of every ``Epoch k: loss = …, accuracy = …`` line in ``text``."""
    pattern = r"Epoch (\d+): loss = ([0-9.]+), accuracy = ([0-9.]+)"
    return [(int(e), float(loss), float(acc)) for e, loss, acc in re.findall(pattern, text)]


def undefined_names(code: str) -> list[str]:
    """Names ``code`` reads but never assigns, imports or finds among the builtins, in order of first use."""
    import ast
    import builtins

    tree = ast.parse(code)
    bound: set[str] = set(dir(builtins))
    loads: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loads.append((node.lineno, node.col_offset, node.id))
            else:
                bound.add(node.id)
    seen: list[str] = []
    for _, _, name in sorted(loads):
        if name not in bound and name not in seen:
            seen.append(name)
    return seen


def apply_fixes(code: str, fixes: Sequence[SeedFix]) -> str:
    """``code`` with every fix applied; a fix whose text does not occur exactly ``count`` times raises."""
    for fix in fixes:
        found = code.count(fix.old)
        if found != fix.count:
            raise LlmkitError(
                f"fix {fix.defect!r}: expected {fix.count} occurrence(s) of {fix.old!r}, found {found}"
            )
        code = code.replace(fix.old, fix.new)
    return code


_EVAL_LOOP = """for batch in test_loader:
    inputs = batch['input_ids'].to(device)
    attention_mask = batch['attention_mask'].to(device)
    labels = batch['labels'].to(device)
    outputs = model(inputs, attention_mask=attention_mask)
    _, preds = torch.max(outputs, dim=1)
    total_correct += (preds == labels).sum().item()
    total_samples += labels.size(0)
accuracy = total_correct / total_samples
"""

# The smallest changes that make §5.2 run and report what §5.4 prints. The names the seed never defines
# (read_train_data, read_test_data, TokenDataset) are given to the code by the caller, not patched in.
SEED_FIXES: tuple[SeedFix, ...] = (
    SeedFix(
        "model",
        "bert-base-cased is a 436 MB download; the course runs offline on the packaged MiniLM (also BERT)",
        "'bert-base-cased'",
        "MODEL_DIR",
        count=2,
    ),
    SeedFix(
        "import",
        "DataLoader is used but never imported",
        "import torch.optim as optim\n",
        "import torch.optim as optim\nfrom torch.utils.data import DataLoader\n",
    ),
    SeedFix(
        "shuffle",
        "the training batches are never shuffled: every epoch sees the same batches in the same order",
        "train_loader = DataLoader(train_dataset, batch_size=32)",
        "train_loader = DataLoader(train_dataset, batch_size=32, shuffle=True,\n"
        "                          generator=torch.Generator().manual_seed(SEED))\n"
        "val_data = read_train_data('validation.txt')  # a validation split for the per-epoch accuracy\n"
        "val_loader = DataLoader(TokenDataset(val_data), batch_size=32)",
    ),
    SeedFix(
        "evaluation",
        "evaluation: no torch.no_grad(), torch.max on the output object instead of .logits (the fixed "
        "loop is accuracy_on, defined before training so that every epoch can use it on the validation split)",
        "total_correct = 0\ntotal_samples = 0\n" + _EVAL_LOOP,
        "accuracy = accuracy_on(test_loader)\n",
    ),
    SeedFix(
        "epochs",
        "§5.4 prints a loss per epoch: the loop now collects each epoch's batch losses, and puts the model back "
        "in train mode after each epoch's validation",
        "model.train()\nfor epoch in range(10):\n    for batch in train_loader:\n",
        "def accuracy_on(loader):\n"
        "    model.eval()\n"
        "    total_correct = 0\n"
        "    total_samples = 0\n"
        "    with torch.no_grad():  # no graph for a backward pass that never comes\n"
        "        for batch in loader:\n"
        "            inputs = batch['input_ids'].to(device)\n"
        "            attention_mask = batch['attention_mask'].to(device)\n"
        "            labels = batch['labels'].to(device)\n"
        "            outputs = model(inputs, attention_mask=attention_mask)\n"
        "            _, preds = torch.max(outputs.logits, dim=1)  # .logits [batch, 2], not the output object\n"
        "            total_correct += (preds == labels).sum().item()\n"
        "            total_samples += labels.size(0)\n"
        "    return total_correct / total_samples\n"
        "history = []\nfor epoch in range(10):\n    model.train()\n    epoch_losses = []\n"
        "    for batch in train_loader:\n",
    ),
    SeedFix(
        "labels",
        "no labels are passed to the model, so outputs.loss is None",
        "        outputs = model(inputs, attention_mask=attention_mask)\n        loss = outputs.loss\n",
        "        outputs = model(inputs, attention_mask=attention_mask, labels=labels)\n"
        "        loss = outputs.loss\n",
    ),
    SeedFix(
        "epoch_metrics",
        "§5.4's per-epoch loss and accuracy are never computed or printed",
        "        optimizer.step()\n",
        "        optimizer.step()\n"
        "        epoch_losses.append(loss.item())\n"
        "    val_accuracy = accuracy_on(val_loader)\n"
        "    history.append((epoch + 1, sum(epoch_losses) / len(epoch_losses), val_accuracy))\n"
        '    print(f"Epoch {epoch + 1}: loss = {history[-1][1]:.3f}, accuracy = {val_accuracy:.3f}")\n',
    ),
    SeedFix(
        "decimals",
        "the accuracy is printed with 2 decimals, while §5.4 reports 95.5%",
        'print(f"Accuracy: {accuracy:.2f}")',
        'print(f"Accuracy: {accuracy:.3f}")',
    ),
)


def fixed_seed_code(fixes: Sequence[SeedFix] = SEED_FIXES) -> str:
    """:func:`seed_code` with :data:`SEED_FIXES` applied (it still needs ``read_train_data``,
    ``read_test_data``, ``TokenDataset``, ``MODEL_DIR`` and ``SEED`` from its caller)."""
    return apply_fixes(seed_code(), fixes)


def write_labeled_texts(task: TextTask, split: str, path: str | Path) -> Path:
    """Write one split of ``task`` as ``label<TAB>text`` lines (the seed's ``train.txt`` / ``test.txt``)."""
    path = Path(path)
    rows = task.split(split)
    lines = [
        f"{int(y)}\t{' '.join(str(t).split())}" for t, y in zip(rows["text"], rows["label"], strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_labeled_texts(path: str | Path) -> list[tuple[str, int]]:
    """The seed's undefined ``read_train_data`` / ``read_test_data``: ``(text, label)`` rows of a
    ``label<TAB>text`` file written by :func:`write_labeled_texts`."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        label, sep, text = line.partition("\t")
        if not sep or not label.isdigit():
            raise LlmkitError(f"{path}:{number}: expected 'label<TAB>text', got {line[:60]!r}")
        rows.append((text, int(label)))
    return rows


def seed_fixes(*keys: str) -> tuple[SeedFix, ...]:
    """The fixes of :data:`SEED_FIXES` named ``keys``, in their order there (all of them without keys)."""
    known = [f.key for f in SEED_FIXES]
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise LlmkitError(f"seed fixes: unknown {unknown}; expected some of {known}")
    return tuple(f for f in SEED_FIXES if not keys or f.key in keys)


def seed_namespace(
    seed: int = 0, max_length: int = 128, model_dir: str | Path | None = None
) -> dict[str, Any]:
    """The globals the seed's code needs and never defines, defined by llmkit; pass to :func:`run_seed_code`.

    ``read_train_data`` / ``read_test_data`` are :func:`read_labeled_texts`; ``TokenDataset(data)`` is
    :class:`llmkit.batching.TokenDataset` with the tokenizer the seed's code itself made (its global
    ``tokenizer``), padded to ``max_length``; ``MODEL_DIR`` is the packaged MiniLM; ``SEED`` seeds the
    shuffle the fixed code adds.
    """
    from llmkit.assets import minilm_path
    from llmkit.batching import TokenDataset

    namespace: dict[str, Any] = {
        "read_train_data": read_labeled_texts,
        "read_test_data": read_labeled_texts,
        "MODEL_DIR": str(model_dir or minilm_path()),
        "SEED": seed,
    }

    def token_dataset(data: Sequence[tuple[str, int]]) -> TokenDataset:
        return TokenDataset(data, namespace["tokenizer"], max_length)

    namespace["TokenDataset"] = token_dataset
    return namespace


def run_seed_code(code: str, folder: str | Path, namespace: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Execute the seed's code (or a fixed version) in ``folder`` (where its ``train.txt`` is) with
    ``namespace`` as its globals; torch is seeded first (the new head, dropout). Returns ``namespace``,
    which holds every variable the code made (``model``, ``loss``, ``accuracy``, ...), also when it raises."""
    import torch

    torch.manual_seed(seed)
    with contextlib.chdir(folder):
        exec(compile(code, "<seed §5.2>", "exec"), namespace)  # noqa: S102 - the course runs the seed's own code
    return namespace


def loader_proba(model: PreTrainedModel, loader: Any) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities ``[n, k]`` and labels ``[n]`` of every batch of a DataLoader (eval, no_grad)."""
    import torch

    device = next(model.parameters()).device
    probs, labels = [], []
    model.eval()
    with torch.no_grad():
        for batch in loader:
            logits = model(
                batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
            ).logits
            probs.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
            labels.append(batch["labels"].numpy())
    return np.concatenate(probs).astype(np.float64), np.concatenate(labels).astype(np.int64)
