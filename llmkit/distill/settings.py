"""Notebook 05's sizes at each profile: ``DistillSettings.for_profile(profile, teacher_train_size=..., ...)``.

The teacher's and the student's sizes are one class, :class:`DistillRecipe`, that notebooks 06 and 08 build
their settings on (``CompressSettings``, ``DeploySettings``), so all three ask
:func:`llmkit.finetune.loop.finetuned_minilm` and :func:`llmkit.distill.student.distilled_student` for the same
cached models.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.core.settings import ProfileSettings, per_profile


@dataclass(frozen=True)
class DistillRecipe(ProfileSettings):
    """The MiniLM teacher and the tiny BERT student of notebook 05 (06 and 08 load the same cached ones)."""

    # 640 x 3 epochs at lesson: the 0.87 of 1,500 x 2, in 57% of the steps
    teacher_train_size: int = per_profile(64, 640, 1500)  # labeled notes the MiniLM teacher is fine-tuned on
    teacher_epochs: int = per_profile(1, 3, 2)
    pretrain_notes: int = per_profile(
        300, 4000, 20000
    )  # unlabeled notes of the student's masked-LM pretraining
    pretrain_steps: int = per_profile(5, 300, 1000)  # its masked-LM steps
    transfer_notes: int = per_profile(300, 4000, 20000)  # unlabeled notes the teacher labels for the student
    # (= pretrain_notes at every profile: the case study passes one set of notes for both and finds this student)
    kd_epochs: int = per_profile(1, 2, 3)  # passes of distillation over them (and the labeled notes)


@dataclass(frozen=True)
class DistillSettings(DistillRecipe):
    """Hinton's digits table, the teacher and student, and the latency table (notebook 05)."""

    digits_seeds: int = per_profile(2, 3, 10)  # seeds the digits table averages over
    test_size: int = per_profile(32, 300, 1000)  # test notes the teacher and the student are scored on
    latency_repeats: int = per_profile(3, 5, 20)  # timed calls per model and batch size
