"""Top-k recommendation from ratings, for the retail case study (notebooks/case_studies/retail_recommendation.ipynb).

The recipe, the seed's §6.3 个性化推荐 on MovieLens (dslabs ``movielens``, 100,004 ratings):

- :func:`check_ratings` reads the table's user, item and time columns and refuses a bad table in one line;
- :func:`split_latest` holds out each user's *latest* ratings (implicit feedback: a rating is an interaction);
- the models score every (user, item): :func:`popularity` (the floor), :func:`train_mf` (matrix factorization on
  the whole user x item matrix, weighted least squares trained by Adam in torch), :func:`content` (a user's
  profile is the mean MiniLM vector of the items they rated; an item's score is its cosine to it) and
  :func:`hybrid` (the two standardized per user, then added);
- :func:`evaluate` gives per-user recall@k and NDCG@k over all candidate items, or only over the *cold* ones
  (few training ratings); :func:`mean_interval` and :func:`paired_difference` bootstrap over users.

Recall@k is capped: hits / min(k, relevant items), so a user with 200 test items can still reach 1 (as in
Liang et al. 2018). Items a user rated in training are never recommended to them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Split:
    """Users x items, split by time within each user: ``train`` is what the models see."""

    users: np.ndarray  # [n_users] the table's user ids, row order of the matrices
    items: np.ndarray  # [n_items] the table's item ids, column order
    train: np.ndarray  # [n_users, n_items] bool: rated in training
    test: np.ndarray  # [n_users, n_items] bool: rated later (the held-out interactions)
    train_counts: np.ndarray  # [n_items] training ratings per item
    liked: np.ndarray  # [n_users, n_items] bool: rated in training at or above the user's mean rating

    @property
    def shape(self) -> tuple[int, int]:
        return self.train.shape

    def cold(self, max_train_ratings: int) -> np.ndarray:
        """[n_items] bool: items with at most ``max_train_ratings`` training ratings (0: never seen)."""
        return self.train_counts <= max_train_ratings

    def describe(self) -> str:
        n_users, n_items = self.shape
        return (
            f"{n_users} users x {n_items} items: {int(self.train.sum()):,} training and {int(self.test.sum()):,} "
            f"test interactions (each user's latest); {int((self.train_counts == 0).sum())} items have no "
            "training rating"
        )


def check_ratings(
    df: pd.DataFrame, *, user: str, item: str, time: str, rating: str | None = None, name: str = "ratings"
) -> pd.DataFrame:
    """The table's user, item, time (and rating) columns, checked: a missing column, an empty table, a missing
    value or a time that is not a number or a date stops here, in one line naming the column."""
    import pandas as pd

    wanted = [c for c in (user, item, time, rating) if c is not None]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        shown = ", ".join(map(str, list(df.columns)[:12]))
        raise LlmkitError(f"{name}: column {missing[0]!r} not found; the columns are: {shown}")
    if len(df) == 0:
        raise LlmkitError(f"{name}: the table has no rows")
    for c in wanted:
        n_missing = int(df[c].isna().sum())
        if n_missing:
            raise LlmkitError(f"{name}: column {c!r} has {n_missing} missing values; drop or fill those rows")
    out = df[wanted].copy()
    if not pd.api.types.is_numeric_dtype(out[time]):
        try:
            out[time] = pd.to_datetime(out[time]).astype("int64")
        except (ValueError, TypeError):
            raise LlmkitError(f"{name}: column {time!r} is neither a number nor a date") from None
    if rating is not None and not pd.api.types.is_numeric_dtype(out[rating]):
        raise LlmkitError(f"{name}: column {rating!r} must hold numbers, got {out[rating].dtype}")
    return out


def split_latest(
    df: pd.DataFrame,
    *,
    user: str = "user_id",
    item: str = "movie_id",
    time: str = "timestamp",
    rating: str = "rating",
    test_fraction: float = 0.2,  # of each user's ratings, the latest, held out
    min_ratings: int = 5,  # users with fewer (after sampling items) are dropped
    max_items: int | None = None,  # a seeded sample of the catalogue (smaller runs); None: all items
    seed: int = 0,
    validation: bool = False,  # True: drop the test ratings, hold out the latest of the rest instead
) -> Split:
    """Each user's latest ``test_fraction`` of ratings (at least one) become the test interactions.

    ``validation=True`` gives the split to choose settings on: the test ratings are left out altogether and
    the latest ``test_fraction`` of each user's remaining ratings are held out in their place; the users and
    items (the matrices' rows and columns) are the same as without it."""
    if not 0 < test_fraction < 1:
        raise LlmkitError(f"test_fraction: expected a number between 0 and 1, got {test_fraction!r}")
    df = check_ratings(df, user=user, item=item, time=time, rating=rating)
    if max_items is not None and df[item].nunique() > max_items:
        rng = np.random.default_rng(seed)
        kept = rng.choice(np.sort(df[item].unique()), size=max_items, replace=False)
        df = df[df[item].isin(kept)]
    df = df[df.groupby(user)[item].transform("size") >= min_ratings]
    if len(df) == 0:
        raise LlmkitError(f"ratings: no user has {min_ratings} ratings or more; lower min_ratings")
    df = df.sort_values(
        [user, time, item], kind="stable"
    )  # ties in time: the item id decides, always the same
    users, u = np.unique(df[user].to_numpy(), return_inverse=True)
    items, i = np.unique(df[item].to_numpy(), return_inverse=True)
    position = df.groupby(user).cumcount().to_numpy()
    size = df.groupby(user)[item].transform("size").to_numpy()
    n_test = np.maximum(1, np.round(size * test_fraction)).astype(int)
    is_test = position >= size - n_test
    known = ~is_test
    if validation:
        n_val = np.maximum(1, np.round((size - n_test) * test_fraction)).astype(int)
        known = position < size - n_test - n_val
        is_test = ~known & ~is_test
    train = np.zeros((len(users), len(items)), dtype=bool)
    test = np.zeros_like(train)
    train[u[known], i[known]] = True
    test[u[is_test], i[is_test]] = True
    test &= ~train  # an item rated twice counts as known
    r = df[rating].to_numpy(dtype=np.float64)
    user_mean = np.bincount(u[known], r[known], len(users)) / np.maximum(
        np.bincount(u[known], None, len(users)), 1
    )
    good = known & (r >= user_mean[u])
    liked = np.zeros_like(train)
    liked[u[good], i[good]] = True
    return Split(users, items, train, test, train.sum(0), liked)


# ------------------------------------------------------------------------------------------ the models


def popularity(split: Split) -> np.ndarray:
    """The floor: every user gets the items with the most training ratings. [n_users, n_items]"""
    return np.broadcast_to(split.train_counts.astype(np.float64), split.shape)


@dataclass(frozen=True)
class FactorModel:
    """Matrix factorization's result: scores are ``user_factors @ item_factors.T``."""

    user_factors: np.ndarray  # [n_users, dim]
    item_factors: np.ndarray  # [n_items, dim]
    losses: list[float]  # the training loss every 10 steps
    seconds: float

    def scores(self) -> np.ndarray:
        return self.user_factors @ self.item_factors.T  # [n_users, n_items]


def train_mf(
    split: Split,
    *,
    dim: int = 32,  # factors per user and per item
    steps: int = 200,  # full-batch Adam steps
    lr: float = 0.05,
    confidence: float = 20.0,  # weight of a rated cell over an unrated one (Hu, Koren & Volinsky 2008)
    l2: float = 1e-3,  # on the factors, per cell
    seed: int = 0,
) -> FactorModel:
    """Weighted least squares on the whole matrix: rated cells pull u.v to 1 with weight ``1 + confidence``,
    unrated ones to 0 with weight 1 (implicit feedback). Full-batch and seeded: the same on every CPU run."""
    import time as clock

    import torch

    start = clock.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    target = torch.from_numpy(split.train.astype(np.float32))  # [users, items]
    weight = 1.0 + confidence * target
    n_users, n_items = split.shape
    user = torch.nn.Parameter(0.1 * torch.randn(n_users, dim, generator=generator))
    item = torch.nn.Parameter(0.1 * torch.randn(n_items, dim, generator=generator))
    optimizer = torch.optim.Adam([user, item], lr=lr)
    losses = []
    for step in range(steps):
        optimizer.zero_grad()
        error = user @ item.T - target  # [users, items]
        loss = (weight * error**2).mean() + l2 * (user.pow(2).sum() / n_users + item.pow(2).sum() / n_items)
        loss.backward()
        optimizer.step()
        if step % 10 == 0 or step == steps - 1:
            losses.append(float(loss.detach()))
    return FactorModel(
        user.detach().numpy().copy(), item.detach().numpy().copy(), losses, clock.perf_counter() - start
    )


def content(split: Split, item_vectors: np.ndarray) -> np.ndarray:
    """Each user's profile is the mean vector of the items they liked in training (rated at or above their
    mean); an item's score is its cosine to that profile. Needs no other user: it scores an unseen item too."""
    vectors = np.asarray(item_vectors, dtype=np.float64)
    if vectors.shape[0] != split.shape[1]:
        raise LlmkitError(
            f"item_vectors: expected one row per item ({split.shape[1]}), got {vectors.shape[0]}"
        )
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    basis = np.where(split.liked.any(1, keepdims=True), split.liked, split.train).astype(np.float64)
    profile = basis @ vectors  # [users, dim]
    profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)
    return profile @ vectors.T  # [users, items]


def standardized(scores: np.ndarray, split: Split) -> np.ndarray:
    """Per user, (score - mean) / std over the items the user has not rated in training."""
    candidate = ~split.train
    n = np.maximum(candidate.sum(1, keepdims=True), 1)
    mean = np.where(candidate, scores, 0).sum(1, keepdims=True) / n
    var = np.where(candidate, (scores - mean) ** 2, 0).sum(1, keepdims=True) / n
    return (scores - mean) / np.maximum(np.sqrt(var), 1e-12)


def hybrid(mf_scores: np.ndarray, content_scores: np.ndarray, split: Split, text_weight: float) -> np.ndarray:
    """Matrix factorization plus ``text_weight`` x content, each standardized per user first."""
    return standardized(mf_scores, split) + text_weight * standardized(content_scores, split)


def choose_text_weight(
    split: Split, mf_scores: np.ndarray, content_scores: np.ndarray, weights: tuple[float, ...], k: int = 10
) -> tuple[float, dict[float, float]]:
    """The weight of :func:`hybrid` with the best mean NDCG@k on ``split`` (a *validation* split, so the test
    ratings judge the choice, not make it), and the NDCG of every weight tried."""
    if not weights:
        raise LlmkitError("weights: expected at least one text weight to try")
    ndcg = {
        w: float(np.nanmean(evaluate(hybrid(mf_scores, content_scores, split, w), split, k).ndcg))
        for w in weights
    }
    return max(ndcg, key=lambda w: (ndcg[w], -w)), ndcg  # a tie: the smaller weight


# -------------------------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class UserScores:
    """Per-user recall@k and NDCG@k (NaN for a user with no relevant item among the candidates)."""

    recall: np.ndarray  # [n_users]
    ndcg: np.ndarray  # [n_users]
    k: int

    @property
    def users(self) -> int:
        return int(np.isfinite(self.recall).sum())


def evaluate(scores: np.ndarray, split: Split, k: int = 10, items: np.ndarray | None = None) -> UserScores:
    """Rank each user's candidates (items not rated in training, and in ``items`` when given, e.g. the cold
    ones) by score; score the top ``k`` against the user's test items among those candidates. Ties go to the
    lower column, so the ranking is the same on every run."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != split.shape:
        raise LlmkitError(
            f"scores: expected shape {list(split.shape)} (users x items), got {list(scores.shape)}"
        )
    candidate = ~split.train if items is None else ~split.train & np.asarray(items, dtype=bool)[None, :]
    relevant = split.test & candidate
    ranked = np.where(candidate, scores, -np.inf)
    top = np.argsort(-ranked, axis=1, kind="stable")[:, :k]  # [users, k]
    hits = np.take_along_axis(relevant, top, axis=1) & np.isfinite(np.take_along_axis(ranked, top, axis=1))
    n_relevant = relevant.sum(1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))  # [k]
    ideal = np.cumsum(discount)[np.clip(np.minimum(n_relevant, k) - 1, 0, k - 1)]
    discount = discount[: top.shape[1]]  # fewer items than k: the list is shorter
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_relevant > 0, hits.sum(1) / np.minimum(n_relevant, k), np.nan)
        ndcg = np.where(n_relevant > 0, (hits * discount).sum(1) / ideal, np.nan)
    return UserScores(recall, ndcg, k)


def mean_interval(values: np.ndarray, *, seed: int = 0, n_resamples: int = 500) -> tuple[float, float, float]:
    """The mean over users (NaN users left out) and its 95% percentile bootstrap interval over users."""
    return _bootstrap(np.asarray(values, dtype=np.float64), None, seed, n_resamples)


def paired_difference(
    a: np.ndarray, b: np.ndarray, *, seed: int = 0, n_resamples: int = 500
) -> tuple[float, float, float]:
    """mean(a) - mean(b) over the users both score, with its paired bootstrap interval (same users drawn)."""
    return _bootstrap(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), seed, n_resamples)


def _bootstrap(
    a: np.ndarray, b: np.ndarray | None, seed: int, n_resamples: int
) -> tuple[float, float, float]:
    from llmkit.study.scoring import resample_counts

    keep = np.isfinite(a) if b is None else np.isfinite(a) & np.isfinite(b)
    values = a[keep] if b is None else a[keep] - b[keep]
    if values.size == 0:
        raise LlmkitError("no user to score: every user has no relevant item among the candidates")
    draws = np.concatenate(
        [w @ values / values.size for w in resample_counts(values.size, n_resamples, seed)]
    )
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def item_texts(
    df: pd.DataFrame, items: np.ndarray, *, item: str = "movie_id", columns=("title", "genres")
) -> list[str]:
    """One text per item of ``items``, in that order: e.g. ``"Toy Story (1995); Adventure, Animation, ..."``."""
    missing = [c for c in (item, *columns) if c not in df.columns]
    if missing:
        raise LlmkitError(f"ratings: column {missing[0]!r} not found (needed for the item texts)")
    first = df.drop_duplicates(item).set_index(item)
    parts = []
    for c in columns:
        col = first[c].fillna("").astype(str)
        if c == "genres":
            col = col.str.replace("|", ", ", regex=False)
        if c == "year":
            col = col.str.removesuffix(".0")
        parts.append(col)
    text = parts[0]
    for extra in parts[1:]:
        text = text + "; " + extra
    return text.reindex(items).fillna("").tolist()
