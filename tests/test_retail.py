"""The retail case study's code: recommenders (llmkit.study.recommend), help-centre retrieval
(llmkit.study.helpdesk, llmkit.data.synth.store_faq) and demand (llmkit.study.inventory), on tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.data.synth import store_faq
from llmkit.study import helpdesk, inventory, recommend


def _ratings() -> pd.DataFrame:
    # 4 users x 6 items; user u rated items in time order; item 5 is rated once, last, by user 0
    rows = [
        (0, 1, 4.0, 1), (0, 2, 5.0, 2), (0, 3, 3.0, 3), (0, 4, 4.0, 4), (0, 5, 5.0, 9),
        (1, 1, 5.0, 1), (1, 2, 4.0, 2), (1, 3, 2.0, 3), (1, 6, 4.0, 5), (1, 4, 5.0, 8),
        (2, 2, 3.0, 1), (2, 1, 4.0, 2), (2, 6, 4.0, 3), (2, 3, 5.0, 4), (2, 4, 1.0, 7),
        (3, 1, 2.0, 5), (3, 3, 3.0, 4), (3, 2, 4.0, 3), (3, 6, 5.0, 2), (3, 4, 4.0, 9),
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])
    df["title"] = "Film " + df["movie_id"].astype(str)
    df["genres"] = np.where(df["movie_id"] % 2 == 0, "Comedy|Drama", "Action")
    return df


def test_split_holds_out_each_users_latest_ratings():
    split = recommend.split_latest(_ratings(), min_ratings=2)
    assert split.shape == (4, 6)
    assert split.test.sum(1).tolist() == [1, 1, 1, 1]  # 20% of 5, at least one
    items = list(split.items)
    assert split.test[0, items.index(5)] and split.test[1, items.index(4)] and split.test[3, items.index(4)]
    assert not (split.train & split.test).any()
    assert split.train_counts[items.index(5)] == 0 and split.cold(0)[items.index(5)]
    val = recommend.split_latest(_ratings(), min_ratings=2, validation=True)
    assert (val.users == split.users).all() and (val.items == split.items).all()
    assert not (val.train & split.test).any() and not (val.test & split.test).any()  # test ratings left out
    assert val.test[0, items.index(4)] and val.train.sum() == split.train.sum() - 4


def test_bad_tables_fail_in_one_line_naming_the_column():
    with pytest.raises(LlmkitError, match="'timestamp' not found"):
        recommend.split_latest(_ratings().drop(columns="timestamp"))
    bad = _ratings()
    bad.loc[3, "user_id"] = None
    with pytest.raises(LlmkitError, match="'user_id' has 1 missing"):
        recommend.split_latest(bad)
    with pytest.raises(LlmkitError, match="test_fraction"):
        recommend.split_latest(_ratings(), test_fraction=1.5)


def test_evaluate_counts_hits_in_the_top_k_and_skips_training_items():
    split = recommend.split_latest(_ratings(), min_ratings=2)
    perfect = split.test.astype(float)  # the test item first for every user
    r = recommend.evaluate(perfect, split, k=1)
    assert np.allclose(r.recall, 1) and np.allclose(r.ndcg, 1)
    wrong = split.train.astype(float)  # training items score highest, but are never recommended again
    assert np.allclose(recommend.evaluate(wrong, split, k=5).recall, 1)  # 5 candidates at most: all found
    only_cold = recommend.evaluate(perfect, split, k=1, items=split.cold(0))
    assert only_cold.users == 1  # only user 0's test item is a film nobody rated in training
    with pytest.raises(LlmkitError, match="expected shape"):
        recommend.evaluate(perfect[:2], split)


def test_models_are_deterministic_and_text_scores_unseen_items():
    split = recommend.split_latest(_ratings(), min_ratings=2)
    a = recommend.train_mf(split, dim=4, steps=30, seed=1)
    b = recommend.train_mf(split, dim=4, steps=30, seed=1)
    assert np.array_equal(a.scores(), b.scores()) and a.losses[-1] < a.losses[0]
    vectors = np.random.default_rng(0).normal(size=(6, 8))
    content = recommend.content(split, vectors)
    assert content.shape == (4, 6) and np.isfinite(content).all()
    popular = recommend.popularity(split)
    assert (popular[0] == split.train_counts).all()
    weight, tried = recommend.choose_text_weight(split, a.scores(), content, (0.5, 1.0))
    assert weight in (0.5, 1.0) and set(tried) == {0.5, 1.0}
    with pytest.raises(LlmkitError, match="one row per item"):
        recommend.content(split, vectors[:3])
    texts = recommend.item_texts(_ratings(), split.items, columns=("title", "genres"))
    assert texts[1] == "Film 2; Comedy, Drama"


def test_paired_difference_is_zero_for_equal_models_and_intervals_bracket_the_mean():
    values = np.array([0.0, 1.0, 0.5, np.nan, 1.0])
    mean, low, high = recommend.mean_interval(values, n_resamples=200)
    assert mean == pytest.approx(0.625) and low <= mean <= high
    assert recommend.paired_difference(values, values, n_resamples=50) == (0.0, 0.0, 0.0)


def test_faq_generator_is_deterministic_and_every_answer_is_a_document():
    a, b = store_faq.questions(60, seed=3), store_faq.questions(60, seed=3)
    pd.testing.assert_frame_equal(a, b)
    docs = store_faq.documents()
    assert len(docs) == 24 and docs["doc_id"].is_unique and set(a["doc_id"]) <= set(docs["doc_id"])
    assert set(store_faq.questions(24)["doc_id"]) == set(docs["doc_id"])  # each document asked at least once
    helpdesk.check_tables(docs, a)
    with pytest.raises(LlmkitError, match="'question' not found"):
        helpdesk.check_tables(docs, a.rename(columns={"question": "q"}))
    with pytest.raises(LlmkitError, match="not a document"):
        helpdesk.check_tables(docs, a.assign(doc_id="nope"))


def test_retrieval_finds_questions_in_the_documents_words():
    docs = store_faq.documents()
    asked = store_faq.questions(48, paraphrase_share=0.0)
    answer = pd.Index(docs["doc_id"]).get_indexer(asked["doc_id"])
    scores = helpdesk.tfidf_scores(docs["title"] + ". " + docs["text"], asked["question"])
    assert helpdesk.recall_at(scores, answer, 3).mean() > 0.9
    assert (helpdesk.route_intents(np.eye(24)[answer], docs["intent"]) == asked["intent"]).all()
    same = helpdesk.embedding_scores(np.eye(3), np.eye(3) * 2)
    assert np.allclose(same, np.eye(3))


def test_monthly_demand_and_safety_stock():
    df = inventory.monthly_demand("h02")
    assert df["month"].iloc[0] == pd.Timestamp("1992-07-01") and len(df) == 192
    assert df["demand_last_year"].iloc[12] == pytest.approx(df["demand"].iloc[0])
    with pytest.raises(LlmkitError, match="expected one of"):
        inventory.monthly_demand("superstore")
    assert inventory.safety_stock(np.arange(101.0), np.zeros(101), 0.95) == pytest.approx(95.0)
    assert inventory.safety_stock(np.zeros(5), np.ones(5)) == 0.0
