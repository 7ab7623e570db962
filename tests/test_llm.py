"""llmkit.llm: the by-hand decoder layer against the library on a tiny random Llama, the decoding rules, the KV
cache (same greedy tokens with and without), the int8 byte count, the cost table's arithmetic, batched prompting
against one whole sequence at a time, and the prompting-vs-few-labels scoring."""

from __future__ import annotations

import pytest

from llmkit.core.errors import LlmkitError
from llmkit.llm import cost, generate, inside, prompting, speed, versus


def tiny_llama(seed: int = 0, vocab_size: int = 97):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True,
    )  # fmt: skip
    return LlamaForCausalLM(config).eval()


def test_layer_by_hand_matches_the_library():
    import torch

    model = tiny_llama()
    ids = torch.randint(0, 97, (1, 11), generator=torch.Generator().manual_seed(1))
    for layer in (0, 1):
        match = inside.layer_match(model, ids, layer)
        assert match.tokens == 11 and match.max_abs_diff < 1e-5 < match.output_scale
    with pytest.raises(LlmkitError, match="layer_index"):
        inside.layer_match(model, ids, 2)


def test_parameters_by_component_add_up():
    from llmkit.core.params import parameter_count

    model = tiny_llama()
    groups = inside.parameters_by_component(model)
    assert sum(groups.values()) == parameter_count(model)
    assert groups["embedding (tied with the output)"] == 97 * 32
    assert groups["RMSNorm"] == 32 * (2 * 2 + 1)
    assert len(inside.config_in_words(model.config)) >= 8


def test_top_k_and_top_p_filters():
    import torch

    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    assert torch.isinf(generate.top_k_filter(logits, 2)).tolist() == [False, False, True, True]
    probs = logits.softmax(-1)  # 0.644, 0.237, 0.087, 0.032
    assert torch.isinf(generate.top_p_filter(logits, 0.5)).tolist() == [False, True, True, True]
    assert torch.isinf(generate.top_p_filter(logits, 0.85)).tolist() == [False, False, True, True]
    assert not torch.isinf(generate.top_p_filter(logits, 1.0)).any()
    greedy = generate.next_token_probs(logits, generate.Rule("g"))
    assert greedy.tolist() == [1.0, 0.0, 0.0, 0.0]
    hot = generate.next_token_probs(logits, generate.Rule("t", temperature=2.0))
    assert torch.allclose(hot, (logits / 2).softmax(-1)) and hot[0] < probs[0]
    with pytest.raises(LlmkitError, match="top_p"):
        generate.Rule("bad", temperature=1.0, top_p=0.0)


def test_generate_cache_and_seed():
    import torch

    model = tiny_llama()
    ids = torch.tensor([[1, 5, 9, 3]])
    greedy = generate.RULES[0]
    with_cache = generate.generate(model, ids, greedy, 6, use_cache=True)
    without = generate.generate(model, ids, greedy, 6, use_cache=False)
    assert torch.equal(with_cache, without)
    rule = generate.Rule("t", temperature=1.5)
    a, b = (generate.generate(model, ids, rule, 8, seed=3) for _ in range(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, generate.generate(model, ids, rule, 8, seed=4))


def test_weight_bytes_fp32_int8_bf16():
    model = tiny_llama()
    linear = 2 * (2 * 32 * 32 + 2 * 32 * 16 + 3 * 32 * 48)  # per layer q,o + k,v + gate,up,down; 2 layers
    fp32 = speed.weight_bytes(model)
    assert fp32 == 4 * (linear + 97 * 32)  # the tied head read once; the lookup table not counted again
    assert speed.weight_bytes(speed.bf16_copy(model)) == fp32 // 2
    assert speed.weight_bytes(speed.int8_dynamic(model)) == fp32 // 4
    assert speed.bound_tokens_per_second(10.0, 10**9) == pytest.approx(10.0)
    assert speed.memory_bandwidth_gbs(megabytes=8, repeats=1) > 0


def test_cost_table_arithmetic():
    rows = {r["item"]: r["value"] for r in cost.cost_table(1e8, 100.0, 1, 10.0)}
    assert rows["training compute"] == pytest.approx(6 * 1e8 * 2e12)
    assert rows["training on this CPU"] == pytest.approx(1.2e21 / 1e11 / cost.SECONDS_PER_YEAR)
    assert rows["generating 1M tokens here"] == pytest.approx(1e6 / 10 / 3600)
    with pytest.raises(LlmkitError):
        cost.training_flops_6nd(0, 1)


class CharTokenizer:
    """One token per character (code point < 128): enough of a tokenizer for the prompting code."""

    def __call__(self, text, add_special_tokens=False, return_tensors=None):
        import torch

        ids = [min(ord(c), 127) for c in text]
        return {"input_ids": torch.tensor([ids]) if return_tensors == "pt" else ids}

    def decode(self, ids):
        return "".join(chr(int(i)) for i in ids)

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=False):
        text = "".join(f"<{m['role'][0]}>{m['content']}\n" for m in messages)
        return text + ("<a>" if add_generation_prompt else "")


def test_batched_label_logprobs_match_one_whole_sequence():
    import numpy as np
    import torch

    model, tok = tiny_llama(vocab_size=128), CharTokenizer()
    task = prompting.PromptTask("Diabetes? yes or no.", ("no", "yes"), max_text_tokens=40)
    texts = ["HbA1c 9.1, on metformin.", "Cough.", "Fasting glucose 140 twice; thirsty.", "BMI 22", "ok"]
    shots = [("Glucose 200.", 1), ("Sprained ankle.", 0)]
    for examples in ([], shots):
        batched = prompting.label_logprobs(model, tok, task, texts, examples, batch_size=3)
        one = prompting.label_logprobs(model, tok, task, texts, examples, batch_size=1)
        assert batched.shape == (5, 2) and abs(batched - one).max() < 1e-5
        words = prompting.label_token_ids(tok, task.words)
        for i, text in enumerate(texts):  # the prompt as one sequence, no cache, no padding
            prefix, suffix = prompting.prompt_parts(tok, task, text, examples)
            with torch.no_grad():
                logits = model(input_ids=tok(prefix + suffix, return_tensors="pt")["input_ids"]).logits[0, -1]
            assert abs(torch.log_softmax(logits[words], -1).numpy() - batched[i]).max() < 1e-5
        assert abs(np.exp(batched).sum(axis=1) - 1).max() < 1e-5


def test_prompting_vs_few_labels_scoring():
    import numpy as np

    from llmkit.llm.settings import LlmSettings
    from llmkit.transfer.settings import TransferSettings

    y = np.array([0] * 30 + [1] * 10)
    perfect = np.log(np.eye(2)[y] * 0.98 + 0.01)
    always_no = np.log(np.tile([0.9, 0.1], (40, 1)))
    table = versus.scored({"perfect": (perfect, 16), "always no": (always_no, 0)}, y)
    assert table.loc["always no", "accuracy"] == 0.75 and table.loc["always no", "balanced accuracy"] == 0.5
    assert table.loc["perfect", "balanced accuracy"] == 1.0 and table.loc["perfect", "low"] == 1.0
    assert list(table["test rows"]) == [40, 40] and list(table["labels used"]) == [16, 0]
    gap, (low, high) = versus.difference_interval(perfect, always_no, y)
    assert gap == 0.5 and low <= 0.5 <= high and low > 0
    with pytest.raises(LlmkitError, match="rows"):
        versus.scored({"short": (perfect[:5], 0)}, y)
    # notebook 04's rule: 64 labels in batches of 16 take 10 epochs = 40 steps; 16 labels take 40 epochs
    assert versus.finetuned_epochs(64, 40, 2) == 10 and versus.finetuned_epochs(16, 40, 2) == 40
    assert versus.finetuned_epochs(3000, 60, 3) == 3
    for profile in ("smoke", "lesson", "full"):
        ours, theirs = LlmSettings.for_profile(profile), TransferSettings.for_profile(profile)
        assert (ours.min_steps, ours.min_epochs) == (theirs.min_steps, theirs.min_epochs), profile
