"""The student cut from its teacher (DistilBERT's recipe, Sanh et al. 2019): keep the fine-tuned MiniLM's
width, tokenizer, embeddings, pooler and head, keep only some of its 6 layers, then distill (notebook 05).

The tiny from-scratch student of :mod:`llmkit.distill.student` learns the domain's words from its own
masked-LM pretraining on the task's texts; on a small real table (a few hundred reviews or headlines) that is
too little text: on the 546 Drugs.com sentiment reviews it scored 0.723, the majority class, against the
teacher's 0.796. This student starts from what the teacher knows: every weight is the teacher's, so
distillation only has to repair the missing layers. It is cached like the others.

Measured at lesson sizes (seed 0, 2 threads, test splits; 2026-12-03), teacher -> layers (0, 5):
sentiment 0.796 -> 0.805 (101%, 3.1x faster at batch 32), diabetes notes 0.868 -> 0.860 (99%, 3.0x); student
seeds 1 and 2 gave 0.805, 0.810 and 0.866, 0.859. Three layers (0, 2, 4) keep all the accuracy at only 2.0x;
one layer (5,) is 6x faster but keeps 95-97%. Two of six layers cannot be much more than 3x faster.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from llmkit.core.errors import LlmkitError
from llmkit.core.settings import ProfileSettings, per_profile

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from llmkit.distill.kdtrain import DistillConfig
    from llmkit.finetune.tasks import TextTask

# The default recipe, chosen by measuring (the module docstring): MiniLM's first and last of six layers.
DEFAULT_LAYERS: tuple[int, ...] = (0, 5)
DEFAULT_KD_EPOCHS = 4  # passes of distillation over the transfer set (the lesson profile's value)
DEFAULT_LEARNING_RATE = 1e-4  # peak AdamW step: the teacher's fine-tuning rate (the scratch student: 1e-3)
DEFAULT_BATCH_SIZE = 16  # the teacher's fine-tuning batch


@dataclass(frozen=True)
class ShrinkSettings(ProfileSettings):
    """The cut-down student's sizes at each profile: ``ShrinkSettings.for_profile(profile, kd_epochs=...)``;
    ``shrunk_student(task, ..., layers=s.layers, kd_cfg=s.distill_config(seed, bf16))`` builds it.

    Learning rate, batch and epochs were set once beforehand (the teacher's rate and batch), not tuned on a
    test split; the layers were chosen among (0, 2, 4), (1, 3, 5), (0, 5), (1, 4), (0,) and (5,).
    """

    # the teacher's layers the student keeps
    layers: tuple[int, ...] = per_profile(DEFAULT_LAYERS, DEFAULT_LAYERS, DEFAULT_LAYERS)
    kd_epochs: int = per_profile(
        1, DEFAULT_KD_EPOCHS, DEFAULT_KD_EPOCHS
    )  # smoke: one pass (a smoke run not yet timed)
    learning_rate: float = per_profile(DEFAULT_LEARNING_RATE, DEFAULT_LEARNING_RATE, DEFAULT_LEARNING_RATE)
    batch_size: int = per_profile(DEFAULT_BATCH_SIZE, DEFAULT_BATCH_SIZE, DEFAULT_BATCH_SIZE)

    def distill_config(self, seed: int = 0, bf16: bool = False) -> DistillConfig:
        """The :class:`~llmkit.distill.kdtrain.DistillConfig` of these settings (T and alpha: its defaults)."""
        from llmkit.distill.kdtrain import DistillConfig

        return DistillConfig(epochs=self.kd_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                             seed=seed, bf16=bf16)  # fmt: skip


# ------------------------------------------------------------------------------------------- the student


def check_layers(layers: Sequence[int], teacher_layers: int | None = None) -> tuple[int, ...]:
    """``layers`` as a tuple of distinct teacher-layer indices in increasing order (each below
    ``teacher_layers`` when it is given), or a one-line error."""
    given = tuple(layers) if isinstance(layers, Sequence) and not isinstance(layers, str) else ()
    top = teacher_layers if teacher_layers is not None else float("inf")
    whole = all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < top for i in given)
    if not given or not whole or any(a >= b for a, b in zip(given, given[1:], strict=False)):
        where = f"each in 0..{teacher_layers - 1}" if teacher_layers is not None else "each >= 0"
        raise LlmkitError(
            f"layers: expected distinct teacher layer indices in increasing order, {where} (e.g. (0, 2, 4)), "
            f"got {layers!r}"
        )
    return given


def student_from_teacher(teacher: PreTrainedModel, layers: Sequence[int]) -> PreTrainedModel:
    """A new ``BertForSequenceClassification`` made of ``teacher``'s embeddings, its encoder layers ``layers``
    (renumbered 0, 1, ...), its pooler and its classification head: every weight copied, nothing random.

    The config is the teacher's with ``num_hidden_layers = len(layers)``; the weights are the teacher's state
    dict with layer ``layers[i]`` renamed to layer ``i`` and the other layers left out, loaded strictly (a
    missing or extra weight raises). With all the teacher's layers the student *is* the teacher: equal
    logits in eval mode. It comes back in the teacher's mode (train or eval), on its device and dtype.
    """
    from transformers import BertForSequenceClassification

    if not isinstance(teacher, BertForSequenceClassification):
        raise LlmkitError(
            f"teacher: expected a BertForSequenceClassification (MiniLM's architecture), got {type(teacher).__name__}"
        )
    kept = check_layers(layers, teacher.config.num_hidden_layers)
    new_index = {old: new for new, old in enumerate(kept)}
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(kept)
    prefix = "bert.encoder.layer."
    state = {}
    for name, tensor in teacher.state_dict().items():
        if name.startswith(prefix):
            old, rest = name[len(prefix) :].split(".", 1)
            if int(old) not in new_index:
                continue
            name = f"{prefix}{new_index[int(old)]}.{rest}"
        state[name] = tensor.detach().clone()
    student = BertForSequenceClassification(config)  # random weights, every one overwritten below
    student.load_state_dict(state, strict=True)
    parameter = next(teacher.parameters())
    return student.to(device=parameter.device, dtype=parameter.dtype).train(teacher.training)


# -------------------------------------------------------------------------------------- the whole recipe


def shrunk_student(
    task: str | TextTask,  # a task name (llmkit.finetune.tasks.TASKS) or an analyst's TextTask
    *,
    teacher_train_size: int,  # labeled rows the teacher is fine-tuned on (a stratified, seeded subsample)
    teacher_epochs: int,
    layers: Sequence[int] = DEFAULT_LAYERS,  # the teacher's layers the student keeps
    kd_epochs: int = DEFAULT_KD_EPOCHS,  # passes of distillation over the transfer set
    unlabeled: Sequence[str] | None = None,  # more texts for the transfer set: soft targets only (label -100)
    kd_cfg: DistillConfig | None = None,  # the whole KD config; None: ShrinkSettings' with kd_epochs
    seed: int = 0,  # teacher, subsample, data order, dropout
    bf16: bool | None = None,  # None -> where hardware.bf16_supported(); teacher and student alike
    cache: bool = True,  # reuse $LLMKIT_CACHE/shrunk/<key>; False rebuilds it
    teacher_name: str = "minilm",  # the encoder the teacher is fine-tuned from (a local folder in tests)
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict[str, Any]]:
    """The teacher with fewer layers, distilled on the task, built once and cached (safetensors).

    The teacher is :func:`llmkit.finetune.loop.finetuned_minilm` (cached: the same one notebook 05 and the
    case study use for the same sizes); the student is :func:`student_from_teacher` with ``layers``; the
    transfer set is the labeled training rows (soft targets and labels) plus ``unlabeled`` texts (soft targets
    only); :func:`~llmkit.distill.kdtrain.teacher_logits` and
    :func:`~llmkit.distill.kdtrain.distill_classifier` do the rest. The student keeps the teacher's
    tokenizer. The cache key hashes every setting and every text. ``info`` holds the settings, ``layers``,
    ``steps``, ``step_loss``, ``seconds`` (teacher included when it was trained here), ``distill_seconds``,
    ``teacher_parameters``, ``student_parameters``, ``folder`` and ``cached``. The model is in eval mode.
    """
    from llmkit.assets.models import load_classifier, load_tokenizer, save_pretrained_folder
    from llmkit.core.hardware import bf16_supported
    from llmkit.core.io import cached_folder
    from llmkit.core.params import parameter_count
    from llmkit.distill.kdtrain import distill_classifier, teacher_logits
    from llmkit.finetune import loop, tasks

    bf16 = bf16_supported() if bf16 is None else bool(bf16)
    for name, value, least in (("teacher_train_size", teacher_train_size, 2), ("teacher_epochs", teacher_epochs, 1),
                               ("kd_epochs", kd_epochs, 1)):  # fmt: skip
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise LlmkitError(f"{name}: expected a whole number >= {least}, got {value!r}")
    kept = check_layers(layers)  # the form now; the range once the teacher's depth is known
    if kd_cfg is None:
        kd_cfg = ShrinkSettings.for_profile("lesson", kd_epochs=kd_epochs).distill_config(seed, bf16)
    labeled = task if isinstance(task, tasks.TextTask) else tasks.load_task(task)
    if teacher_train_size < len(labeled.split("train")):
        labeled = tasks.subsample(labeled, teacher_train_size, seed=seed)  # the teacher's rows, its draw
    train_texts, train_labels = labeled.texts("train"), labeled.labels("train").tolist()
    seen = set(train_texts)  # an unlabeled text that is also a labeled one joins once, with its label
    extra = [t for t in dict.fromkeys(unlabeled or []) if t not in seen]
    settings = {
        "teacher": teacher_name, "task": labeled.name, "teacher_train_size": teacher_train_size,
        "teacher_epochs": teacher_epochs, "seed": seed, "bf16": bf16, "layers": list(kept), "distill": asdict(kd_cfg),
    }  # fmt: skip
    rows = [f"{y}\t{t}" for t, y in zip(train_texts, train_labels, strict=True)] + [f"-\t{t}" for t in extra]
    entry = cached_folder("shrunk", settings, rows, info_name="shrink_info.json", cache=cache)
    with entry:  # a build that raises (an interrupted cell too) gives up the entry's lock
        folder = str(entry.folder)
        if (saved := entry.found()) is not None:
            model = load_classifier(folder, num_labels=labeled.num_labels).eval()
            return model, load_tokenizer(folder), {**saved, "cached": True, "folder": folder}

        start = time.perf_counter()
        teacher, tokenizer, teacher_info = loop.finetuned_minilm(
            task, n_train=teacher_train_size, epochs=teacher_epochs, seed=seed, bf16=bf16, name=teacher_name
        )
        if teacher.config.num_labels != labeled.num_labels:
            raise LlmkitError(
                f"teacher: expected {labeled.num_labels} labels (task {labeled.name!r}), got {teacher.config.num_labels}"
            )
        kept = check_layers(kept, teacher.config.num_hidden_layers)
        texts = extra + train_texts
        labels = [-100] * len(extra) + train_labels  # -100: soft target only
        soft = teacher_logits(teacher, tokenizer, texts, max_length=kd_cfg.max_length, bf16=bf16)
        model = student_from_teacher(teacher.eval(), kept)
        run = distill_classifier(model, tokenizer, texts, soft, labels, kd_cfg, progress=False)
        info = {
            **settings, "key": entry.key, "teacher_key": teacher_info.get("key"), "transfer_texts": len(texts),
            "unlabeled_texts": len(extra), "steps": run.steps, "seconds": round(time.perf_counter() - start, 1),
            "distill_seconds": round(run.seconds, 1), "step_loss": [round(x, 6) for x in run.step_loss],
            "teacher_layers": teacher.config.num_hidden_layers,
            "teacher_parameters": parameter_count(teacher), "student_parameters": parameter_count(model),
        }  # fmt: skip
        entry.save(lambda staging: save_pretrained_folder(model, tokenizer, staging), info)
        return model.eval(), tokenizer, {**info, "cached": False, "folder": folder}


# ------------------------------------------------------------------------------------------ measurement


def compare_models(
    task: TextTask,  # scored on its "test" split
    models: Mapping[str, tuple[PreTrainedModel, PreTrainedTokenizerBase]],  # the first: the reference
    *,
    batch_size: int = 32,  # the latency batch: the first batch_size test texts
    rounds: int = 5,  # alternating timing rounds (llmkit.core.timing.alternate)
    repeats: int = 3,  # timed forward passes per model and round
    max_length: int = 128,
    bf16: bool = False,
) -> list[dict[str, Any]]:
    """One row per model: test ``accuracy``, ``retention`` (accuracy / the first model's), ``latency_ms`` of
    one no-grad forward pass over a batch of ``batch_size`` test texts (median of the rounds) and
    ``speedup`` (the first model's time / this one's, the median of per-round ratios), and ``parameters``.

    The models are timed in alternating rounds, so a slow spell of a shared machine hits all of them alike.
    """
    import torch

    from llmkit.core.evaluate import accuracy
    from llmkit.core.params import parameter_count
    from llmkit.core.timing import alternate
    from llmkit.finetune.loop import predict_proba
    from llmkit.finetune.tasks import encode_task

    if not models:
        raise LlmkitError("models: expected at least one (name -> (model, tokenizer)), got none")
    y_test, texts = task.labels("test"), task.texts("test")
    if len(texts) < batch_size:
        raise LlmkitError(
            f"task {task.name!r}: expected at least batch_size={batch_size} test texts, got {len(texts)}"
        )
    scores, forwards = {}, {}
    for name, (model, tokenizer) in models.items():
        probs = predict_proba(model.eval(), encode_task(tokenizer, task, "test", max_length), bf16=bf16)
        scores[name] = accuracy(y_test, probs.argmax(1))
        batch = tokenizer(texts[:batch_size], padding="longest", truncation=True, max_length=max_length,
                          return_tensors="pt")  # fmt: skip
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}

        def forward(model: Any = model, inputs: dict[str, Any] = inputs) -> None:
            with torch.no_grad():
                model(**inputs)

        forwards[name] = forward
    timed = alternate(forwards, rounds=rounds, warmup=1, repeats=repeats)
    first = next(iter(models))
    return [
        {
            "model": name,
            "accuracy": scores[name],
            "retention": scores[name] / scores[first],
            "latency_ms": timed.median(name),
            "speedup": timed.speedup(name, first),
            "parameters": parameter_count(models[name][0]),
        }  # fmt: skip
        for name in models
    ]
