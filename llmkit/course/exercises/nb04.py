"""Exercises of notebook 04 (transfer learning); the registry and its helpers are in ``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _lora_params(hidden: int, layers: int, r: int, targets_per_layer: int) -> int:
    return layers * targets_per_layer * r * (hidden + hidden)


@register(
    "04.lora_parameters",
    prompt="Write lora_parameters(hidden, layers, r, targets_per_layer): adapter parameters for square "
    "[hidden, hidden] targets.",
    reference=_lora_params,
    wrong=lambda hidden, layers, r, targets_per_layer: layers * targets_per_layer * r * hidden,
    hint="each target W [out, in] gets B [out, r] and A [r, in]: r (in + out) parameters, here 2 r hidden;"
    " multiply by the targets in a layer and the layers.",
)
def _check_lora_parameters(answer: Any) -> None:
    for args in ((384, 6, 8, 2), (768, 12, 4, 4), (32, 1, 1, 1)):
        expect_close(call(answer, *args), _lora_params(*args), on=f"(hidden, layers, r, targets) = {args}")


def _fraction_of_all(curve: dict[int, float]) -> float:
    sizes = sorted(curve)
    tenth = max(s for s in sizes if s <= sizes[-1] / 10)
    return curve[tenth] / curve[sizes[-1]]


@register(
    "04.fraction_of_all_labels",
    prompt="Write fraction_of_all(curve): for {labels: accuracy}, the accuracy at the largest size <= 10% "
    "of the most labels, over the accuracy with all of them.",
    reference=_fraction_of_all,
    wrong=lambda curve: curve[min(curve)] / curve[max(curve)],
    hint="'all' is the largest key; the 10% point is the largest key that is at most a tenth of it"
    " (not simply the smallest size).",
)
def _check_fraction_of_all(answer: Any) -> None:
    cases = {
        "{16: .70, 64: .80, 640: .88}": {16: 0.70, 64: 0.80, 640: 0.88},
        "{16: .6, 32: .7, 64: .75, 300: .8, 3000: .9}": {16: 0.6, 32: 0.7, 64: 0.75, 300: 0.8, 3000: 0.9},
    }
    rng = np.random.default_rng(5)  # random curves: sizes in any order, accuracies rising with noise
    for _ in range(4):
        sizes = rng.choice(
            [16, 32, 64, 100, 128, 256, 300, 640, 1000, 3000], size=int(rng.integers(3, 7)), replace=False
        )
        sizes = np.append(
            sizes, 10 * int(sizes.min())
        )  # there is always a size at most a tenth of the largest
        curve = {int(n): float(rng.uniform(0.5, 0.95)) for n in rng.permutation(sizes)}
        cases[str({n: round(a, 3) for n, a in curve.items()})] = curve
    for on, curve in cases.items():
        expect_close(call(answer, dict(curve)), _fraction_of_all(curve), on=on)


def _stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    take = np.floor(counts / counts.sum() * n).astype(int)
    for i in np.argsort(-(counts / counts.sum() * n - take))[: n - take.sum()]:
        take[i] += 1  # the largest remainders get the leftover rows
    picked = [
        rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
        for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(picked))


def _check_shares(got: Any, labels: np.ndarray, n: int) -> None:
    idx = np.asarray(got)
    if idx.shape != (n,) or len(set(idx.tolist())) != n:
        raise AssertionError(f"expected {n} distinct row indices, got shape {list(idx.shape)}")
    if idx.min() < 0 or idx.max() >= len(labels):
        raise AssertionError(f"indices must lie in 0..{len(labels) - 1}")
    for c in np.unique(labels):
        want = np.mean(labels == c) * n
        have = int(np.sum(labels[idx] == c))
        if abs(have - want) >= 1:
            raise AssertionError(
                f"class {c}: {have} rows picked, expected about {want:.1f} (its share of {n})"
            )


@register(
    "04.stratified_subset",
    prompt="Write stratified_indices(labels, n, seed): n distinct row indices in which each class keeps its share.",
    reference=_stratified_indices,
    wrong=lambda labels, n, seed: np.sort(np.random.default_rng(seed).choice(len(labels), n, replace=False)),
    hint="sample each class separately: about share x n rows from the rows of that class (np.flatnonzero), "
    "then hand the leftover rows to the classes with the largest remainders.",
)
def _check_stratified_subset(answer: Any) -> None:
    labels = np.array([0] * 70 + [1] * 30)
    for n, seed in ((10, 0), (16, 1), (64, 2)):
        _check_shares(call(answer, labels.copy(), n, seed), labels, n)
    skewed = np.array([0] * 90 + [1] * 5 + [2] * 5)
    _check_shares(call(answer, skewed.copy(), 20, 3), skewed, 20)
    rng = np.random.default_rng(4)  # random label arrays: 2 to 4 classes, shuffled, any share
    for case in range(5):
        k = int(rng.integers(2, 5))
        labels = rng.choice(k, size=int(rng.integers(40, 200)), p=rng.dirichlet(np.full(k, 2.0)))
        n = int(rng.integers(k, len(labels) // 2))
        _check_shares(call(answer, labels.copy(), n, case), labels, n)
