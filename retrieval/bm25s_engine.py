"""The fast engine: bm25s' sparse score matrix, memory-mapped, scoring exactly like the rank-bm25 engine."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from retrieval.engine import EngineError

log = logging.getLogger(__name__)

_META = "bm25s_engine.json"
_FORMAT = 2  # 2: Lucene idf, like RankBM25Engine since it moved from Okapi's idf
_IDF = "lucene"  # log(1 + (N - df + 0.5) / (df + 0.5)), never zero: see LuceneIdfBM25
# bm25s' own file names inside the engine directory (its `save` defaults).
_ARRAYS = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")


class BM25sEngine:
    """bm25s with ATIRE term weights and Lucene idf in float64: the rank-bm25 engine's scores to ~1e-15."""

    name = "bm25s"

    def __init__(self, model: bm25s.BM25 | None, size: int) -> None:
        self._model = model
        self._size = size
        self._vocab: dict[str, int] = model.vocab_dict if model is not None else {}

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], k1: float, b: float) -> BM25sEngine:
        """Index tokenized documents; an empty corpus (or one without words) finds nothing."""
        vocab: dict[str, int] = {}
        # Term ids in order of first appearance, so that the same corpus always gives the same files.
        ids = [[vocab.setdefault(term, len(vocab)) for term in doc] for doc in documents]
        return cls.from_term_ids(ids, list(vocab), k1, b)

    @classmethod
    def from_term_ids(cls, ids: list[list[int]], vocabulary: Sequence[str], k1: float, b: float) -> BM25sEngine:
        """Index documents given as ids into `vocabulary` (as the index stores sentence terms)."""
        if not any(ids):
            return cls(None, len(ids))
        vocab = {term: number for number, term in enumerate(vocabulary)}
        if len(vocab) != len(vocabulary):
            raise EngineError("the vocabulary repeats a term")
        model = _new_model(k1, b)
        # bm25s sets its logger to DEBUG when imported: keep its "Building index" notes out of our output.
        library_log = logging.getLogger("bm25s")
        level = library_log.level
        library_log.setLevel(max(level, logging.INFO))
        try:
            # A (token ids, vocabulary) tuple skips bm25s' hash-ordered vocabulary and its string pass.
            model.index((ids, vocab), create_empty_token=False, show_progress=False)
        finally:
            library_log.setLevel(level)
        return cls(model, len(ids))

    @classmethod
    def load(cls, directory: Path) -> BM25sEngine:
        """Open an engine written by `save`, its arrays memory-mapped; raises EngineError when damaged."""
        meta = _read_meta(directory)
        size = meta["size"]
        if not meta["terms"]:
            return cls(None, size)
        try:
            model = bm25s.BM25.load(directory, mmap=True, load_corpus=False, show_progress=False)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise EngineError(f"cannot read the bm25s engine in {directory}: {error}") from error
        _check(model, size, directory)
        return cls(model, size)

    def save(self, directory: Path) -> None:
        """Write bm25s' arrays, vocabulary and parameters, then our metadata, into `directory`."""
        if self._model is not None:
            self._model.save(directory, show_progress=False)
        meta = {"format": _FORMAT, "size": self._size, "terms": len(self._vocab)}
        (directory / _META).write_text(json.dumps(meta), encoding="utf-8")

    def __len__(self) -> int:
        return self._size

    def search(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best documents with a positive score, best first, ties by lower id."""
        scores = self._scores(query)
        if scores is None or k <= 0:
            return []
        # Only documents sharing a term with the query can score above zero: select among those, since
        # a partition of the full array (bm25s' own top-k) costs ~50 ms at a million documents.
        found = np.flatnonzero(scores > 0)
        values = scores[found]
        if len(found) > k:
            kth = np.partition(values, len(values) - k)[len(values) - k]
            keep = values >= kth  # every tie of the k-th score, so that ties go to the lower id
            found, values = found[keep], values[keep]
        order = np.lexsort((found, -values))[:k]
        return [(int(doc), float(score)) for doc, score in zip(found[order], values[order], strict=True)]

    def score(self, query: Sequence[str], ids: Sequence[int]) -> list[float]:
        """BM25 scores of the given documents, in the order of `ids`."""
        chosen = np.asarray(ids, dtype=np.int64)
        if chosen.size and (chosen.min() < 0 or chosen.max() >= self._size):
            raise IndexError(f"document ids must be in 0..{self._size - 1}")
        scores = self._scores(query)
        if scores is None:
            return [0.0] * len(chosen)
        return [float(s) for s in scores[chosen]]

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
