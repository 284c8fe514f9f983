"""What a candidate's article says about it: how well the whole article and the neighbouring sentences match.

A sentence can answer a question whose other words sit in the sentences around it ("He was born there in 1879"):
the sentence alone then looks weak, and a sentence of the wrong article sharing the same words looks as strong.
These features read the candidate's article, so the ranker can prefer the sentence of the right one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from retrieval.index import SentenceIndex

ARTICLE_FEATURES = ("article_semantic", "neighbour_semantic", "neighbour_coverage")


@dataclass(frozen=True)
class ArticleSpans:
    """The body sentences of the candidates' articles, read once per question (one read per article)."""

    first: np.ndarray  # per candidate: the first body doc of its article
    last: np.ndarray  # per candidate: one past its article's last body doc
    terms: dict[int, list[str]]  # the index terms of every body doc of those articles


def read_articles(index: SentenceIndex, docs: Sequence[int]) -> ArticleSpans:
    """The articles of the candidate body docs `docs`: their spans and every body sentence's terms."""
    body = index.body
    column = index.columns["article"]
    articles = np.asarray(column[body[np.asarray(docs, dtype=np.int64)]]) if len(docs) else np.zeros(0, np.int64)
    first = np.searchsorted(body, np.searchsorted(column, articles, side="left"))
    last = np.searchsorted(body, np.searchsorted(column, articles, side="right"))
    vocabulary, ids, offsets = index.sentence_terms.vocabulary, index.sentence_terms.ids, index.sentence_terms.offsets
    terms: dict[int, list[str]] = {}
    for start, end in sorted(set(zip(first.tolist(), last.tolist(), strict=True))):
        # An article's body sentences are consecutive docs, so their terms are consecutive ids.
        bounds = np.asarray(offsets[start : end + 1], dtype=np.int64).tolist()
        flat = [vocabulary[i] for i in ids[bounds[0] : bounds[-1]].tolist()]
        for doc, (lo, hi) in enumerate(pairwise(bounds), start):
            terms[doc] = flat[lo - bounds[0] : hi - bounds[0]]
    return ArticleSpans(first, last, terms)


def context_features(
    index: SentenceIndex,
    spans: ArticleSpans,
    docs: Sequence[int],
    question_terms: Sequence[str],
    weights: Mapping[str, float],
    question_vector: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Per candidate (body doc ids `docs`, as given to `read_articles`), the ARTICLE_FEATURES: the idf-weighted
    share of the question its neighbours hold and it lacks, and the cosines of the question with the article
    (its sentences' mean) and with the closer neighbour."""
    values = {name: np.zeros(len(docs)) for name in ARTICLE_FEATURES}
    if not len(docs):
        return values
    total = sum(weights.get(term, 0.0) for term in question_terms) or 1.0
    wanted = frozenset(question_terms)
    matched = {doc: wanted.intersection(found) for doc, found in spans.terms.items()}
    first, last = spans.first.tolist(), spans.last.tolist()
    for row, (doc, start, end) in enumerate(zip(docs, first, last, strict=True)):
        near = [n for n in (doc - 1, doc + 1) if start <= n < end]
        around = set().union(*(matched[n] for n in near)) - matched[doc]
        values["neighbour_coverage"][row] = sum(weights.get(t, 0.0) for t in around) / total
    if question_vector is not None and index.embeddings is not None:
        values["article_semantic"], values["neighbour_semantic"] = _semantic_context(
            index.embeddings, spans, docs, question_vector
        )
    return values


def _semantic_context(
    embeddings: np.ndarray, spans: ArticleSpans, docs: Sequence[int], question_vector: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of the question with each candidate's article centroid, and the best of its neighbours' cosines."""
    every = np.array(sorted(spans.terms), dtype=np.int64)  # every body doc of the articles, in order
    vectors = np.asarray(embeddings[every], dtype=np.float32)
    cosine_of = dict(zip(every.tolist(), (vectors @ question_vector).tolist(), strict=True))
    # Where each article's docs begin in `every`: its centroid sums the rows up to the next article's.
    boundaries = sorted({int(position) for position in np.searchsorted(every, spans.first)})
    centres = np.add.reduceat(vectors, boundaries, axis=0)
    norms = np.maximum(np.linalg.norm(centres, axis=1), 1e-12)
    centroid_of = dict(zip(every[boundaries].tolist(), ((centres @ question_vector) / norms).tolist(), strict=True))
    article = np.array([centroid_of[start] for start in spans.first.tolist()])
    neighbour = np.array(
        [
            max((cosine_of[n] for n in (doc - 1, doc + 1) if start <= n < end), default=0.0)
            for doc, start, end in zip(docs, spans.first.tolist(), spans.last.tolist(), strict=True)
        ]
    )
    return article, neighbour


def semantic_features(cosines: np.ndarray) -> dict[str, np.ndarray]:
    """The candidates' own cosines and their rank among each other as 1 / (1 + rank), ties to the earlier."""
    order = np.argsort(-cosines, kind="stable")
    rank = np.empty(len(cosines))
    rank[order] = np.arange(len(cosines))
    return {"semantic": cosines, "semantic_rank": 1.0 / (1.0 + rank)}


def within_article(values: np.ndarray, articles: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate, its rank among the candidates of its own article as 1 / (1 + rank), and how far it falls
    short of the best of them (0 for the best): which sentence of an article answers is a question of its own."""
    group = np.asarray(articles, dtype=np.int64)
    if not len(group):
        return np.zeros(0), np.zeros(0)
    order = np.lexsort((np.arange(len(group)), -values, group))  # by article, best first, ties to the earlier
    sorted_group = group[order]
    heads = np.flatnonzero(np.concatenate([[True], sorted_group[1:] != sorted_group[:-1]]))
    head_of = np.repeat(heads, np.diff(np.append(heads, len(order))))
    rank, gap = np.empty(len(group)), np.empty(len(group))
    rank[order] = 1.0 / (1.0 + np.arange(len(order)) - head_of)
    gap[order] = values[order] - values[order][head_of]
    return rank, gap
