"""Exercises of the retail case study (ids "rt.*"); the registry and its helpers are in
``llmkit.course.exercises``."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmkit.course.exercises import call, expect_close, register


def _recall_at_k(ranked: Any, relevant: Any, k: int) -> float:
    hits = len(set(list(ranked)[:k]) & set(relevant))
    return hits / min(len(set(relevant)), k)


@register(
    "rt.recall_at_k",
    prompt="Write recall_at_k(ranked, relevant, k): the share of the relevant items found in the first k of "
    "ranked, out of min(k, number of relevant items) (a user with 50 relevant items can still reach 1).",
    reference=_recall_at_k,
    wrong=lambda ranked, relevant, k: len(set(list(ranked)[:k]) & set(relevant)) / len(set(relevant)),
    hint="Count the hits in ranked[:k], then divide by min(k, len(relevant)), not by len(relevant): with more "
    "relevant items than k, no list of k could find them all.",
)
def _check_recall_at_k(answer: Any) -> None:
    ranked = [7, 3, 9, 1, 4, 8, 2]
    for relevant, k in (([3, 4], 3), ([3, 4, 8, 2, 5, 6], 3), ([5], 2), ([1, 7, 9, 3], 4)):
        got = call(answer, list(ranked), list(relevant), k)
        expect_close(got, _recall_at_k(ranked, relevant, k), on=f"relevant {relevant}, k {k}")


def _ndcg_at_k(ranked: Any, relevant: Any, k: int) -> float:
    relevant = set(relevant)
    dcg = sum(1 / np.log2(r + 2) for r, item in enumerate(list(ranked)[:k]) if item in relevant)
    ideal = sum(1 / np.log2(r + 2) for r in range(min(len(relevant), k)))
    return float(dcg / ideal)


@register(
    "rt.ndcg_at_k",
    prompt="Write ndcg_at_k(ranked, relevant, k): the discounted gain of the hits in ranked[:k] (a hit at "
    "0-based rank r is worth 1 / log2(r + 2)) divided by the best possible, all relevant items first.",
    reference=_ndcg_at_k,
    wrong=lambda ranked, relevant, k: (
        sum(
            1 / np.log2(r + 1) if r else 1.0
            for r, item in enumerate(list(ranked)[:k])
            if item in set(relevant)
        )
        / sum(1 / np.log2(r + 2) for r in range(min(len(set(relevant)), k)))
    ),
    hint="Rank 0 is worth 1/log2(2) = 1, rank 1 1/log2(3), ...: use log2(r + 2) for 0-based r. The ideal list "
    "puts min(k, len(relevant)) hits at ranks 0, 1, 2, ...",
)
def _check_ndcg_at_k(answer: Any) -> None:
    ranked = [7, 3, 9, 1, 4, 8, 2]
    for relevant, k in (([3, 4], 5), ([7], 3), ([9, 2, 8], 7), ([5, 6], 3), ([3, 1, 4, 7], 2)):
        got = call(answer, list(ranked), list(relevant), k)
        expect_close(got, _ndcg_at_k(ranked, relevant, k), on=f"relevant {relevant}, k {k}")


def _latest_per_user(users: Any, times: Any, n: int) -> np.ndarray:
    users, times = np.asarray(users), np.asarray(times)
    test = np.zeros(len(users), dtype=bool)
    for u in np.unique(users):
        rows = np.flatnonzero(users == u)
        test[rows[np.argsort(times[rows], kind="stable")[-n:]]] = True
    return test


@register(
    "rt.latest_per_user",
    prompt="Write latest_per_user(users, times, n): a boolean mask of the test rows, each user's n latest "
    "ratings (rows come in any order; every user has more than n).",
    reference=_latest_per_user,
    wrong=lambda users, times, n: np.asarray(times) >= np.sort(np.asarray(times))[-n * len(set(users))],
    hint="Split by time within each user, not over the whole table: a global cut-off puts all of a light "
    "user's ratings in training and all of a heavy, recent user's in test.",
)
def _check_latest_per_user(answer: Any) -> None:
    users = np.array([1, 2, 1, 3, 2, 1, 3, 2, 3, 1, 2, 3])
    times = np.array([50, 10, 20, 90, 40, 60, 95, 15, 80, 30, 45, 99])
    for n in (1, 2):
        expect_close(
            call(answer, users.copy(), times.copy(), n), _latest_per_user(users, times, n), on=f"n {n}"
        )
