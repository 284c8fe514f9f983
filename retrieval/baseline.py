"""The baseline every evaluation puts beside the product: plain rank-bm25 over naively split sentences."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rank_bm25 import BM25Okapi

from retrieval.models import Answer, Article, Confidence, Quote, Sentence

# A sentence ends at a line break, or at . ! ? (and closing quotes) before a capital or a digit,
# unless the word before is one letter (initials, "U.S."): naive on purpose, but not splitting names.
_END = re.compile(r"(?<!\b\w)[.!?]+[\"'”’)\]]*(?=\s+[\"“‘(]?[A-Z0-9])|\n")
_WORD = re.compile(r"\w+")


def naive_sentences(text: str, article: int = 0) -> list[Sentence]:
    """Regex sentences of one article with their offsets; no cleaning, headlines and captions included."""
    found: list[Sentence] = []
    start = 0
    for end in [match.end() for match in _END.finditer(text)] + [len(text)]:
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            first, last = start + lead, start + len(piece.rstrip())
            found.append(Sentence(article, first, last, text[first:last], 0, len(found)))
        start = end
    return found


def word_tokens(text: str) -> list[str]:
    """Lower-case `\\w+` tokens: no stopwords, no stemming."""
    return _WORD.findall(text.lower())


def best_first(scores: np.ndarray, count: int) -> np.ndarray:
    """The positions of the `count` highest scores, best first, ties in corpus order: the head of a stable
    argsort of every score, without sorting them all (a question's words are in nearly every sentence)."""
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    negated = -scores
    if count >= len(scores):
        return np.argsort(negated, kind="stable")
    cutoff = np.partition(negated, count - 1)[count - 1]
    chosen = np.flatnonzero(negated <= cutoff)  # the best `count` and every score tied with the last of them
    return chosen[np.argsort(negated[chosen], kind="stable")][:count]


@dataclass(frozen=True)
class _Posting:
    ids: np.ndarray  # sentences holding the term
    weights: np.ndarray  # the term's BM25Okapi score in each of them


class BaselineAnswerer:
    """BM25Okapi (rank-bm25 defaults) over every naive sentence; never abstains, quotes carry no date."""

    def __init__(self, articles: Sequence[Article]) -> None:
        self._articles = tuple(articles)
        self._sentences = [s for n, a in enumerate(self._articles) for s in naive_sentences(a.text, n)]
        documents = [word_tokens(s.text) for s in self._sentences]
        self._postings: dict[str, _Posting] = {}
        if not any(documents):
            return
        # rank-bm25 scans every sentence for every query term in Python; the same formula with the
        # model's own idf and lengths, precomputed per term, gives the same scores in microseconds.
        model = BM25Okapi(documents)
        lengths = np.array(model.doc_len, dtype=float)
        norms = model.k1 * (1 - model.b + model.b * lengths / model.avgdl)
        positions: dict[str, list[tuple[int, int]]] = {}
        for number, frequencies in enumerate(model.doc_freqs):
            for term, count in frequencies.items():
                positions.setdefault(term, []).append((number, count))
        for term, pairs in positions.items():
            ids = np.array([n for n, _ in pairs], dtype=np.int64)
            counts = np.array([c for _, c in pairs], dtype=float)
            weights = model.idf[term] * (counts * (model.k1 + 1) / (counts + norms[ids]))
            self._postings[term] = _Posting(ids, weights)

    def __len__(self) -> int:
        return len(self._sentences)

    def scores(self, question: str) -> np.ndarray:
        """BM25Okapi score of every sentence for the question (what BM25Okapi.get_scores returns)."""
        scores = np.zeros(len(self._sentences))
        for term in word_tokens(question):
            posting = self._postings.get(term)
            if posting is not None:
                scores[posting.ids] += posting.weights
        return scores

    def answer(self, question: str, top_k: int = 3) -> Answer:
        """The `top_k` best-scoring sentences with a positive score, ties by corpus order."""
        scores = self.scores(question)
        quotes = tuple(self._quote(int(i), float(scores[i])) for i in best_first(scores, top_k) if scores[i] > 0)
        return Answer(question, quotes, abstained=False, terms=tuple(word_tokens(question)))

    def _quote(self, number: int, score: float) -> Quote:
        sentence = self._sentences[number]
        article = self._articles[sentence.article]

        def neighbour(step: int) -> str:
            other = number + step
            inside = 0 <= other < len(self._sentences)
            return self._sentences[other].text if inside and self._sentences[other].article == sentence.article else ""

        return Quote(
            text=sentence.text,
            source=article.source,
            date=None,  # the plain baseline reads no manifest or dateline
            title=None,
            score=score,
            confidence=Confidence.LOW,
            context_before=neighbour(-1),
            context_after=neighbour(1),
            article_id=article.id,
            start=sentence.start,
            end=sentence.end,
        )
