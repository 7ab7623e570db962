"""The case study's sizes at each profile: ``StudySettings.for_profile(profile, few_labels=..., ...)``.

The teacher's and the student's sizes are notebook 05's (:class:`llmkit.distill.settings.DistillRecipe`), so on the
built-in notes the case study finds 05's cached models; tests/test_settings.py checks they stay equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.core.settings import ProfileSettings, per_profile


@dataclass(frozen=True)
class StudySettings(ProfileSettings):
    """The few-label stages, the teacher and student, the test rows and the Pima comparison (case study)."""

    few_labels: int = per_profile(32, 64, 64)  # labels of the few-label stages
    train_size: int = per_profile(64, 640, 1500)  # labels the teacher is fine-tuned on
    teacher_epochs: int = per_profile(1, 3, 2)
    unlabeled_notes: int = per_profile(
        300, 4000, 20000
    )  # generated notes for domain adaptation and the student
    pretrain_steps: int = per_profile(5, 300, 1000)  # the student's masked-LM steps
    kd_epochs: int = per_profile(1, 2, 3)  # passes of distillation
    pima_seeds: int = per_profile(1, 1, 5)  # seeds of the Pima comparison
    test_rows: int | None = per_profile(64, None, None)  # a stratified subsample of the test split; None: all
    audit_resamples: int = per_profile(
        200, 1000, 2000
    )  # bootstrap resamples of the fairness audit's intervals


@dataclass(frozen=True)
class AnalystSettings(ProfileSettings):
    """The analyst engine's sizes (:mod:`llmkit.study.engine`): the tabular models see every training row,
    the transformer stages a seeded sample of these sizes, and every model is scored on the same test rows."""

    test_rows: int | None = per_profile(100, 1000, None)  # test rows every model is scored on; None: all
    transformer_train_rows: int = per_profile(
        48, 320, 2000
    )  # labeled rows MiniLM fine-tunes on (x3 epochs: 60 steps)
    transformer_epochs: int = per_profile(1, 3, 3)
    max_length: int = per_profile(
        128, 128, 128
    )  # tokens per text (a credit record as text is ~71); the bundle and the student use 128 too
    fusion_rows: int = per_profile(32, 300, 2000)  # validation rows the fuser is fitted on
    transfer_rows: int = per_profile(32, 320, 4000)  # unlabeled training rows the student also learns from
    kd_epochs: int = per_profile(1, 2, 3)
    bootstrap_resamples: int = per_profile(100, 500, 1000)


@dataclass(frozen=True)
class RetailSettings(ProfileSettings):
    """The retail case study's sizes (:mod:`llmkit.study.recommend`, :mod:`llmkit.study.helpdesk`)."""

    max_items: int | None = per_profile(
        1000, None, None
    )  # a seeded sample of MovieLens' 9,066 films; None: all
    mf_dim: int = per_profile(32, 32, 32)  # factors per user and per film
    mf_steps: int = per_profile(60, 120, 300)  # full-batch Adam steps (the loss is flat after ~100 here)
    text_weights: tuple[float, ...] = per_profile((0.25, 0.5, 1.0), (0.25, 0.5, 1.0), (0.25, 0.5, 1.0))
    cold_max_ratings: int = per_profile(2, 2, 2)  # a cold film has at most this many training ratings
    questions: int = per_profile(96, 240, 480)  # customers' questions drawn from the help-centre generator
    routing_questions: int = per_profile(
        120, 600, 1200
    )  # labelled questions the servable intent router is trained and tested on (another draw)
    bootstrap_resamples: int = per_profile(200, 1000, 2000)  # over users, questions and test months
