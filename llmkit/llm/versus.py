"""Prompting against few labels (notebook 09, section 5): MiniLM trained as notebook 04 trains it, on the same rows.

Every method ends as ``[n_test, labels]`` log-probabilities of the same test rows, so one table scores them
all and a paired bootstrap over those rows compares any two:

* :func:`finetuned_logprobs` -- MiniLM fine-tuned on ``n`` labels by :func:`llmkit.finetune.loop.finetuned_minilm`
  (cached), for as many epochs as notebook 04's rule gives (:func:`llmkit.transfer.curves.epochs_for`: at
  least ``min_epochs`` and ``min_steps`` optimizer steps), never the handful of steps a few labels make alone;
* :func:`probe_logprobs` -- a linear probe on frozen MiniLM sentence embeddings of the same ``n`` rows;
* :func:`scored` -- accuracy, balanced accuracy and its bootstrap interval per method;
  :func:`difference_interval` -- the paired interval of one method's balanced accuracy minus another's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd

    from llmkit.finetune.tasks import TextTask

BATCH_SIZE = 16  # notebook 04's batch (CurveConfig.batch_size)


def _balanced(labels: Sequence[int], predicted: Sequence[int]) -> float:
    """Mean per-label recall over the labels present in ``labels``: always one answer scores 1 / labels."""
    y, p = np.asarray(labels), np.asarray(predicted)
    return float(np.mean([(p[y == c] == c).mean() for c in np.unique(y)]))


def finetuned_epochs(n: int, min_steps: int, min_epochs: int) -> int:
    """Notebook 04's rule for ``n`` labels in batches of 16: at least ``min_epochs``, and ``min_steps`` steps."""
    from llmkit.transfer.curves import epochs_for

    return epochs_for(n, BATCH_SIZE, min_steps, min_epochs)


def finetuned_logprobs(
    task_name: str,
    n: int,
    test_texts: Sequence[str],
    min_steps: int,
    min_epochs: int,
    seed: int = 0,
    max_length: int = 128,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``([n_test, labels] log-probabilities, info)`` of MiniLM fine-tuned on ``n`` stratified labels.

    ``info`` is :func:`~llmkit.finetune.loop.finetuned_minilm`'s (``epochs``, ``epoch_loss``, ``cached``, ...),
    with ``steps`` added. The same settings give the same cache key, so a second run loads the model.
    """
    import math

    from llmkit.finetune import loop
    from llmkit.finetune.batching import encode

    epochs = finetuned_epochs(n, min_steps, min_epochs)
    model, tokenizer, info = loop.finetuned_minilm(
        task_name, n_train=n, epochs=epochs, seed=seed, max_length=max_length
    )
    proba = loop.predict_proba(model, encode(tokenizer, test_texts, [0] * len(test_texts), max_length))
    steps = epochs * math.ceil(n / BATCH_SIZE)
    return np.log(np.clip(proba, 1e-9, 1.0)), {**info, "steps": steps}


def probe_logprobs(
    task: TextTask,  # its train split is the labeled subset
    test_features: np.ndarray,  # [n_test, hidden] frozen embeddings of the test rows
    max_length: int = 128,
) -> np.ndarray:
    """``[n_test, labels]`` log-probabilities of a linear probe on frozen MiniLM embeddings of ``task``'s train rows."""
    from llmkit.finetune.baselines import linear_probe
    from llmkit.transfer.curves import embed_split

    probe = linear_probe(embed_split(task, "train", max_length=max_length), task.labels("train"))
    return np.log(np.clip(probe.predict_proba(test_features), 1e-9, 1.0))


def balanced_accuracy_interval(
    logprobs: np.ndarray, labels: Sequence[int], seed: int = 0, n_resamples: int = 1000
) -> tuple[float, float]:
    """95% percentile bootstrap interval of the balanced accuracy over the test rows."""
    from llmkit.core.evaluate import bootstrap_interval

    return bootstrap_interval(
        _balanced, np.asarray(labels), logprobs.argmax(axis=1), n_resamples=n_resamples, seed=seed
    )


def difference_interval(
    logprobs_a: np.ndarray,
    logprobs_b: np.ndarray,
    labels: Sequence[int],
    seed: int = 0,
    n_resamples: int = 1000,
) -> tuple[float, tuple[float, float]]:
    """(balanced accuracy of a minus that of b, its 95% paired bootstrap interval over the same test rows)."""
    from llmkit.core.evaluate import bootstrap_interval

    y, a, b = np.asarray(labels), logprobs_a.argmax(axis=1), logprobs_b.argmax(axis=1)
    if not len(y) == len(a) == len(b):
        raise LlmkitError(f"difference_interval: expected the same rows, got {len(y)}, {len(a)} and {len(b)}")

    def gap(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return _balanced(y, a) - _balanced(y, b)

    return gap(y, a, b), bootstrap_interval(gap, y, a, b, n_resamples=n_resamples, seed=seed)


def scored(
    results: Mapping[str, tuple[np.ndarray, int]],  # method -> ([n_test, labels] log-probs, labels used)
    labels: Sequence[int],
    seed: int = 0,
) -> pd.DataFrame:
    """One row per method: labels used, test rows, accuracy, balanced accuracy and its 95% bootstrap interval."""
    import pandas as pd

    y = np.asarray(labels)
    rows = []
    for method, (logprobs, used) in results.items():
        if len(logprobs) != len(y):
            raise LlmkitError(f"{method}: scored on {len(logprobs)} rows, expected the {len(y)} test rows")
        predicted = logprobs.argmax(axis=1)
        low, high = balanced_accuracy_interval(logprobs, y, seed=seed)
        rows.append({
            "method": method, "labels used": used, "test rows": len(y), "accuracy": float((predicted == y).mean()),
            "balanced accuracy": _balanced(y, predicted), "low": low, "high": high,
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("method")
