"""The reference engine: rank-bm25's BM25Okapi, exact and simple, for small and medium corpora."""

from __future__ import annotations

import heapq
import math
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

from retrieval.engine import EngineError
from retrieval.term_arrays import TermArrays

_FILE = "rank_bm25.pickle"


class LuceneIdfBM25(BM25Okapi):
    """rank-bm25's BM25Okapi scoring with Lucene's idf, log(1 + (N - df + 0.5) / (df + 0.5)).

    Okapi's own idf is zero or negative for a term in half the sentences or more, so in a small corpus
    (one article, a handful of sentences) the words a question is about would count for nothing."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


class RankBM25Engine:
    """The reference engine: rank-bm25 with Lucene idf; bm25s(method="atire", idf_method="lucene") matches it."""

    name = "rank-bm25"

    def __init__(self, model: BM25Okapi | None, size: int) -> None:
        self._model = model
        self._size = size
        # Postings (term -> documents holding it, and how often), so only documents that can score are scored.
        postings: dict[str, list[int]] = {}
        counts: dict[str, list[int]] = {}
        for doc, frequencies in enumerate(model.doc_freqs if model is not None else ()):
            for term, count in frequencies.items():
                postings.setdefault(term, []).append(doc)
                counts.setdefault(term, []).append(count)
        self._postings = {term: np.array(docs, dtype=np.int64) for term, docs in postings.items()}
        self._counts = {term: np.array(found, dtype=np.int64) for term, found in counts.items()}
        self._lengths = np.array(model.doc_len if model is not None else [], dtype=np.int64)

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], k1: float, b: float) -> RankBM25Engine:
        """Index tokenized documents; an empty corpus gives an engine that finds nothing."""
        if not documents:
            return cls(None, 0)
        # rank-bm25 divides by the average length: a corpus of empty documents needs a placeholder.
        docs = [list(doc) for doc in documents]
        if not any(docs):
            return cls(None, len(docs))
        return cls(LuceneIdfBM25(docs, k1=k1, b=b), len(docs))

    @classmethod
    def from_terms(cls, documents: TermArrays, k1: float, b: float) -> RankBM25Engine:
        """Index documents stored as term ids."""
        return cls.build(documents.lists(), k1, b)

    @classmethod
    def load(cls, directory: Path, scanned: bool = True) -> RankBM25Engine:
        """Read an engine written by `save` (all in memory: `scanned` makes no difference)."""
        try:
            with (directory / _FILE).open("rb") as handle:
                model, size = pickle.load(handle)
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
            raise EngineError(f"cannot read {directory / _FILE}: {error}") from error
        return cls(model, size)

    def save(self, directory: Path) -> None:
        """Write the engine into `directory`."""
        with (directory / _FILE).open("wb") as handle:
            pickle.dump((self._model, self._size), handle, protocol=pickle.HIGHEST_PROTOCOL)

    def __len__(self) -> int:
        return self._size

    def search(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best documents with a positive score; rank-bm25 scores those holding a query term."""
        if self._model is None or not query or k <= 0:
            return []
        lists = [self._postings[term] for term in set(query) if term in self._postings]
        if not lists:
            return []
        docs = np.unique(np.concatenate(lists))
        scores = self.score(query, docs.tolist())
        best = heapq.nsmallest(k, range(len(docs)), key=lambda i: (-scores[i], docs[i]))
        return [(int(docs[i]), float(scores[i])) for i in best if scores[i] > 0]

    def score(self, query: Sequence[str], ids: Sequence[int]) -> list[float]:
        """Scores of chosen documents only: rank-bm25's `get_batch_scores`, the same arithmetic on the same numbers
        term by term (so the same bits), reading each term's counts from its postings rather than from one dict
        per document, and adding nothing where a document lacks the term (rank-bm25 adds 0 there, or NaN for an
        empty document when b = 1)."""
        if self._model is None or not len(ids) or not query:
            return [0.0] * len(ids)
        model = self._model
        chosen = np.asarray(ids, dtype=np.int64)
        if chosen.min() < 0 or chosen.max() >= self._size:
            raise IndexError(f"document ids must be in 0..{self._size - 1}")
        score = np.zeros(len(chosen))
        doc_len = self._lengths[chosen]
        for term in query:
            idf = model.idf.get(term) or 0
            if not idf or term not in self._postings:
                continue
            docs, counts = self._postings[term], self._counts[term]
            where = np.minimum(np.searchsorted(docs, chosen), len(docs) - 1)
            held = docs[where] == chosen
            # rank-bm25 adds idf * 0 / (0 + k1 * (...)) = 0 for the others: NaN for an empty document at b = 1.
            q_freq, length = counts[where[held]], doc_len[held]
            score[held] += idf * (
                q_freq * (model.k1 + 1) / (q_freq + model.k1 * (1 - model.b + model.b * length / model.avgdl))
            )
        return score.tolist()
