"""The tiny BERT student of notebook 05: built, pretrained on clinical notes, distilled from the MiniLM teacher
and cached (notebooks 06, 08 and the case study load it)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from llmkit.finetune.tasks import TextTask
from llmkit.distill.kdtrain import DistillConfig, distill_classifier, teacher_logits

# ------------------------------------------------------------------------------------------- the student


def build_student(
    tokenizer: PreTrainedTokenizerBase,  # its vocabulary sizes the embeddings
    hidden: int = 128,  # width of every token's vector; the feed-forward is 4x this
    layers: int = 2,  # transformer blocks
    heads: int = 4,  # attention heads; hidden must divide by it
    num_labels: int = 2,
    seed: int = 0,  # the random initialization
    max_length: int = 128,  # position embeddings: the longest input it accepts
    dropout: float = 0.1,  # of the hidden states and the attention weights, as BERT
) -> PreTrainedModel:
    """A randomly initialized tiny ``BertForSequenceClassification`` (no pretraining; see :func:`pretrain_student`).

    The defaults give ~0.41M non-embedding weights against MiniLM's ~10.6M (about 1/26): the issue asks
    for at most 1/10.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    if hidden % heads:
        raise LlmkitError(f"hidden: expected a multiple of heads={heads}, got {hidden}")
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, max_position_embeddings=max_length, num_labels=num_labels,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return BertForSequenceClassification(config)


def non_embedding_params(model: PreTrainedModel) -> int:
    """The 2-D weights outside the embeddings (attention, feed-forward, pooler, head): what costs FLOPs."""
    from llmkit.finetune.throughput import classifier_params

    p = classifier_params(model)
    return p.per_token + p.per_sequence


def safetensors_mb(model: PreTrainedModel) -> float:
    """Bytes / 1e6 of the model's weights as one safetensors file (what ``save_pretrained`` writes)."""
    from safetensors.torch import save

    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    return len(save(state)) / 1e6


# ------------------------------------------------------------------------------------------ pretraining


@dataclass(frozen=True)
class StudentPretrainConfig:
    """The knobs of the student's masked-LM pretraining (notebook 02's recipe)."""

    hidden: int = 128  # see build_student
    layers: int = 2
    heads: int = 4
    vocab_size: int = 2048  # of the domain WordPiece vocabulary trained on the texts
    block_len: int = 128  # tokens per block; also the student's longest input
    steps: int = 300  # optimizer steps
    batch_size: int = 32  # blocks per step
    learning_rate: float = 2e-3  # peak, cosine decay; tiny models take large steps
    seed: int = 0  # init, data order and masking
    bf16: bool = False  # autocast to bfloat16 (only where llmkit.core.hardware.bf16_supported())


def pretrain_student(
    texts: Sequence[str],  # unlabeled in-domain documents
    cfg: StudentPretrainConfig | None = None,
    run_dir: str | Path | None = None,  # TensorBoard logs go to <run_dir>/tensorboard/student_mlm
    cache: bool = True,  # reuse an earlier identical run from $LLMKIT_CACHE/student/<key>
) -> tuple[Path, dict[str, Any]]:
    """Pretrain a tiny BERT on ``texts`` with masked LM; return its saved folder and a report.

    The tokenizer is a WordPiece vocabulary of ``cfg.vocab_size`` trained on the same texts, not
    MiniLM's 30,522 entries: at hidden 128 MiniLM's vocabulary alone would be 3.9M embedding weights,
    ten times the rest of the student, and the student never needs the teacher's tokens -- only its
    logits. Loading the folder with ``AutoModelForSequenceClassification`` (or :func:`load_student`)
    gives the pretrained encoder and a new head. The folder (safetensors, tokenizer, report) is written
    to a temporary name and renamed, so it is never half done; a cached folder returns the saved report
    with ``"cached": True``.
    """
    import torch

    from llmkit.core.io import cached_folder
    from llmkit.pretrain import lmdata, networks, training
    from llmkit.pretrain.tokenization import train_wordpiece

    cfg = cfg or StudentPretrainConfig()
    if len(texts) < 20:
        raise LlmkitError(f"texts: expected at least 20 unlabeled documents, got {len(texts)}")
    entry = cached_folder("student", asdict(cfg), texts, info_name="student_report.json", cache=cache)
    with entry:  # a build that raises (an interrupted cell too) gives up the entry's lock
        folder = entry.folder
        if (saved := entry.found()) is not None:
            return folder, {**saved, "cached": True}

        start = time.perf_counter()
        tokenizer = train_wordpiece(texts, vocab_size=cfg.vocab_size)
        train_texts, val_texts = lmdata.held_out_split(
            tokenizer, texts, cfg.block_len
        )  # >= 1 validation block
        corpus = lmdata.build_corpus(tokenizer, train_texts, val_texts, cfg.block_len, max_val_blocks=32)
        size = networks.ModelSize(cfg.hidden, cfg.layers, cfg.heads)
        model = networks.build_model("mlm", tokenizer, size, cfg.block_len, seed=cfg.seed)
        train_cfg = training.TrainConfig(
            steps=cfg.steps, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
            eval_every=max(1, cfg.steps // 4), seed=cfg.seed, bf16=cfg.bf16,
        )  # fmt: skip
        torch.manual_seed(cfg.seed)
        phases = [training.Phase("student_mlm", train_cfg)]
        report = training.train_mlm_and_save(
            entry, model, tokenizer, corpus, phases, {"config": asdict(cfg)}, start, run_dir
        )
        return folder, report


def load_student(folder: str | Path, num_labels: int = 2, seed: int = 0) -> tuple[PreTrainedModel, Any]:
    """The pretrained student of ``folder`` with a new ``num_labels`` head (seeded), and its tokenizer."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=num_labels)
    return model, AutoTokenizer.from_pretrained(str(folder))


# -------------------------------------------------------------------------------------- the whole recipe


def distilled_student(
    teacher_train_size: int = 640,  # labeled rows the MiniLM teacher is fine-tuned on (compress.finetuned_minilm)
    teacher_epochs: int = 3,
    pretrain_notes: int = 4000,  # generated unlabeled notes the student is pretrained on (masked LM)
    transfer_notes: int = 4000,  # generated unlabeled notes the teacher labels for the transfer set
    pretrain_cfg: StudentPretrainConfig | None = None,
    kd_cfg: DistillConfig | None = None,
    seed: int = 0,  # teacher, labeled subsample, the generated corpora
    bf16: bool | None = None,  # None -> where hardware.bf16_supported(); applies to teacher and student
    cache: bool = True,  # reuse $LLMKIT_CACHE/distilled/<key>; False rebuilds it
    teacher_name: str = "minilm",  # the encoder the teacher is fine-tuned from (a local folder in tests)
    task: str | TextTask = "diabetes_notes",  # a task name or an analyst's TextTask
    unlabeled: Sequence[str]
    | None = None,  # texts for pretraining and the transfer set instead of generated notes
    log_dir: str | Path | None = None,  # TensorBoard: the distillation's loss per step (also when cached)
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict[str, Any]]:
    """Notebook 05's student, built once and cached: for notebooks 06, 08 and the case study.

    The same steps as notebook 05, in order: the cached teacher (:func:`llmkit.finetune.loop.finetuned_minilm`),
    :func:`pretrain_student` on ``pretrain_notes`` generated notes (seed ``seed``), the transfer set of
    ``transfer_notes`` more (seed ``seed + 1``) plus the labeled rows, :func:`teacher_logits`, and
    :func:`distill_classifier`. For another ``task`` (an analyst's table) there are no generated notes:
    ``unlabeled`` texts (default: the task's training texts) serve for both pretraining and the transfer
    set, and ``pretrain_notes``/``transfer_notes`` are ignored. The cache key hashes every setting and
    text. ``info`` holds the settings, the distillation ``steps``, its ``step_loss``, ``seconds`` and
    ``cached``. With ``log_dir`` the loss per step is written there as TensorBoard scalars
    (``distill/loss``), from the cached run too, so notebook 05 shows the same curve whether it trained the
    student or found it. The model is returned in eval mode.
    """
    from llmkit.assets.models import save_pretrained_folder
    from llmkit.core.hardware import bf16_supported
    from llmkit.core.io import cached_folder
    from llmkit.data.synth.clinical_notes import generate_unlabeled_notes
    from llmkit.finetune import loop, tasks

    bf16 = bf16_supported() if bf16 is None else bool(bf16)
    pretrain_cfg = pretrain_cfg or StudentPretrainConfig(seed=seed, bf16=bf16)
    kd_cfg = kd_cfg or DistillConfig(seed=seed, bf16=bf16)
    generated = unlabeled is None and task == "diabetes_notes"
    checks = [("teacher_train_size", teacher_train_size, 20)]
    checks += (
        [("pretrain_notes", pretrain_notes, 20), ("transfer_notes", transfer_notes, 0)] if generated else []
    )
    for name, value, least in checks:
        if not isinstance(value, int) or value < least:
            raise LlmkitError(f"{name}: expected a whole number >= {least}, got {value!r}")
    if kd_cfg.max_length > pretrain_cfg.block_len:
        raise LlmkitError(
            f"kd_cfg.max_length: expected at most pretrain_cfg.block_len={pretrain_cfg.block_len} "
            f"(the student's longest input), got {kd_cfg.max_length}"
        )
    labeled_task = task if isinstance(task, tasks.TextTask) else tasks.load_task(task)
    if teacher_train_size < len(labeled_task.split("train")):
        labeled_task = tasks.subsample(labeled_task, teacher_train_size, seed=seed)
    if not generated:
        unlabeled = list(unlabeled) if unlabeled is not None else labeled_task.texts("train")
    settings = {
        "teacher": teacher_name, "task": labeled_task.name, "teacher_train_size": teacher_train_size,
        "teacher_epochs": teacher_epochs, "seed": seed, "bf16": bf16,
        "pretrain": asdict(pretrain_cfg), "distill": asdict(kd_cfg),
        **({"pretrain_notes": pretrain_notes, "transfer_notes": transfer_notes} if generated else {}),
    }  # fmt: skip
    rows: list[str] = []
    if not generated:  # the texts are part of the key
        rows = [
            f"{y}\t{t}"
            for t, y in zip(labeled_task.texts("train"), labeled_task.labels("train"), strict=True)
        ]
        rows += list(unlabeled or [])
    entry = cached_folder("distilled", settings, rows, info_name="distill_info.json", cache=cache)
    with entry:  # a build that raises (an interrupted cell too) gives up the entry's lock
        folder = str(entry.folder)
        if (saved := entry.found()) is not None:
            model, tokenizer = load_student(folder, num_labels=labeled_task.num_labels, seed=seed)
            _log_losses(log_dir, saved.get("step_loss", []))
            return model.eval(), tokenizer, {**saved, "cached": True, "folder": folder}

        start = time.perf_counter()
        teacher, teacher_tokenizer, _ = loop.finetuned_minilm(
            task,
            n_train=teacher_train_size, epochs=teacher_epochs, seed=seed, bf16=bf16, name=teacher_name,
        )  # fmt: skip
        if generated:
            corpus = generate_unlabeled_notes(pretrain_notes, seed=seed)["note"].tolist()
            extra = (
                generate_unlabeled_notes(transfer_notes, seed=seed + 1)["note"].tolist()
                if transfer_notes
                else []
            )
        else:
            seen = set(labeled_task.texts("train"))  # the labeled rows join the transfer set below, once
            corpus, extra = list(unlabeled or []), [t for t in unlabeled or [] if t not in seen]
        pretrained, _ = pretrain_student(corpus, pretrain_cfg)
        texts = extra + labeled_task.texts("train")
        labels = [-100] * len(extra) + labeled_task.labels("train").tolist()  # -100: soft target only
        soft = teacher_logits(teacher, teacher_tokenizer, texts, bf16=bf16)
        model, tokenizer = load_student(pretrained, num_labels=labeled_task.num_labels, seed=seed)
        run = distill_classifier(model, tokenizer, texts, soft, labels, kd_cfg, progress=False)
        info = {
            **settings, "key": entry.key, "steps": run.steps, "seconds": round(time.perf_counter() - start, 1),
            "distill_seconds": round(run.seconds, 1), "step_loss": [round(x, 6) for x in run.step_loss],
        }  # fmt: skip
        entry.save(lambda staging: save_pretrained_folder(model, tokenizer, staging), info)
        _log_losses(log_dir, info["step_loss"])
        return model.eval(), tokenizer, {**info, "cached": False, "folder": folder}


def _log_losses(log_dir: str | Path | None, step_loss: Sequence[float]) -> None:
    """Write one run's loss per optimizer step to TensorBoard under ``log_dir`` (nothing when None)."""
    if log_dir is None:
        return
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(log_dir)) as writer:
        for step, loss in enumerate(step_loss, start=1):
            writer.add_scalar("distill/loss", loss, step)
