"""Each notebook's per-profile sizes (llmkit/*/settings.py), pinned at smoke, lesson and full."""

from __future__ import annotations

import dataclasses

import pytest

from llmkit.compress.settings import CompressSettings
from llmkit.core.errors import LlmkitError
from llmkit.core.settings import ProfileSettings, per_profile
from llmkit.deploy.settings import DeploySettings
from llmkit.distill.settings import DistillRecipe, DistillSettings
from llmkit.federated.settings import FederatedSettings
from llmkit.finetune.settings import FinetuneSettings
from llmkit.llm.settings import LlmSettings
from llmkit.pretrain.settings import PretrainSettings
from llmkit.study.settings import RetailSettings, StudySettings
from llmkit.transfer import adapt
from llmkit.transfer.settings import TransferSettings

PROFILES = ("smoke", "lesson", "full")

# notebook 05's teacher and student, which 06 and 08 load too (the values student.recipe held)
RECIPE = {
    "teacher_train_size": (64, 640, 1500),
    "teacher_epochs": (1, 3, 2),
    "pretrain_notes": (300, 4000, 20000),
    "pretrain_steps": (5, 300, 1000),
    "transfer_notes": (300, 4000, 20000),
    "kd_epochs": (1, 2, 3),
}

# name -> (smoke, lesson, full): today's values in each notebook's setup cell
PINNED: dict[type[ProfileSettings], dict[str, tuple]] = {
    PretrainSettings: {
        "vocab_size": (1000, 2048, 2048),
        "n_notes": (1000, 5000, 20000),
        "block_len": (64, 128, 128),
        "batch_size": (16, 32, 32),
        "hidden": (64, 128, 128),
        "mlm_steps": (12, 240, 1000),
        "clm_steps": (12, 120, 400),
        "scaling_hidden": ([16, 32], [32, 64], [32, 64, 256]),
        "max_val_blocks": (16, 128, 256),
    },
    FinetuneSettings: {
        "fixed_length": (64, 128, 128),
        "seed_train_size": (8, 64, 3000),
        "seed_validation_size": (8, 64, 1000),
        "seed_test_size": (16, 300, 1000),
        "max_length": (64, 128, 128),
        "learning_rate": (2e-4, 2e-4, 1e-4),
        "sentiment_train_size": (32, 546, 546),
        "sentiment_epochs": (1, 2, 5),
        "condition_epochs": (1, 2, 5),
        "timing_batch_size": (2, 16, 32),
        "timing_batches": (1, 2, 4),
        "timing_rounds": (1, 2, 5),
    },
    TransferSettings: {
        "pool_size": (48, 640, 3000),
        "test_size": (32, 300, 1000),
        "probe_sizes": ([16, 48], [16, 32, 64, 128, 256, 640], [16, 32, 64, 128, 256, 300, 3000]),
        "finetune_sizes": ([16, 48], [64, 640], [16, 32, 64, 128, 256, 300, 3000]),
        "random_sizes": ([16], [64], [16, 32, 64, 128, 256, 300, 3000]),
        "lora_sizes": ([48], [640], [16, 32, 64, 128, 256, 300, 3000]),
        "dapt_sizes": ([16], [64], [32, 64, 128]),
        "dapt_steps": (2, 30, 300),
        "dapt_head_steps": (1, 10, 100),
        "dapt_notes": (300, 4000, 20000),
        "review_sizes": ([16, 32], [16, 32, 64, 128, 256, 546], [16, 32, 64, 128, 256, 546]),
        "review_finetune_sizes": ([], [], [64, 128, 256, 546]),
        "min_steps": (4, 40, 60),
        "min_epochs": (1, 2, 3),
        "max_length": (64, 128, 128),
    },
    DistillSettings: {
        **RECIPE,
        "digits_seeds": (2, 3, 10),
        "test_size": (32, 300, 1000),
        "latency_repeats": (3, 5, 20),
    },
    CompressSettings: {
        **RECIPE,
        "test_size": (32, 1000, 1000),
        "timing_rounds": (1, 3, 7),
        "timing_repeats": (2, 5, 10),
    },
    DeploySettings: {
        **RECIPE,
        "test_size": (64, 1000, 1000),
        "backends": (["onnx_int8"], ["onnx_int8", "torch_fp32"], ["onnx_int8", "torch_fp32"]),
        "concurrency": ([1, 4], [1, 8, 32], [1, 8, 32]),
        "load_seconds": (0.4, 3.0, 10.0),
        "warmup_seconds": (0.2, 1.0, 2.0),
        "inprocess_seconds": (0.3, 1.5, 3.0),
        "paired_rounds": (1, 3, 5),
        "drift_texts": (48, 240, 480),
    },
    FederatedSettings: {
        "n_train": (200, None, None),
        "n_test": (100, None, None),
        "rounds": (5, 20, 20),
        "run_flwr": (False, True, True),
    },
    StudySettings: {
        "few_labels": (32, 64, 64),
        "train_size": (64, 640, 1500),
        "teacher_epochs": (1, 3, 2),
        "unlabeled_notes": (300, 4000, 20000),
        "pretrain_steps": (5, 300, 1000),
        "kd_epochs": (1, 2, 3),
        "pima_seeds": (1, 1, 5),
        "test_rows": (64, None, None),
        "audit_resamples": (200, 1000, 2000),
    },
    RetailSettings: {
        "max_items": (1000, None, None),
        "mf_dim": (32, 32, 32),
        "mf_steps": (60, 120, 300),
        "text_weights": ((0.25, 0.5, 1.0),) * 3,
        "cold_max_ratings": (2, 2, 2),
        "questions": (96, 240, 480),
        "routing_questions": (120, 600, 1200),
        "bootstrap_resamples": (200, 1000, 2000),
    },
    LlmSettings: {
        "layer_tokens": (16, 32, 64),
        "generate_tokens": (4, 24, 48),
        "speed_new_tokens": (8, 64, 64),
        "speed_rounds": (1, 1, 3),
        "prefill_tokens": (64, 256, 512),
        "prompt_rows": (4, 80, 300),
        "shots_per_label": (1, 2, 4),
        "finetune_labels": ((), (), (16, 64, 3000)),
        "probe_labels": ((16,), (16, 64), (16, 64, 3000)),
        "min_steps": (4, 40, 60),
        "min_epochs": (1, 2, 3),
        "bpb_bytes": (600, 4000, 16000),
        "context_bytes": (50_000, 1_000_000, 4_000_000),
        "sft_train_per_task": (1, 20, 100),
        "sft_held_out_per_task": (1, 12, 50),
        "sft_max_words": (16, 40, 60),
        "sft_epochs": (1, 1, 2),
        "sft_batch_size": (3, 6, 8),
        "lora_rank": (4, 8, 8),
        "sft_new_tokens": (3, 6, 6),
    },
}


@pytest.mark.parametrize("cls", list(PINNED), ids=lambda c: c.__name__)
@pytest.mark.parametrize("profile", PROFILES)
def test_values_at_every_profile_are_pinned(cls: type[ProfileSettings], profile: str) -> None:
    expected = {name: values[PROFILES.index(profile)] for name, values in PINNED[cls].items()}
    assert cls.for_profile(profile).as_dict() == expected


@pytest.mark.parametrize("cls", list(PINNED), ids=lambda c: c.__name__)
def test_none_means_the_profiles_value(cls: type[ProfileSettings]) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    assert cls.for_profile("lesson", **dict.fromkeys(names)) == cls.for_profile("lesson")


def test_the_profile_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMKIT_PROFILE", "smoke")
    assert FinetuneSettings.for_profile(None) == FinetuneSettings.for_profile("smoke")
    monkeypatch.delenv("LLMKIT_PROFILE")
    assert FinetuneSettings.for_profile(None) == FinetuneSettings.for_profile("lesson")


def test_a_given_value_is_kept() -> None:
    s = FinetuneSettings.for_profile("full", seed_train_size=100, learning_rate=3e-4)
    assert (s.seed_train_size, s.learning_rate, s.seed_test_size) == (100, 3e-4, 1000)


def test_zero_is_the_default_where_the_notebook_says_x_or_default() -> None:
    # notebook 03's `seed_train_size or ...`, 07's `rounds or ...`: 0 and [] take the profile's value
    assert FinetuneSettings.for_profile("smoke", seed_train_size=0).seed_train_size == 8
    assert FederatedSettings.for_profile("lesson", rounds=0).rounds == 20
    assert TransferSettings.for_profile("full", review_finetune_sizes=[]).review_finetune_sizes == [
        64,
        128,
        256,
        546,
    ]


def test_zero_is_kept_where_the_notebook_allows_it() -> None:
    # notebook 03's `condition_epochs`: 0 skips fine-tuning on conditions (TF-IDF only)
    assert FinetuneSettings.for_profile("lesson", condition_epochs=0).condition_epochs == 0
    assert FinetuneSettings.for_profile("lesson", condition_epochs=None).condition_epochs == 2
    # notebook 07's `run_flwr`: False skips `flwr run` at lesson
    assert FederatedSettings.for_profile("lesson", run_flwr=False).run_flwr is False
    assert FederatedSettings.for_profile("smoke", run_flwr=True).run_flwr is True


def test_unknown_names_are_rejected_with_the_valid_ones() -> None:
    with pytest.raises(
        LlmkitError, match=r"FinetuneSettings: no setting 'epochs'.*valid names: fixed_length"
    ):
        FinetuneSettings.for_profile("smoke", epochs=3)
    with pytest.raises(LlmkitError, match="profile"):
        FinetuneSettings.for_profile("huge")


def test_settings_are_frozen_and_lists_are_not_shared() -> None:
    a, b = PretrainSettings.for_profile("full"), PretrainSettings.for_profile("full")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.hidden = 1  # type: ignore[misc]
    a.scaling_hidden.append(512)
    assert b.scaling_hidden == [32, 64, 256] == PretrainSettings.for_profile("full").scaling_hidden


def test_scaling_widths_include_the_causal_lm() -> None:
    assert PretrainSettings.for_profile("smoke").scaling_widths == [16, 32, 64]
    assert PretrainSettings.for_profile("full").scaling_widths == [32, 64, 128, 256]
    assert PretrainSettings.for_profile("lesson", scaling_hidden=[256, 32], hidden=64).scaling_widths == [
        32,
        64,
        256,
    ]


def test_transfer_curves_follow_the_pool() -> None:
    s = TransferSettings.for_profile("smoke", pool_size=200)
    assert (s.probe_sizes, s.finetune_sizes, s.lora_sizes) == ([16, 200], [16, 200], [200])
    assert TransferSettings.for_profile("lesson", pool_size=200).probe_sizes == [16, 32, 64, 128, 200]
    assert TransferSettings.for_profile("full", pool_size=640).random_sizes == [16, 32, 64, 128, 256, 640]


@pytest.mark.parametrize("profile", PROFILES)
def test_shared_sizes_match_their_sources(profile: str) -> None:
    # 04's and the case study's domain adaptation find one cached encoder; the case study finds 05's models
    t, dapt = TransferSettings.for_profile(profile), adapt.DaptConfig.for_profile(profile)
    assert (t.dapt_steps, t.dapt_head_steps) == (dapt.steps, dapt.head_steps)
    s, recipe = StudySettings.for_profile(profile), DistillRecipe.for_profile(profile)
    assert (s.train_size, s.teacher_epochs) == (recipe.teacher_train_size, recipe.teacher_epochs)
    # the case study's unlabeled notes are both the student's pretraining and its transfer set
    assert s.unlabeled_notes == recipe.pretrain_notes == recipe.transfer_notes
    assert (s.unlabeled_notes, s.pretrain_steps, s.kd_epochs) == (
        recipe.pretrain_notes,
        recipe.pretrain_steps,
        recipe.kd_epochs,
    )
    # 05, 06 and 08 ask for the same cached teacher and student
    for cls in (DistillSettings, CompressSettings, DeploySettings):
        shared = cls.for_profile(profile)
        assert {name: getattr(shared, name) for name in RECIPE} == recipe.as_dict()


def test_notebook_parameters_override_05s_recipe_in_06() -> None:
    # 06's student_* parameters name 05's fields; a given value is kept, None takes 05's
    s = CompressSettings.for_profile("smoke", pretrain_steps=7, kd_epochs=None, timing_rounds=None)
    assert (s.pretrain_steps, s.kd_epochs, s.timing_rounds, s.teacher_train_size) == (7, 1, 1, 64)
    assert DeploySettings.for_profile("lesson", backends=["torch_fp32"]).backends == ["torch_fp32"]


def test_dapt_config_takes_04s_steps_and_keeps_its_own_defaults() -> None:
    assert adapt.DaptConfig.for_profile("full", seed=3, bf16=None) == adapt.DaptConfig(
        steps=300, head_steps=100, seed=3
    )
    assert adapt.DaptConfig.for_profile("smoke", head_steps=0).head_steps == 0  # 0: no head-only phase
    assert (adapt.DaptConfig().steps, adapt.DaptConfig().head_steps) == (60, 30)


def test_a_plain_field_keeps_its_default_and_a_derived_one_sees_earlier_fields() -> None:
    @dataclasses.dataclass(frozen=True)
    class Toy(ProfileSettings):
        seed: int = 0
        n: int = per_profile(1, 2, 3)
        twice: int = per_profile(lambda v: 2 * v["n"] + v["seed"], 0, 0, falsy_default=False)

    assert Toy.for_profile("smoke") == Toy(seed=0, n=1, twice=2)
    assert Toy.for_profile("smoke", n=5, seed=7) == Toy(seed=7, n=5, twice=17)
    assert Toy.for_profile("lesson").twice == 0
