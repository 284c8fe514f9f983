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
from retrieval.term_arrays import TermArrays

ARTICLE_FEATURES = ("article_semantic", "neighbour_semantic", "neighbour_coverage")


@dataclass(frozen=True)
class ArticleSpans:
    """Where the candidates' articles lie, and the terms of the candidates and their neighbours (read once)."""

    first: np.ndarray  # per candidate: the first body doc of its article
    last: np.ndarray  # per candidate: one past its article's last body doc
    terms: dict[int, tuple[str, ...]]  # the index terms of every candidate and of its neighbours in its article
    every: np.ndarray  # every body doc of those articles, ascending (their centroids need them all)


def read_articles(index: SentenceIndex, docs: Sequence[int]) -> ArticleSpans:
    """The articles of the candidate body docs `docs`: their spans, and the terms of the candidates and of the
    sentences just before and after them, one read per run of consecutive docs."""
    body = index.body
    column = index.columns["article"]
    chosen = np.asarray(docs, dtype=np.int64)
    articles = np.asarray(column[body[chosen]]) if len(docs) else np.zeros(0, np.int64)
    first = np.searchsorted(body, np.searchsorted(column, articles, side="left"))
    last = np.searchsorted(body, np.searchsorted(column, articles, side="right"))
    spans = sorted(set(zip(first.tolist(), last.tolist(), strict=True)))
    every = np.concatenate([np.arange(lo, hi) for lo, hi in spans]) if spans else np.zeros(0, np.int64)
    wanted = np.unique(np.concatenate([np.maximum(chosen - 1, first), chosen, np.minimum(chosen + 1, last - 1)]))
    terms: dict[int, tuple[str, ...]] = {}
    breaks = np.flatnonzero(np.diff(wanted) != 1) + 1
    for run in np.split(wanted, breaks) if len(wanted) else []:
        lo, hi = int(run[0]), int(run[-1]) + 1
        terms.update(zip(range(lo, hi), _run_terms(index.sentence_terms, lo, hi), strict=True))
    return ArticleSpans(first, last, terms, every)


def _run_terms(sentence_terms: TermArrays, start: int, end: int) -> list[tuple[str, ...]]:
    """The terms of body docs start .. end - 1: consecutive docs, so consecutive ids (one read)."""
    vocabulary, ids, offsets = sentence_terms.vocabulary, sentence_terms.ids, sentence_terms.offsets
    bounds = np.asarray(offsets[start : end + 1], dtype=np.int64).tolist()
    flat = [vocabulary[i] for i in ids[bounds[0] : bounds[-1]].tolist()]
    return [tuple(flat[lo - bounds[0] : hi - bounds[0]]) for lo, hi in pairwise(bounds)]


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
    coverage = values["neighbour_coverage"]
    for row, (doc, start, end) in enumerate(zip(docs, spans.first.tolist(), spans.last.tolist(), strict=True)):
        near = [
            found for n in (doc - 1, doc + 1) if start <= n < end and (found := wanted.intersection(spans.terms[n]))
        ]
        if near:  # most neighbours hold none of the question's terms
            around = set().union(*near) - wanted.intersection(spans.terms[doc])
            coverage[row] = sum(weights.get(t, 0.0) for t in around) / total
    if question_vector is not None and index.embeddings is not None:
        values["article_semantic"], values["neighbour_semantic"] = _semantic_context(
            index.embeddings, spans, docs, question_vector
        )
    return values


def _semantic_context(
    embeddings: np.ndarray, spans: ArticleSpans, docs: Sequence[int], question_vector: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of the question with each candidate's article centroid, and the best of its neighbours' cosines."""
    every = spans.every
    vectors = np.asarray(embeddings[every], dtype=np.float32)
    cosines = vectors @ question_vector
    # Where each article's docs begin in `every`: its centroid sums the rows up to the next article's.
    heads = np.searchsorted(every, spans.first)
    boundaries = np.unique(heads)
    centres = np.add.reduceat(vectors, boundaries, axis=0)
    norms = np.maximum(np.linalg.norm(centres, axis=1), 1e-12)
    article = ((centres @ question_vector) / norms)[np.searchsorted(boundaries, heads)]
    # An article's docs are consecutive in `every`: a candidate's neighbours sit just before and after it.
    doc = np.asarray(docs, dtype=np.int64)
    at = np.searchsorted(every, doc)
    before = np.where(doc - 1 >= spans.first, cosines[at - 1], -np.inf)
    after = np.where(doc + 1 < spans.last, cosines[np.minimum(at + 1, len(every) - 1)], -np.inf)
    neighbour = np.maximum(before, after)
    neighbour[np.isneginf(neighbour)] = 0.0  # no neighbour in the article
    return article.astype(np.float64), neighbour.astype(np.float64)


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
