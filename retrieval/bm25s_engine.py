"""The fast engine: bm25s' sparse score matrix, memory-mapped, scoring exactly like the rank-bm25 engine."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
from bm25s.scoring import _build_idf_array, _select_idf_scorer, _select_tfc_scorer

from retrieval.engine import EngineError
from retrieval.stored_array import StoredArray
from retrieval.term_arrays import TermArrays

log = logging.getLogger(__name__)

_META = "bm25s_engine.json"
_FORMAT = 2  # 2: Lucene idf, like RankBM25Engine since it moved from Okapi's idf
_IDF = "lucene"  # log(1 + (N - df + 0.5) / (df + 0.5)), never zero: see LuceneIdfBM25
# bm25s' own file names inside the engine directory (its `save` defaults).
_ARRAYS = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")
# `search` clears its buffer with one write of every document once its postings exceed 1/32 of the documents:
# at a million, scattered zeroing of more than ~30k postings costs more than the 8 MB write (measured).
_FILL_SHARE = 32


class BM25sEngine:
    """bm25s with ATIRE term weights and Lucene idf in float64: the rank-bm25 engine's scores to ~1e-15."""

    name = "bm25s"

    def __init__(
        self, model: bm25s.BM25 | None, size: int, stored: tuple[StoredArray, StoredArray] | None = None
    ) -> None:
        self._model = model
        self._size = size
        self._vocab: dict[str, int] = model.vocab_dict if model is not None else {}
        self._stored = stored  # (data, indices) read on demand by `score`, instead of the memory-mapped arrays
        self._local = threading.local()  # a score buffer per thread: the bot answers in several at once
        self._best: dict[int, float] = {}  # term id -> its highest weight, for `search`

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], k1: float, b: float) -> BM25sEngine:
        """Index tokenized documents; an empty corpus (or one without words) finds nothing."""
        # Term ids in order of first appearance, so that the same corpus always gives the same files.
        return cls.from_terms(TermArrays.of(documents), k1, b)

    @classmethod
    def from_terms(cls, documents: TermArrays, k1: float, b: float) -> BM25sEngine:
        """Index documents stored as term ids; only the terms they use enter the engine's vocabulary."""
        if len(set(documents.vocabulary)) != len(documents.vocabulary):
            raise EngineError("the vocabulary repeats a term")
        if not len(documents.ids):
            return cls(None, len(documents))
        model = _new_model(k1, b)
        model.scores, used = _score_matrix(model, documents)
        model.vocab_dict = {documents.vocabulary[term]: number for number, term in enumerate(used.tolist())}
        model.unique_token_ids_set = set(model.vocab_dict.values())
        model.nonoccurrence_array = None  # ATIRE needs none (only BM25L and BM25+ do)
        return cls(model, len(documents))

    @classmethod
    def load(cls, directory: Path, scanned: bool = True) -> BM25sEngine:
        """Open an engine written by `save`, its arrays memory-mapped (and, unless `scanned`, read on demand by
        `score`); raises EngineError when damaged."""
        meta = _read_meta(directory)
        size = meta["size"]
        if not meta["terms"]:
            return cls(None, size)
        try:
            model = bm25s.BM25.load(directory, mmap=True, load_corpus=False, show_progress=False)
            stored = None if scanned else (StoredArray(directory / _ARRAYS[0]), StoredArray(directory / _ARRAYS[1]))
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise EngineError(f"cannot read the bm25s engine in {directory}: {error}") from error
        _check(model, size, directory)
        return cls(model, size, stored)

    def save(self, directory: Path) -> None:
        """Write bm25s' arrays, vocabulary and parameters, then our metadata, into `directory`."""
        if self._model is not None:
            self._model.save(directory, show_progress=False)
        meta = {"format": _FORMAT, "size": self._size, "terms": len(self._vocab)}
        (directory / _META).write_text(json.dumps(meta), encoding="utf-8")

    def __len__(self) -> int:
        return self._size

    def search(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best documents with a positive score, best first, ties by lower id.

        The sums are bm25s' own (each term's weights added in query order, from zero), made in a zeroed buffer
        kept between questions and read back only at the postings: allocating and scanning a dense array of
        every document costs more than the sums at a million documents."""
        if self._model is None or k <= 0:
            return []
        # Plain views of the memory maps: slicing a np.memmap makes a memmap each time, which costs more than the read.
        data, indices, indptr = (np.asarray(self._model.scores[key]) for key in ("data", "indices", "indptr"))
        # Repeated query terms count again, as in rank-bm25.
        terms = [t for t in (self._vocab[w] for w in query if w in self._vocab) if indptr[t + 1] > indptr[t]]
        if not terms:
            return []
        postings = {t: indices[indptr[t] : indptr[t + 1]] for t in terms}
        buffer = self._buffer()
        try:
            for t in terms:
                np.add.at(buffer, postings[t], data[indptr[t] : indptr[t + 1]])  # numpy 2 makes it the fastest
            slots, values, room = self._read_back(terms, postings, buffer, k)
        finally:  # also when interrupted: a dirty buffer would corrupt every later question
            if sum(len(held) for held in postings.values()) > self._size // _FILL_SHARE:
                buffer.fill(0.0)  # one sequential write beats scattered ones once the postings are many
            else:
                for held in postings.values():
                    np.put(buffer, held, 0.0)
        # A document fills at most one slot per term read back, so the best `room` slots hold the best k
        # documents and every tie of the k-th.
        if len(values) > room:
            kth = np.partition(values, len(values) - room)[len(values) - room]
            keep = values >= kth
            slots, values = slots[keep], values[keep]
        found, first = np.unique(slots, return_index=True)
        values = values[first]
        positive = values > 0
        found, values = found[positive], values[positive]
        order = np.lexsort((found, -values))[:k]
        return [(int(doc), float(score)) for doc, score in zip(found[order], values[order], strict=True)]

    def _read_back(
        self, terms: list[int], postings: dict[int, np.ndarray], buffer: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """The summed scores at the postings that can hold one of the k best documents: (slots, values, the
        number of best slots sure to hold the k best documents).

        The most common term's postings are mostly documents holding nothing else, and such a document scores
        at most that term's best weight (once per repeat). When the other terms' slots already show k
        documents scoring more, none of those can be among the k best and its postings are not read back."""
        common = max(terms, key=lambda t: len(postings[t]))
        others = [t for t in terms if t != common]
        room = k * len(others)
        if others and sum(len(postings[t]) for t in others) >= room:
            slots = np.concatenate([postings[t] for t in others])
            values = np.take(buffer, slots)
            # At least k documents score this much or more: each fills at most one slot per term.
            floor = np.partition(values, len(values) - room)[len(values) - room]
            bound = 0.0
            for _ in range(terms.count(common)):
                bound += self._best_weight(common)  # added like a document's weights, so rounding cannot exceed it
            if bound < floor:
                return slots, values, room
        slots = np.concatenate([postings[t] for t in terms])
        return slots, np.take(buffer, slots), k * len(terms)

    def _best_weight(self, term: int) -> float:
        """The highest weight among the term's postings, kept once read."""
        best = self._best.get(term)
        if best is None:
            data, indptr = (np.asarray(self._model.scores[key]) for key in ("data", "indptr"))  # type: ignore[union-attr]
            best = self._best[term] = float(data[indptr[term] : indptr[term + 1]].max())
        return best

    def _buffer(self) -> np.ndarray:
        """This thread's score buffer, all zeros between questions."""
        buffer: np.ndarray | None = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = np.zeros(self._size, dtype=np.float64)  # bm25s' dtype here
        return buffer

    def score(self, query: Sequence[str], ids: Sequence[int]) -> list[float]:
        """BM25 scores of the given documents, in the order of `ids`: the same sums as bm25s' own scoring (query
        terms in order, from zero), but reading each term's postings only where the documents are."""
        chosen = np.asarray(ids, dtype=np.int64)
        if chosen.size and (chosen.min() < 0 or chosen.max() >= self._size):
            raise IndexError(f"document ids must be in 0..{self._size - 1}")
        scores = np.zeros(len(chosen), dtype=np.float64)
        if self._model is None:
            return scores.tolist()
        data, indices, indptr = (self._model.scores[key] for key in ("data", "indices", "indptr"))
        if self._stored is not None:
            data, indices = self._stored
        wanted = chosen.astype(indices.dtype)  # of the postings' type: numpy would convert all postings otherwise
        for term in (self._vocab[term] for term in query if term in self._vocab):
            start, end = int(indptr[term]), int(indptr[term + 1])
            if start == end:
                continue
            postings = indices[start:end]  # documents holding the term, ascending
            where = np.minimum(np.searchsorted(postings, wanted), end - start - 1)
            held = postings[where] == wanted
            found = start + where[held]
            scores[held] += data.take(found) if isinstance(data, StoredArray) else data[found]
        return scores.tolist()

    def _scores(self, query: Sequence[str]) -> np.ndarray | None:
        """bm25s' scores of every document, None when no query term is in the vocabulary."""
        if self._model is None:
            return None
        # Repeated query terms count again, as in rank-bm25.
        term_ids = [self._vocab[term] for term in query if term in self._vocab]
        if not term_ids:
            return None
        return self._model.get_scores_from_ids(term_ids)


def _new_model(k1: float, b: float) -> bm25s.BM25:
    """bm25s configured to reproduce RankBM25Engine: BM25Okapi's tf part (ATIRE), Lucene's idf, float64."""
    return bm25s.BM25(
        k1=k1,
        b=b,
        method="atire",
        idf_method=_IDF,
        dtype="float64",
        backend="numpy",
        csc_backend="numpy",
    )


def _score_matrix(model: bm25s.BM25, documents: TermArrays) -> tuple[dict[str, Any], np.ndarray]:
    """bm25s' score matrix (what `model.index` builds, document by document in Python), computed over all
    documents at once with bm25s' own formulas; returns it and the vocabulary ids of its columns.

    Equal to bm25s' arrays bit for bit (tests/test_bm25s_engine.py): the same float64 operations on the same
    numbers, in the same order; the sparse layout is bm25s' (by term, then document)."""
    lengths = documents.lengths()
    term, doc, counts = documents.pairs()
    starts = np.flatnonzero(np.concatenate([[True], term[1:] != term[:-1]]))
    used = term[starts]  # the vocabulary ids of the columns, ascending
    doc_freq = np.diff(np.append(starts, len(term)))
    del term
    idf = _build_idf_array(
        dict(enumerate(doc_freq.tolist())), len(lengths), _select_idf_scorer(model.idf_method), model.dtype
    )
    tfc = _select_tfc_scorer(model.method)(
        tf_array=counts.astype(model.dtype), l_d=lengths[doc], l_avg=lengths.mean(), k1=model.k1, b=model.b
    )
    tfc *= np.repeat(idf, doc_freq)  # idf * tfc: one multiplication, commutative, so the same bits
    indptr = np.zeros(len(used) + 1, dtype=np.int64)
    np.cumsum(doc_freq, out=indptr[1:])
    scores = {"data": tfc.astype(model.dtype), "indices": doc.astype(model.int_dtype), "indptr": indptr}
    return scores | {"num_docs": len(lengths)}, used


def _read_meta(directory: Path) -> dict[str, Any]:
    """Our metadata file, validated."""
    path = directory / _META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise EngineError(f"cannot read {path}: {error}") from error
    if (
        not isinstance(meta, dict)
        or meta.get("format") != _FORMAT
        or not all(isinstance(meta.get(key), int) and meta[key] >= 0 for key in ("size", "terms"))
    ):
        raise EngineError(f"{path} is not bm25s engine metadata of format {_FORMAT}")
    return meta


def _check(model: bm25s.BM25, size: int, directory: Path) -> None:
    """Cheap consistency checks, so that a truncated or mixed-up file fails here, not in a search."""
    data, indices, indptr = (model.scores[key] for key in ("data", "indices", "indptr"))
    problems = []
    if model.scores.get("num_docs") != size:
        problems.append(f"{model.scores.get('num_docs')} documents instead of {size}")
    if data.dtype != np.float64 or data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1:
        problems.append("unexpected array types")
    elif len(indptr) != len(model.vocab_dict) + 1 or len(data) != len(indices) or indptr[-1] != len(data):
        problems.append(f"arrays of inconsistent lengths ({', '.join(_ARRAYS)})")
    if (model.method, model.idf_method) != ("atire", _IDF):
        problems.append(f"scoring {model.method}/{model.idf_method} instead of atire/{_IDF}")
    if problems:
        raise EngineError(f"damaged bm25s engine in {directory}: {'; '.join(problems)}")
    log.debug("loaded bm25s engine: %d documents, %d terms", size, len(model.vocab_dict))
