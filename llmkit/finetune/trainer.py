"""The same fine-tuning with the transformers Trainer, to check the explicit loop against the library (notebook 03)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.finetune.batching import EncodedTexts, collator

if TYPE_CHECKING:
    from transformers import PreTrainedModel
from llmkit.finetune.loop import FinetuneConfig, FinetuneResult, freeze_encoder, tensorboard_dir


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

    from llmkit.core.hardware import device
    from llmkit.pretrain.training import StepTimer, env_vars  # the same timer and env switch as pretraining

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
    with env_vars(TENSORBOARD_LOGGING_DIR=str(tensorboard_dir(run_dir, name))):
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
