"""Notebook 02's modules: tokenizer training and fertility, token blocks, the unigram baseline, the
masked-only MLM head, a few steps of Trainer, FLOP counting, and the torchrun script on 2 gloo processes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from llmkit.assets import corpora, models
from llmkit.core.errors import LlmkitError
from llmkit.data.synth import clinical_notes
from llmkit.pretrain import lmdata, networks, scaling, tokenization, training

torch.set_num_threads(1)  # tiny models: one thread is fastest and never fights another test process


@pytest.fixture(scope="module")
def plays():
    texts = corpora.shakespeare_texts("plays")
    return {name: texts[name] for name in ("macbeth", "othello", "hamlet")}


@pytest.fixture(scope="module")
def tokenizer(plays):
    return tokenization.train_wordpiece([plays["macbeth"], plays["othello"]], vocab_size=600)


@pytest.fixture(scope="module")
def corpus(tokenizer, plays):
    return lmdata.build_corpus(
        tokenizer, [plays["macbeth"], plays["othello"]], [plays["hamlet"]], block_len=32, max_val_blocks=16
    )


# ------------------------------------------------------------------------------------------ tokenizers


def test_wordpiece_has_bert_special_tokens_and_round_trips(tokenizer):
    assert len(tokenizer) <= 600
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4]) == list(tokenization.SPECIAL_TOKENS)
    assert tokenizer.mask_token_id == 4 and tokenizer.pad_token_id == 0
    text = "Fair is foul, and foul is fair."
    pieces = tokenization.show_tokens(tokenizer, "the thane of cawdor").split()
    assert pieces[0] == "the" and any(p.startswith("##") for p in pieces)  # a rarer word comes in pieces
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text.lower()


def test_wordpiece_training_gives_the_same_ids_in_every_process():
    # tokenizers' trainer alone does not (huggingface/tokenizers#1794): its hash maps are seeded per process
    code = (
        "import hashlib, json; from llmkit.assets import corpora; from llmkit.pretrain import tokenization; t = corpora.shakespeare_texts('plays'); "
        "v = tokenization.train_wordpiece([t['macbeth'], t['othello']], 600).get_vocab(); "
        "print(hashlib.sha256(json.dumps(sorted(v.items())).encode()).hexdigest())"
    )
    digests = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(3)
    }
    assert len(digests) == 1


def test_wordpiece_rejects_a_tiny_vocabulary():
    with pytest.raises(LlmkitError, match="vocab_size"):
        tokenization.train_wordpiece(["a b c"], vocab_size=3)


def test_fertility_counts_tokens_without_special_tokens_or_padding(tokenizer):
    texts = ["fair is foul", "and foul is fair"]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    got = tokenization.fertility(tokenizer, texts)
    assert got.words == 7 and got.tokens == sum(map(len, ids))
    assert got.tokens_per_word == pytest.approx(got.tokens / 7)
    assert tokenization.fertility(tokenizer, ["zzzz 你好"]).unk_rate > 0  # unseen characters -> [UNK]
    tokenizer._tokenizer.enable_padding(length=64)  # a tokenizer that pads (as MiniLM's tokenizer.json does)
    try:
        assert tokenization.fertility(tokenizer, texts) == got
    finally:
        tokenizer._tokenizer.no_padding()


def test_text_counts_add_up_to_fertility(tokenizer):
    texts = ["Fair is foul, and foul is fair.", "  ", "Hover through the fog and filthy air"]
    tokens, words = tokenization.text_counts(tokenizer, texts)
    f = tokenization.fertility(tokenizer, texts)
    assert tokens.shape == words.shape == (2,)
    assert tokens.sum() == f.tokens and words.sum() == f.words
    with pytest.raises(LlmkitError):
        tokenization.text_counts(tokenizer, [" "])


def test_a_tokenizer_trained_on_notes_has_lower_fertility_on_held_out_notes():
    notes = clinical_notes.generate_unlabeled_notes(800, seed=1)["note"].tolist()
    domain = tokenization.train_wordpiece(notes, vocab_size=2000)
    held_out = clinical_notes.generate_unlabeled_notes(100, seed=2)["note"].tolist()  # other patients
    general = models.load_tokenizer("minilm")
    ours, theirs = tokenization.fertility(domain, held_out), tokenization.fertility(general, held_out)
    assert ours.tokens_per_word < theirs.tokens_per_word
    assert "polyuria" in tokenization.domain_words(domain, general, k=50)


# -------------------------------------------------------------------------------- blocks and baselines


def test_token_blocks_are_equal_rows_of_the_joined_stream(tokenizer, corpus):
    texts = ["fair is foul", "and foul is fair"]
    blocks = lmdata.token_blocks(tokenizer, texts, block_len=3)
    stream = sum(
        ([*tokenizer(t, add_special_tokens=False)["input_ids"], tokenizer.sep_token_id] for t in texts), []
    )
    assert blocks.shape[1] == 3 and blocks.reshape(-1).tolist() == stream[: blocks.numel()]
    assert corpus.val.shape == (16, 32) and corpus.train.shape[1] == 32
    with pytest.raises(LlmkitError, match="fewer than one block"):
        lmdata.token_blocks(tokenizer, ["fair"], block_len=50)


def test_unigram_perplexity_of_uniform_counts_is_the_vocabulary_size(tokenizer, corpus):
    vocab = len(tokenizer)
    uniform = lmdata.Corpus(tokenizer, torch.arange(vocab).repeat(4).reshape(-1, 8), corpus.val, 8)
    for kind in ("clm", "mlm"):
        assert lmdata.unigram_perplexity(uniform, kind) == pytest.approx(vocab, rel=1e-9)
    assert 1 < lmdata.unigram_perplexity(corpus, "clm") < vocab


@pytest.mark.parametrize("kind", ["clm", "mlm"])
def test_per_block_losses_add_up_to_the_perplexities(tokenizer, corpus, kind):
    nll, count = lmdata.unigram_block_nll(corpus, kind, seed=2)
    assert nll.shape == count.shape == (len(corpus.val),) and np.all(count > 0)
    assert math.exp(nll.sum() / count.sum()) == pytest.approx(
        lmdata.unigram_perplexity(corpus, kind, 2), rel=1e-9
    )
    model = networks.build_model(kind, tokenizer, networks.ModelSize(32, 1, 2), block_len=32, seed=1)
    val = lmdata.validation_set(corpus, kind, seed=2)
    m_nll, m_count = training.block_nll(model, val, kind, batch_size=5)
    assert np.array_equal(m_count, count)
    assert m_nll.sum() / m_count.sum() == pytest.approx(training.evaluate_lm(model, val, kind), rel=1e-5)
    ratio = lmdata.perplexity_ratio(nll, m_nll, count)
    assert ratio == pytest.approx(math.exp((nll.sum() - m_nll.sum()) / count.sum()))
    assert lmdata.perplexity_ratio(nll, nll, count) == 1.0


def test_validation_targets_are_next_tokens_or_a_fixed_15_percent_mask(corpus):
    clm = lmdata.targets(lmdata.validation_set(corpus, "clm"), "clm")
    assert np.array_equal(clm, corpus.val[:, 1:].reshape(-1).numpy())
    first, again = (lmdata.validation_set(corpus, "mlm", seed=3) for _ in range(2))
    mlm = lmdata.targets(first, "mlm")
    assert np.array_equal(mlm, lmdata.targets(again, "mlm"))  # masked once, the same every time
    assert 0.08 < len(mlm) / corpus.val.numel() < 0.22


# ----------------------------------------------------------------------------------------------- models


def test_masked_only_head_gives_the_full_head_loss_on_masked_positions(tokenizer):
    from transformers import BertForMaskedLM

    model = networks.build_model("mlm", tokenizer, networks.ModelSize(32, 2, 2), block_len=16).eval()
    ids = torch.randint(5, len(tokenizer), (4, 16), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[torch.rand(ids.shape, generator=torch.Generator().manual_seed(1)) > 0.15] = -100
    with torch.no_grad():
        ours = model(input_ids=ids, labels=labels)
        full = BertForMaskedLM.forward(model, input_ids=ids, labels=labels)  # the vocabulary head everywhere
    keep = labels != -100
    assert ours.logits.shape == (int(keep.sum()), len(tokenizer))
    assert torch.allclose(ours.logits, full.logits[keep], atol=1e-5)
    assert float(ours.loss) == pytest.approx(float(full.loss), rel=1e-5)
    assert model(input_ids=ids).logits.shape == (4, 16, len(tokenizer))  # without labels: fill-mask as usual


@pytest.mark.parametrize("kind", ["clm", "mlm"])
def test_training_flops_match_torch_flop_counter(tokenizer, kind):
    from torch.utils.flop_counter import FlopCounterMode

    model = networks.build_model(kind, tokenizer, networks.ModelSize(64, 2, 4), block_len=32)
    model.set_attn_implementation("eager")  # the fused CPU attention kernel is invisible to the counter
    ids = torch.randint(5, len(tokenizer), (4, 32), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    if kind == "mlm":
        labels[torch.rand(ids.shape, generator=torch.Generator().manual_seed(1)) > 0.15] = -100
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, labels=labels).loss.backward()
    head_tokens = int((labels != -100).sum()) if kind == "mlm" else None
    ours = scaling.training_flops(model, ids.numel(), 32, head_tokens)
    assert ours == pytest.approx(counter.get_total_flops(), rel=1e-9)
    p = scaling.matmul_params(model)
    assert p.head >= len(tokenizer) * 64 and p.layers == 2 and p.hidden == 64


def test_a_few_steps_of_trainer_lower_the_causal_lm_loss_and_log_to_tensorboard(tokenizer, corpus, tmp_path):
    model = networks.build_model("clm", tokenizer, networks.ModelSize(32, 1, 2), block_len=32)
    config = training.TrainConfig(steps=24, batch_size=8, learning_rate=3e-3, eval_every=12)
    result = training.train_lm(model, corpus, "clm", config, tmp_path, "clm-test")
    assert result.eval_steps == [0, 12, 24] and result.log_steps == [12, 24]
    assert result.val_loss[-1] < result.val_loss[0] - 0.3
    assert result.train_loss[-1] < result.train_loss[0]
    assert result.tokens == 24 * 8 * 32 and result.tokens_per_second > 0
    assert list((tmp_path / "tensorboard" / "clm-test").glob("events.out.tfevents.*"))
    assert not list(tmp_path.rglob("checkpoint-*")) and not list(tmp_path.rglob("*.bin"))
    # Trainer's own validation loss agrees with the token-weighted one (the GPT-2 loss_type fix)
    val = lmdata.validation_set(corpus, "clm")
    assert result.val_loss[-1] == pytest.approx(training.evaluate_lm(model, val, "clm"), rel=1e-6)
    text = networks.generate_text(model, tokenizer, "fair is", max_new_tokens=5, seed=1)
    assert text.startswith("fair is") and text == networks.generate_text(
        model, tokenizer, "fair is", 5, seed=1
    )
    through = scaling.throughput(result, 32, peak_gflops=100.0)
    assert through.fraction_of_peak == pytest.approx(through.gflops_per_second / 100.0)


def test_masked_lm_trains_with_the_collator_and_fills_masks(tokenizer, corpus, tmp_path):
    model = networks.build_model("mlm", tokenizer, networks.ModelSize(32, 1, 2), block_len=32)
    config = training.TrainConfig(steps=12, batch_size=8, learning_rate=3e-3, eval_every=6)
    result = training.train_lm(model, corpus, "mlm", config, tmp_path, "mlm-test")
    assert result.val_loss[-1] < result.val_loss[0]
    assert 0.1 * result.tokens < result.head_tokens < 0.2 * result.tokens  # the positions actually masked
    (top,) = networks.fill_mask(model, tokenizer, "fair is [MASK] , and foul is fair", k=3)
    assert len(top) == 3 and all(isinstance(t, str) for t in top)
    with pytest.raises(LlmkitError, match="MASK"):
        networks.fill_mask(model, tokenizer, "no mask here")


def test_masked_lm_in_phases_joins_one_curve_and_saves_into_its_cache_entry(
    tokenizer, corpus, tmp_path, monkeypatch
):
    from llmkit.core.io import cached_folder

    monkeypatch.setenv("LLMKIT_CACHE", str(tmp_path / "cache"))
    model = networks.build_model("mlm", tokenizer, networks.ModelSize(32, 1, 2), block_len=32)
    phases = [
        training.Phase("head", training.TrainConfig(steps=2, batch_size=4, eval_every=1), frozen=model.bert),
        training.Phase("all", training.TrainConfig(steps=4, batch_size=4, eval_every=2, seed=2)),
    ]
    entry = cached_folder("mlm_test", {"n": 1}, info_name="report.json")
    start = time.perf_counter()
    report = training.train_mlm_and_save(entry, model, tokenizer, corpus, phases, {"config": "x"}, start)
    assert list(report) == ["config", "val_mlm_loss", "eval_steps", "seconds", "train_blocks", "cached"]
    assert report["eval_steps"] == [0, 1, 2, 4, 6]  # the second phase's step 0 is the first one's step 2
    assert len(report["val_mlm_loss"]) == 5 and report["cached"] is False and report["seconds"] > 0
    assert report["train_blocks"] == len(corpus.train)
    assert entry.found() == report and (entry.folder / "model.safetensors").exists()
    assert not [p for p in entry.folder.parent.iterdir() if p.name.startswith(".")]  # the logs are removed
    assert all(p.requires_grad for p in model.parameters())  # every weight trains again afterwards

    # a head-only phase leaves the frozen encoder (and the decoder tied to its embeddings) as it was
    model = networks.build_model("mlm", tokenizer, networks.ModelSize(32, 1, 2), block_len=32)
    encoder = {k: v.clone() for k, v in model.bert.state_dict().items()}
    head = {k: v.clone() for k, v in model.cls.state_dict().items() if "decoder" not in k}
    entry = cached_folder("mlm_test", {"n": 2}, info_name="report.json")
    head_only = [training.Phase("head", phases[0].config, frozen=model.bert)]
    training.train_mlm_and_save(entry, model, tokenizer, corpus, head_only, {}, start, run_dir=tmp_path)
    assert all(torch.equal(v, encoder[k]) for k, v in model.bert.state_dict().items())
    assert any(not torch.equal(v, head[k]) for k, v in model.cls.state_dict().items() if k in head)
    assert list((tmp_path / "tensorboard" / "head").glob("events.out.tfevents.*"))  # run_dir logs stay


def test_monotone_run_counts_consecutive_strict_decreases():
    assert scaling.monotone_run([5.0, 4.0, 3.9]) == 3
    assert scaling.monotone_run([5.0, 5.0, 4.0]) == 2 and scaling.monotone_run([4.0, 4.5, 5.0]) == 1
    assert scaling.monotone_run([]) == 0 and scaling.monotone_run([1.0]) == 1


# ------------------------------------------------------------------------------------------------- DDP


@pytest.mark.slow
def test_torchrun_two_gloo_processes_end_with_identical_weights(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LLMKIT_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "llmkit.pretrain.ddp", "--out", str(out), "--kind", "clm", "--steps", "3", "--batch-size", "4",
        "--block-len", "32", "--hidden", "32", "--layers", "1", "--heads", "2", "--vocab-size", "300",
        "--works", "macbeth", "--val-work", "othello",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((out / f"weights-rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and ranks[0]["backend"] == "gloo"
    assert ranks[0]["sha256"] == ranks[1]["sha256"]
    assert math.isfinite(ranks[0]["val_loss"])
    assert (out / "model" / "model.safetensors").is_file()
    assert list((out / "tensorboard" / "clm-ddp").glob("events.out.tfevents.*"))
