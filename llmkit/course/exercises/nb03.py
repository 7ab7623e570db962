"""Exercises of notebook 03 (fine-tuning); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _accuracy_from_logits(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(axis=1) == np.asarray(labels)).mean())


@register(
    "03.accuracy_from_logits",
    prompt="Write accuracy_from_logits(logits, labels): the accuracy of a classifier's [n, k] logits on labels [n].",
    reference=_accuracy_from_logits,
    wrong=lambda logits, labels: float((np.asarray(logits).argmax(axis=0) == np.asarray(labels)).mean()),
    hint="the predicted class of each row is the index of its largest logit: argmax over the class axis (1), "
    "as torch.max(outputs.logits, 1) does -- not over the examples.",
)
def _check_accuracy_from_logits(answer: Any) -> None:
    rng = np.random.default_rng(3)
    cases: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "3 examples, 3 classes": (
            np.array([[2.0, 0.1, 0.3], [0.0, 1.0, 5.0], [0.2, 0.9, 0.1]]),
            np.array([0, 1, 1]),
        ),
        "random [40, 2] logits": (rng.normal(size=(40, 2)), rng.integers(0, 2, 40)),
        "random [30, 5] logits": (rng.normal(size=(30, 5)), rng.integers(0, 5, 30)),
    }
    for on, (logits, labels) in cases.items():
        expect_close(call(answer, logits.copy(), labels.copy()), _accuracy_from_logits(logits, labels), on=on)


def _pad_batch(sequences: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    longest = max(len(s) for s in sequences)
    input_ids = np.full((len(sequences), longest), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(sequences), longest), dtype=np.int64)
    for i, s in enumerate(sequences):
        input_ids[i, : len(s)] = s
        attention_mask[i, : len(s)] = 1
    return input_ids, attention_mask


def _pad_to_512(sequences: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    padded = [list(s) + [pad_id] * (512 - len(s)) for s in sequences]
    return np.array(padded), np.array([[1] * len(s) + [0] * (512 - len(s)) for s in sequences])


@register(
    "03.dynamic_padding",
    prompt="Write pad_batch(sequences, pad_id): pad token-id lists to the longest one; return (input_ids, attention_mask).",
    reference=_pad_batch,
    wrong=_pad_to_512,
    hint="the batch is as wide as its longest sequence, not 512; the mask is 1 on real tokens and 0 on padding.",
)
def _check_dynamic_padding(answer: Any) -> None:
    cases = {
        "[[101, 7, 102], [101, 8, 9, 10, 102]] with pad 0": ([[101, 7, 102], [101, 8, 9, 10, 102]], 0),
        "one sequence [101, 102] with pad 0": ([[101, 102]], 0),
        "three sequences with pad id 5": ([[1, 2, 3, 4], [1], [1, 2]], 5),
    }
    rng = np.random.default_rng(5)
    for k in range(4):  # random batches: 1-8 sequences of 1-40 ids, a random pad id
        lengths = rng.integers(1, 41, size=int(rng.integers(1, 9)))
        sequences = [rng.integers(100, 30000, size=int(n)).tolist() for n in lengths]
        cases[f"random batch {k + 1}: lengths {lengths.tolist()}"] = (sequences, int(rng.integers(0, 5)))
    for on, (sequences, pad_id) in cases.items():
        got = call(answer, [list(s) for s in sequences], pad_id)
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise AssertionError(
                f"on {on}: expected a pair (input_ids, attention_mask), got {type(got).__name__}"
            )
        want_ids, want_mask = _pad_batch(sequences, pad_id)
        expect_close(got[0], want_ids, on=f"{on} (input_ids)")
        expect_close(got[1], want_mask, on=f"{on} (attention_mask)")


def _ece(labels: np.ndarray, proba: np.ndarray, n_bins: int) -> float:
    from llmkit.core.evaluate import expected_calibration_error

    return expected_calibration_error(labels, proba, n_bins)


def _ece_unweighted(labels: np.ndarray, proba: np.ndarray, n_bins: int) -> float:
    from llmkit.core.evaluate import reliability_curve

    conf, acc, count = reliability_curve(labels, proba, n_bins)
    keep = count > 0
    return float(np.mean(np.abs(acc[keep] - conf[keep])))


@register(
    "03.calibration_error",
    prompt="Write ece(labels, proba, n_bins): the expected calibration error of [n, k] probabilities, "
    "with equal-width confidence bins (b/n_bins, (b+1)/n_bins].",
    reference=_ece,
    wrong=_ece_unweighted,
    hint="confidence = the top probability of each row; per bin, |accuracy - mean confidence|, weighted by "
    "the share of the examples in the bin (an almost empty bin must not count as much as a full one).",
)
def _check_calibration_error(answer: Any) -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(scale=2.0, size=(200, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 3, 200)
    cases = {
        "4 examples, 2 classes, 5 bins": (
            np.array([0, 1, 1, 0]),
            np.array([[0.9, 0.1], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8]]),
            5,
        ),
        "200 random 3-class predictions, 10 bins": (labels, proba, 10),
        "a perfectly confident, always right model": (np.array([0, 1, 2]), np.eye(3), 10),
    }
    for on, (y, p, n_bins) in cases.items():
        expect_close(call(answer, y.copy(), p.copy(), n_bins), _ece(y, p, n_bins), on=on, atol=1e-9)


def _training_flops(per_token_params: int, lengths: list[int], layers: int, hidden: int) -> float:
    s = np.asarray(lengths, dtype=np.float64)
    return float(6 * per_token_params * s.sum() + 12 * layers * hidden * (s**2).sum())


@register(
    "03.training_flops",
    prompt="Write training_flops(per_token_params, lengths, layers, hidden): FLOPs of one training step on "
    "sequences of these real lengths (weights and attention; the [CLS] head left out).",
    reference=_training_flops,
    wrong=lambda n, lengths, layers, hidden: float(
        2 * n * sum(lengths) + 4 * layers * hidden * sum(s * s for s in lengths)
    ),
    hint="forward is 2 FLOPs per weight per token plus 4 s^2 d per sequence and layer for QK^T and AV; "
    "the backward pass costs twice the forward, so training is 3x: 6 N sum(s) + 12 L d sum(s^2).",
)
def _check_training_flops(answer: Any) -> None:
    cases = {
        "N = 1000, lengths [10], 1 layer, hidden 8": (1000, [10], 1, 8),
        "MiniLM: N = 10,616,832, lengths [128] * 16, 6 layers, hidden 384": (10_616_832, [128] * 16, 6, 384),
        "N = 500, lengths [3, 7, 50], 2 layers, hidden 16": (500, [3, 7, 50], 2, 16),
    }
    rng = np.random.default_rng(6)
    for _ in range(3):  # random sizes
        n, layers, hidden = int(rng.integers(1, 10**7)), int(rng.integers(1, 13)), int(rng.integers(8, 1025))
        lengths = rng.integers(1, 513, size=int(rng.integers(1, 33))).tolist()
        cases[f"random: N = {n}, {len(lengths)} sequences, {layers} layers, hidden {hidden}"] = (
            n,
            lengths,
            layers,
            hidden,
        )
    for on, args in cases.items():
        expect_close(
            call(answer, args[0], list(args[1]), args[2], args[3]), _training_flops(*args), on=on, rtol=1e-9
        )
