"""llmkit.llm.sft and llmkit.llm.perplexity on a tiny random Llama and a character tokenizer with a chat template:
the answer-token mask, the answer-only loss against the library's, LoRA starting at the base and training
deterministically, the adapter saved alone, batched greedy answers against one at a time, exact match and its
paired interval, the instruction set, and bits per byte."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.llm import perplexity, sft

START, END, PAD = 250, 251, 252  # <s>, <e> (end of turn, the eos) and padding


class ChatCharTokenizer:
    """One token per character (code point < 250) and three special tokens; a ChatML-like template."""

    eos_token_id, pad_token_id = END, PAD

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [min(ord(c), 249) for c in text]}

    def decode(self, ids, skip_special_tokens=False):
        special = {START: "<s>", END: "<e>", PAD: "<p>"}
        return "".join(
            ("" if skip_special_tokens else special[int(i)]) if int(i) in special else chr(int(i))
            for i in ids
        )

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=False):
        ids = []
        for m in messages:
            ids += [START, *self(m["role"] + "\n" + m["content"])["input_ids"], END, *self("\n")["input_ids"]]
        if add_generation_prompt:
            ids += [START, *self("assistant\n")["input_ids"]]
        return ids if tokenize else self.decode(ids)


def tiny_llama(seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=256, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True, eos_token_id=END,
        pad_token_id=PAD, bos_token_id=START,
    )  # fmt: skip
    return LlamaForCausalLM(config).eval()


EXAMPLES = [
    sft.Example("t", "HbA1c 7.1, on metformin.\n\nDiabetes?", "yes"),
    sft.Example("t", "Cough for a week.\n\nDiabetes?", "no"),
    sft.Example("t", "Fasting glucose 140.\n\nDiabetes?", "yes"),
    sft.Example("t", "Knee pain.\n\nDiabetes?", "no"),
]


def test_only_the_answer_and_its_end_token_are_labelled():
    tok = ChatCharTokenizer()
    row = sft.encode_example(tok, EXAMPLES[0])
    prompt = sft.prompt_ids(tok, EXAMPLES[0].prompt)
    assert row["input_ids"][: len(prompt)] == prompt
    assert row["labels"][: len(prompt)] == [-100] * len(prompt)
    assert tok.decode(row["labels"][len(prompt) :]) == "yes<e>"  # the trailing newline after <e> is dropped
    assert len(row["input_ids"]) == len(row["labels"]) == len(prompt) + 4


def test_answer_loss_is_the_library_loss_on_the_answer_tokens():
    model, tok = tiny_llama(), ChatCharTokenizer()
    batch = sft.pad_batch([sft.encode_example(tok, e) for e in EXAMPLES], PAD)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    library = model(**batch).loss
    assert abs(float(sft.answer_loss(model, batch).detach()) - float(library.detach())) < 1e-5
    wrapped = sft.add_lora(model, sft.SftConfig(rank=2, alpha=4))
    assert (
        abs(float(sft.answer_loss(wrapped, batch).detach()) - float(library.detach())) < 1e-5
    )  # B = 0: the base model
    batch["labels"][:] = -100
    with pytest.raises(LlmkitError, match="no answer tokens"):
        sft.answer_loss(model, batch)


def test_lora_training_is_deterministic_learns_and_saves_only_the_adapter(tmp_path):
    import torch
    from peft import PeftModel

    tok = ChatCharTokenizer()
    cfg = sft.SftConfig(epochs=6, batch_size=2, learning_rate=1e-2, rank=4, alpha=8)
    runs = []
    for _ in range(2):
        model = sft.add_lora(tiny_llama(), cfg)
        steps = sft.train_sft(model, tok, EXAMPLES, cfg)
        runs.append((model, steps))
    (model, steps), (_, again) = runs
    assert steps.steps == 12 and steps.step_loss == again.step_loss
    assert steps.epoch_loss[-1] < steps.epoch_loss[0]
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    size = sft.save_adapter(model, tmp_path / "adapter")
    saved = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= saved  # peft may add a README.md
    assert not [n for n in saved if n.endswith((".bin", ".pt")) or n == "model.safetensors"]
    lora_bytes = sum(p.numel() * 4 for n, p in model.named_parameters() if "lora_" in n)
    assert lora_bytes <= size < lora_bytes + 4096  # the adapters' fp32 weights and a header, no base weights
    reloaded = PeftModel.from_pretrained(tiny_llama(), tmp_path / "adapter").eval()
    ids = torch.tensor([sft.prompt_ids(tok, EXAMPLES[1].prompt)])
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)


def test_batched_greedy_answers_match_one_at_a_time_and_a_plain_loop():
    import torch

    model, tok = tiny_llama(seed=3), ChatCharTokenizer()
    prompts = [e.prompt for e in EXAMPLES] + ["ok"]
    batched = sft.greedy_answers(model, tok, prompts, max_new_tokens=5, batch_size=3)
    assert batched == sft.greedy_answers(model, tok, prompts, max_new_tokens=5, batch_size=1)
    wrapped = sft.add_lora(tiny_llama(seed=3), sft.SftConfig(rank=2, alpha=4))  # B = 0: the same answers
    assert sft.greedy_answers(wrapped, tok, prompts, max_new_tokens=5) == batched
    for prompt, answer in zip(prompts, batched, strict=True):
        ids = torch.tensor([sft.prompt_ids(tok, prompt)])
        new = []
        with torch.no_grad():
            for _ in range(5):
                token = int(model(input_ids=ids).logits[0, -1].argmax())
                if token == END:
                    break
                new.append(token)
                ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        assert answer == tok.decode(new, skip_special_tokens=True)


def test_normalized_exact_match_and_the_paired_gain():
    assert (
        sft.normalize("  Yes.") == "yes"
        and sft.normalize("7.6%") == "7.6"
        and sft.normalize("'Neutral'") == "neutral"
    )
    assert sft.normalize("Yes, it does") != "yes"
    hits = sft.exact_match(
        ["Yes.", "no", "7.6%", "Positive!", "negative review"], ["yes", "yes", "7.6", "positive", "negative"]
    )
    assert hits.tolist() == [1, 0, 1, 1, 0]
    with pytest.raises(LlmkitError):
        sft.exact_match(["a"], [])
    before, after = np.array([0, 0, 1, 0, 1, 0, 0, 0.0] * 5), np.array([1, 1, 1, 0, 1, 1, 0, 1.0] * 5)
    gain, (low, high) = sft.gain_interval(before, after)
    assert gain == pytest.approx(0.5) and low <= gain <= high and low > 0
    assert sft.gain_interval(before, after) == (gain, (low, high))


def test_the_instruction_set_is_balanced_held_out_and_seeded():
    train, held_out = sft.build_instructions(6, 4, max_words=60, seed=0)
    assert len(train) == 18 and len(held_out) == 12
    assert {e.task for e in train} == set(sft.QUESTIONS)
    assert not {e.prompt for e in train} & {e.prompt for e in held_out}
    answers = {task: [e.answer for e in held_out if e.task == task] for task in sft.QUESTIONS}
    assert sorted(answers["diabetes"]) == ["no", "no", "yes", "yes"]
    assert set(answers["sentiment"]) == {"negative", "neutral", "positive"}
    assert sum(float(a) >= 6.5 for a in answers["hba1c"]) == 2
    for e in train + held_out:
        assert e.prompt.endswith(sft.QUESTIONS[e.task])
        if e.task == "hba1c":
            assert e.answer in e.prompt.split("\n\n")[0]
    assert sft.build_instructions(6, 4, seed=0) == (train, held_out)
    assert sft.build_instructions(6, 4, seed=1) != (train, held_out)
    assert sft.clip_words("a b c d", 2) == "a b ..." and sft.clip_words("a b", 2) == "a b"


def test_bits_per_byte_of_a_model_a_unigram_and_compressors():
    import torch

    assert perplexity.bits_per_byte(math.log(2) * 10, 5) == pytest.approx(2.0)
    assert perplexity.bits_per_byte(10, 5, unit="bits") == 2.0
    with pytest.raises(LlmkitError):
        perplexity.bits_per_byte(1.0, 0)
    text = "To be, or not to be: that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 3
    chunks = perplexity.text_chunks(text, chunk_bytes=60)
    assert "\n".join(chunks).strip() == text.strip() and all(len(c.encode()) <= 60 for c in chunks)
    assert len(perplexity.text_chunks(text, 60, max_bytes=100)) == 2

    model, tok = tiny_llama(), ChatCharTokenizer()
    bits = perplexity.causal_lm_bits(model, tok, chunks[:2], start_id=START)
    ids = torch.tensor([[START, *tok(chunks[0])["input_ids"]]])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
    assert bits[0] == pytest.approx(
        -float(logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]].sum()) / math.log(2), rel=1e-5
    )
    with torch.no_grad():  # a model that knows nothing: log2(vocab) bits per character
        model.lm_head.weight.zero_()
    assert perplexity.causal_lm_bits(model, tok, chunks[:1], START)[0] == pytest.approx(
        len(chunks[0]) * math.log2(256), rel=1e-5
    )

    uni = perplexity.unigram_bits("aaab", ["ab"])
    assert uni[0] == pytest.approx(-math.log2(4 / 260) - math.log2(2 / 260))
    alone = perplexity.compressed_bits(text, "lzma")
    assert perplexity.compressed_bits(text, "lzma", context=text) < alone  # read before: cheap to code again
    assert perplexity.compressed_bits(text, "gzip") > 0
    with pytest.raises(LlmkitError):
        perplexity.compressed_bits(text, "zip")
