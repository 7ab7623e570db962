"""Instruction tuning (SFT) with LoRA (notebook 09, section 6): an instruction set built offline from the course's
data, the loss on the answer tokens only, held-out prompts scored by exact match before and after.

* :func:`build_instructions` -- (train, held-out) :class:`Example` lists from the diabetes notes ("Does this note
  describe diabetes?", "Extract the HbA1c value") and the Drugs.com reviews ("positive, neutral or negative?"):
  training rows from each data set's train split, held-out rows from its test split, drawn with a seed;
* :func:`encode_example` -- the chat template of prompt and answer, with every prompt token labelled ``-100``;
* :func:`answer_loss` -- next-token cross-entropy on the answer tokens, the vocabulary head run on those alone;
* :func:`add_lora` and :func:`train_sft` -- ``peft`` LoRA on the attention projections, trained by
  :func:`llmkit.finetune.loop.fit` (notebook 03's loop);
* :func:`greedy_answers`, :func:`normalize`, :func:`exact_match`, :func:`gain_interval` -- the score;
* :func:`save_adapter` -- only the adapter, as safetensors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from llmkit.finetune.loop import Steps

QUESTIONS: dict[str, str] = {
    "diabetes": "Does this note describe diabetes? Answer yes or no.",
    "hba1c": "Extract the HbA1c value from this note. Answer with the number only.",
    "sentiment": "Is this review positive, neutral or negative? Answer in one word.",
}
ANSWERS: dict[str, tuple[str, ...]] = {
    "diabetes": ("no", "yes"),
    "sentiment": ("negative", "neutral", "positive"),
}


@dataclass(frozen=True)
class Example:
    """One instruction: the task it belongs to, the user's turn (text, then question) and the gold answer."""

    task: str
    prompt: str
    answer: str


def clip_words(text: str, max_words: int) -> str:
    """The first ``max_words`` words of ``text`` (whitespace-separated), with an ellipsis if it was cut."""
    words = text.split()
    return " ".join(words[:max_words]) + (" ..." if len(words) > max_words else "")


def _states_hba1c(text: str, value: float) -> bool:
    """Whether ``text`` gives the HbA1c ``value`` as a number (``5.6`` but not inside ``15.6`` or ``5.65``)."""
    return re.search(rf"(?<![\d.]){re.escape(str(value))}(?![\d])", text) is not None


def _stratified(labels: Sequence[Any], n: int, rng: np.random.Generator) -> list[int]:
    """``n`` row indices, as equal a share of each label as the rows allow (seeded)."""
    labels = np.asarray(labels)
    classes = sorted(set(labels.tolist()))
    pools = [list(rng.permutation(np.flatnonzero(labels == c))) for c in classes]
    picked: list[int] = []
    while len(picked) < n and any(pools):
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(int(pool.pop()))
    if len(picked) < n:
        raise LlmkitError(f"asked for {n} rows, the data has {len(labels)}")
    return sorted(picked)


def _examples(split: str, n: int, max_words: int, rng: np.random.Generator) -> list[Example]:
    from llmkit.data.real import drug_reviews
    from llmkit.data.synth.diabetes_notes import load_diabetes_notes

    notes = load_diabetes_notes(split)
    notes = notes.assign(clipped=[clip_words(t, max_words) for t in notes["note"]])
    out = []
    for i in _stratified(notes["label"], n, rng):
        answer = "yes" if notes["label"][i] == 1 else "no"
        out.append(Example("diabetes", f"{notes['clipped'][i]}\n\n{QUESTIONS['diabetes']}", answer))
    stated = notes[[_states_hba1c(t, v) for t, v in zip(notes["clipped"], notes["hba1c"], strict=True)]]
    stated = stated.reset_index(drop=True)
    for i in _stratified(stated["hba1c"] >= 6.5, n, rng):  # half below the diabetic cut-off, half above
        out.append(
            Example("hba1c", f"{stated['clipped'][i]}\n\n{QUESTIONS['hba1c']}", str(stated["hba1c"][i]))
        )
    reviews = drug_reviews("train" if split == "train" else "test")
    for i in _stratified(reviews["rating"], n, rng):
        text = clip_words(reviews["review"][i], max_words)
        out.append(Example("sentiment", f"{text}\n\n{QUESTIONS['sentiment']}", str(reviews["rating"][i])))
    return out


def build_instructions(
    train_per_task: int,  # training examples of each task, from each data set's train split
    held_out_per_task: int,  # held-out examples of each task, from its test split: never trained on
    max_words: int = 60,  # a note or review is cut to this many words (cost grows with the tokens)
    seed: int = 0,
) -> tuple[list[Example], list[Example]]:
    """(train, held-out) instructions of the three tasks; each task's answers are balanced (yes / no; HbA1c
    below / above 6.5; negative / neutral / positive) as far as the rows allow, so one constant answer cannot
    score well. HbA1c rows are only notes that state the value as a number within the kept words."""
    if train_per_task < 1 or held_out_per_task < 1:
        raise LlmkitError(
            f"train_per_task and held_out_per_task: expected >= 1, got {train_per_task}, {held_out_per_task}"
        )
    rng = np.random.default_rng(seed)
    return _examples("train", train_per_task, max_words, rng), _examples(
        "test", held_out_per_task, max_words, rng
    )


# ------------------------------------------------------------------------------------------ encoding


def _messages(prompt: str, answer: str | None = None) -> list[dict[str, str]]:
    turns = [{"role": "user", "content": prompt}]
    return turns + ([{"role": "assistant", "content": answer}] if answer is not None else [])


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """The chat template of one user turn, ending where the assistant's answer begins."""
    ids = tokenizer.apply_chat_template(_messages(prompt), add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def encode_example(tokenizer: Any, example: Example) -> dict[str, list[int]]:
    """``input_ids`` of the whole chat (prompt, answer, end-of-turn) and ``labels``: ``-100`` on every prompt
    token, so only the answer (and its end-of-turn token, which teaches the model to stop) is learned.
    Anything the template adds after the end-of-turn token is dropped."""
    prompt = prompt_ids(tokenizer, example.prompt)
    full = tokenizer.apply_chat_template(_messages(example.prompt, example.answer), tokenize=True)
    full = list(full["input_ids"] if isinstance(full, dict) or hasattr(full, "keys") else full)
    if full[: len(prompt)] != prompt:
        raise LlmkitError("the chat template of prompt + answer does not start with the prompt's template")
    answer = full[len(prompt) :]
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is not None and eos in answer:
        answer = answer[: answer.index(eos) + 1]
    return {"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer}


def pad_batch(rows: Sequence[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (``-100`` on padding): ``[batch, longest]``."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n], labels[i, :n], mask[i, :n] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def answer_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the labelled (answer) tokens: what ``model(..., labels=...).loss``
    gives, with the vocabulary head (49,152 x 576 in SmolLM2) run only on the few positions that predict an
    answer token instead of on every position."""
    import torch

    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = causal_lm.model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state  # [batch, tokens, hidden]
    targets = batch["labels"][:, 1:]  # position t predicts token t + 1
    rows, cols = torch.nonzero(targets != -100, as_tuple=True)
    if len(rows) == 0:
        raise LlmkitError("answer_loss: the batch has no answer tokens (every label is -100)")
    logits = causal_lm.lm_head(hidden[rows, cols])  # [answer tokens, vocab]
    return torch.nn.functional.cross_entropy(logits.float(), targets[rows, cols])


# ------------------------------------------------------------------------------------------ training


@dataclass(frozen=True)
class SftConfig:
    """LoRA and the loop's settings (the fields :func:`llmkit.finetune.loop.fit` reads, and the adapter's)."""

    epochs: int = 1
    batch_size: int = 8
    learning_rate: float = (
        1e-3  # LoRA takes a larger step than full fine-tuning (Hu et al. 2021 used 2e-4..1e-3)
    )
    warmup: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    bf16: bool = False
    rank: int = 8  # r of each adapter B A
    alpha: int = 16  # the update is scaled by alpha / r
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")  # the attention projections, as in Hu et al. 2021


def add_lora(model: Any, cfg: SftConfig) -> Any:
    """``model`` wrapped by ``peft`` with LoRA adapters (seeded). The adapters are injected into ``model``'s own
    layers, so ``model`` itself now carries them; B starts at zero, so the wrapped model starts as the base."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    torch.manual_seed(cfg.seed)  # the A matrices' random start
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=cfg.rank,
        lora_alpha=cfg.alpha,
        lora_dropout=0.0,
        target_modules=list(cfg.target_modules),
    )
    return get_peft_model(model, config)


def train_sft(
    model: Any,  # a peft-wrapped causal LM (:func:`add_lora`), trained in place
    tokenizer: Any,
    examples: Sequence[Example],
    cfg: SftConfig,
    progress: bool = False,
) -> Steps:
    """Fine-tune the adapters on ``examples`` with the loss on the answer tokens only; the loop's record."""
    from llmkit.finetune.loop import fit

    encoded = [encode_example(tokenizer, e) for e in examples]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return fit(
        model,
        [len(r["input_ids"]) for r in encoded],
        lambda rows: pad_batch([encoded[i] for i in rows], pad_id),
        lambda batch: answer_loss(model, batch),
        cfg,
        progress=progress,
        tag="sft",
    )


# ------------------------------------------------------------------------------------------ scoring


def greedy_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int = 6,  # answers here are one word or one number: a few tokens
    batch_size: int = 16,
) -> list[str]:
    """Each prompt's greedy answer (the chat template applied; stops at the end-of-turn token), decoded without
    special tokens. Prompts of similar length run together, left-padded so every row ends where it answers."""
    import torch

    from llmkit.core.batches import longest_first

    encoded = [prompt_ids(tokenizer, p) for p in prompts]
    eos = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    answers = [""] * len(prompts)
    with torch.inference_mode():
        for rows in longest_first([len(ids) for ids in encoded], batch_size):
            width = max(len(encoded[i]) for i in rows)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, i in enumerate(rows):
                ids[j, width - len(encoded[i]) :], mask[j, width - len(encoded[i]) :] = (
                    torch.tensor(encoded[i]),
                    1,
                )
            out = model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                eos_token_id=eos, pad_token_id=pad_id,
            )  # fmt: skip
            for j, i in enumerate(rows):
                new = out[j, width:].tolist()
                new = new[: new.index(eos)] if eos in new else new
                answers[i] = tokenizer.decode(new, skip_special_tokens=True)
    return answers


def normalize(answer: str) -> str:
    """Lower case, inner whitespace collapsed, and surrounding spaces, quotes and punctuation (``.,;:!?%``)
    stripped: ``" Yes."`` and ``"yes"`` match, ``"7.6%"`` and ``"7.6"`` match, ``"Yes, it does"`` does not."""
    return " ".join(answer.lower().split()).strip(" .,;:!?%\"'`")


def exact_match(predicted: Sequence[str], gold: Sequence[str]) -> np.ndarray:
    """``[rows]`` 1.0 where the normalized answer equals the normalized gold answer, else 0.0."""
    if len(predicted) != len(gold):
        raise LlmkitError(f"exact_match: {len(predicted)} answers for {len(gold)} gold answers")
    return np.array([normalize(p) == normalize(g) for p, g in zip(predicted, gold, strict=True)], dtype=float)


def well_formed(task: str, answer: str) -> bool:
    """Whether ``answer`` has the form the question asks for (right or wrong): one of the task's words, or for
    ``hba1c`` a bare number. It separates learning the format from learning the content."""
    if task == "hba1c":
        return re.fullmatch(r"\d+(\.\d+)?", normalize(answer)) is not None
    return normalize(answer) in ANSWERS[task]


def score_table(examples: Sequence[Example], answers: dict[str, Sequence[str]]) -> pd.DataFrame:
    """Exact match and well-formed share per task and over all ``examples``, for each stage in ``answers``
    (``{"before": [...], "after": [...]}``, one answer per example)."""
    import pandas as pd

    tasks = [e.task for e in examples]
    columns = {}
    for stage, said in answers.items():
        columns[f"exact match {stage}"] = exact_match(said, [e.answer for e in examples])
        columns[f"well-formed {stage}"] = [
            well_formed(e.task, a) for e, a in zip(examples, said, strict=True)
        ]
    table = pd.DataFrame(columns, index=tasks, dtype=float)
    by_task = table.groupby(level=0, sort=False).mean()
    by_task.loc["all"] = table.mean()
    return by_task.assign(prompts=[*table.groupby(level=0, sort=False).size(), len(table)])


def gain_interval(
    before: np.ndarray, after: np.ndarray, seed: int = 0, n_resamples: int = 1000
) -> tuple[float, tuple[float, float]]:
    """(exact match after minus before, its 95% paired bootstrap interval over the same held-out prompts)."""
    from llmkit.core.evaluate import bootstrap_interval

    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before.shape != after.shape or before.ndim != 1:
        raise LlmkitError(f"gain_interval: expected two [rows] arrays, got {before.shape} and {after.shape}")

    def gain(b: np.ndarray, a: np.ndarray) -> float:
        return float(a.mean() - b.mean())

    return gain(before, after), bootstrap_interval(gain, before, after, n_resamples=n_resamples, seed=seed)


def save_adapter(model: Any, folder: str | Path) -> int:
    """Save only the LoRA adapter (``adapter_model.safetensors`` and ``adapter_config.json``) into ``folder``;
    return the safetensors file's size in bytes. The 135M base weights are not written."""
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise LlmkitError(f"save_adapter: {weights} was not written")
    return weights.stat().st_size
