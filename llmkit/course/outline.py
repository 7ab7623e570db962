"""The course map: every notebook, the seed's term for it, what it teaches, and its measured times.

Notebook 00 shows this table and the README carries :func:`markdown_table` verbatim (a test keeps
them in step: edit the times here, then paste ``python -m llmkit.course.outline`` into the README).
Times are wall-clock seconds measured with ``llmkit run`` on the 2-core reference CPU; ``None``
means the notebook is planned and not written yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.core.config import repo_root


@dataclass(frozen=True)
class Chapter:
    stem: str  # notebook file stem under notebooks/
    term: str  # the seed's Chinese term
    title: str  # English name
    teaches: str  # one line
    smoke_s: float | None = None  # measured wall time at the smoke profile
    lesson_s: float | None = None  # measured wall time at the lesson profile, from an empty cache
    full_s: float | None = None  # measured wall time at the full profile (None: not measured yet)

    @property
    def number(self) -> str:
        return self.stem.split("_", 1)[0] if self.stem[:2].isdigit() else "cs"

    @property
    def available(self) -> bool:
        folder = repo_root() / "notebooks"
        return (folder / f"{self.stem}.ipynb").exists()


LIFECYCLE = "预训练 → 微调 → 迁移学习 → 知识蒸馏 → 模型压缩与加速 → 联邦学习 → 推理与部署"
LIFECYCLE_EN = (
    "pretraining → fine-tuning → transfer learning → knowledge distillation → "
    "compression & acceleration → federated learning → inference & deployment"
)

COURSE: tuple[Chapter, ...] = (
    Chapter(
        "00_setup",
        "概览",
        "Setup and course map",
        "environment and asset check, machine peak, profiles",
        9,
        8,
    ),
    Chapter(
        "01_loss_derivation",
        "损失函数与梯度下降",
        "Loss derivation",
        "BCE from the Bernoulli likelihood, its gradient, GD by hand; softmax CE, next-token loss, perplexity",
        13,
        13,
    ),
    Chapter(
        "02_pretraining",
        "预训练",
        "Pretraining",
        "tokenizer training, MLM and CLM from scratch, a mini scaling study",
        24,
        131,
    ),
    Chapter(
        "03_fine_tuning",
        "微调",
        "Fine-tuning",
        "the seed's §5.2 code verbatim, its defects run, the fixed code at its 10 epochs, llmkit's loop, Trainer",
        34,
        393,
    ),
    Chapter(
        "04_transfer_learning",
        "迁移学习",
        "Transfer learning",
        "data efficiency, linear probe, LoRA, domain-adaptive pretraining",
        50,
        418,
    ),
    Chapter(
        "05_distillation",
        "知识蒸馏",
        "Knowledge distillation",
        "KD loss derived, Hinton's MNIST result on digits, MiniLM → student",
        46,
        356,
    ),
    Chapter(
        "06_compression",
        "模型压缩与加速",
        "Compression and acceleration",
        "int8, pruning, ONNX Runtime, the distilled student, the Pareto front",
        38,
        211,
    ),
    Chapter(
        "07_federated_learning",
        "联邦学习",
        "Federated learning",
        "hospitals as Flower clients, non-IID, FedAvg, DP",
        40,
        176,
    ),
    Chapter(
        "08_deployment",
        "推理与部署",
        "Inference and deployment",
        "an HTTP service, batching, latency under load",
        40,
        222,
    ),
    Chapter(
        "09_large_language_model",
        "大模型",
        "The large language model",
        "SmolLM2 inside (one layer by hand), decoding rules, speed vs the memory bound, bits per byte, prompting vs "
        "fine-tuning, SFT with LoRA, cost",
        34,
        232,
    ),
    Chapter(
        "10_fairness_transparency",
        "公平性与透明性",
        "Fairness and transparency",
        "fairlearn audit with intervals, a planted bias found, mitigation, attributions checked by deletion",
        20,
        82,
    ),
    Chapter(
        "case_studies/healthcare_diabetes",
        "应用场景",
        "Case study: diabetes detection",
        "the seed's §4.3 end to end, and the analyst path",
        50,
        372,
    ),
    Chapter(
        "case_studies/finance_credit_risk",
        "金融服务",
        "Case study: credit risk and market direction",
        "the analyst engine on real loans, rare defaults, costs, and the market",
        26,
        139,
    ),
    Chapter(
        "case_studies/transport_demand",
        "智能交通",
        "Case study: traffic-flow prediction and delays",
        "hourly bike rentals and daily rail entries against the last value and the same hour last week; "
        "327,346 flights' delays, the large-table case, and a bundle",
        24,
        215,
    ),
    Chapter(
        "case_studies/manufacturing_maintenance",
        "智能制造",
        "Case study: predictive maintenance and quality",
        "machine failures against the floor and the generator's best achievable score, notes fused with sensors, "
        "a cost-set alert threshold, concrete strength",
        31,
        55,
    ),
    Chapter(
        "case_studies/retail_recommendation",
        "零售电商",
        "Case study: recommendation, customer service and inventory",
        "MovieLens recommenders against the most popular films, help-centre retrieval, an intent router's bundle, "
        "monthly demand against the same month last year",
        20,
        90,
    ),
)


def chapters() -> list[dict[str, object]]:
    """The course map as rows (for a DataFrame in notebook 00)."""
    return [
        {
            "#": c.number,
            "notebook": c.stem,
            "seed term": c.term,
            "title": c.title,
            "what it teaches": c.teaches,
            "smoke (s)": c.smoke_s,
            "lesson (s)": c.lesson_s,
            "full (s)": c.full_s,
            "status": "ready" if c.available else "planned",
        }
        for c in COURSE
    ]


def _seconds(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value:.0f} s" if value < 90 else f"{value / 60:.1f} min"


def markdown_table() -> str:
    """The course map as the README's markdown table."""
    lines = [
        "| # | notebook | seed term | title | what it teaches | smoke | lesson | full |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in COURSE:
        times = (
            f"{_seconds(c.smoke_s)} | {_seconds(c.lesson_s)} | {_seconds(c.full_s)}"
            if c.available
            else "planned | planned | planned"
        )
        lines.append(f"| {c.number} | `{c.stem}` | {c.term} | {c.title} | {c.teaches} | {times} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())
