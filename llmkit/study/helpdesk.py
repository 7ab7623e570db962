"""Answering customers from a help centre by retrieval, for the retail case study
(notebooks/case_studies/retail_recommendation.ipynb, seed §6.3 客户服务).

A question is answered by the help-centre document it is closest to: :func:`tfidf_scores` (word overlap, the
floor) or :func:`embedding_scores` (MiniLM sentence vectors, cosine). :func:`recall_at` says, per question,
whether its answer is among the top k; :func:`route_intents` sends each question to the intent of its best
document. The documents and questions come from :mod:`llmkit.data.synth.store_faq` (or an analyst's own
``doc_id``/``text`` and ``question``/``doc_id`` tables, checked by :func:`check_tables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import pandas as pd


def check_tables(docs: pd.DataFrame, questions: pd.DataFrame) -> None:
    """Refuse, in one line, documents without ``doc_id``/``text``, questions without ``question``/``doc_id``,
    empty texts, repeated document ids, or a question whose answer is not among the documents."""
    for table, name, columns in ((docs, "documents", ("doc_id", "text")), (questions, "questions",
                                                                          ("question", "doc_id"))):  # fmt: skip
        for c in columns:
            if c not in table.columns:
                raise LlmkitError(
                    f"{name}: column {c!r} not found; the columns are: {', '.join(map(str, table.columns))}"
                )
        text = columns[1] if name == "documents" else columns[0]
        empty = int((table[text].isna() | (table[text].astype(str).str.strip() == "")).sum())
        if empty:
            raise LlmkitError(f"{name}: column {text!r} has {empty} empty texts")
    repeated = docs["doc_id"][docs["doc_id"].duplicated()].tolist()
    if repeated:
        raise LlmkitError(f"documents: doc_id {repeated[0]!r} appears more than once")
    unknown = sorted(set(questions["doc_id"]) - set(docs["doc_id"]))
    if unknown:
        raise LlmkitError(f"questions: doc_id {unknown[0]!r} is not a document's doc_id")


def tfidf_scores(doc_texts: Sequence[str], question_texts: Sequence[str]) -> np.ndarray:
    """[questions, documents] cosine of TF-IDF vectors (fitted on the documents; English stop words out)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(list(doc_texts))
    d = vectorizer.transform(list(doc_texts))
    q = vectorizer.transform(list(question_texts))
    return (q @ d.T).toarray()  # rows are L2-normalized: the product is the cosine


def embedding_scores(doc_vectors: np.ndarray, question_vectors: np.ndarray) -> np.ndarray:
    """[questions, documents] cosine of sentence vectors (e.g. MiniLM's, already L2-normalized)."""
    d = np.asarray(doc_vectors, dtype=np.float64)
    q = np.asarray(question_vectors, dtype=np.float64)
    d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    return q @ d.T


def recall_at(scores: np.ndarray, answers: Sequence[int], k: int) -> np.ndarray:
    """[questions] 1.0 where the answer's document is among the ``k`` best scored (ties: the lower index
    first), else 0.0."""
    scores = np.asarray(scores, dtype=np.float64)
    answers = np.asarray(answers)
    if scores.ndim != 2 or scores.shape[0] != answers.size:
        raise LlmkitError(f"scores: expected [questions={answers.size}, documents], got {list(scores.shape)}")
    if k < 1:
        raise LlmkitError(f"k: expected at least 1, got {k}")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (top == answers[:, None]).any(axis=1).astype(np.float64)


def route_intents(scores: np.ndarray, doc_intents: Sequence[str]) -> np.ndarray:
    """[questions] the intent of each question's best document."""
    return np.asarray(doc_intents)[np.argmax(np.asarray(scores), axis=1)]
