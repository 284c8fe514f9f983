"""The small interface every BM25 engine implements, so engines can be swapped without touching the answerer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from retrieval.term_arrays import TermArrays


class EngineError(Exception):
    """An engine could not be built, saved or loaded."""


class Engine(Protocol):
    """A BM25 index over numbered documents (sentences, paragraphs or articles), each a list of tokens."""

    name: str

    def __len__(self) -> int:
        """Number of indexed documents."""
        ...

    def search(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best documents with a positive score, as (document id, score), best first, ties by lower id."""
        ...

    def score(self, query: Sequence[str], ids: Sequence[int]) -> list[float]:
        """BM25 scores of the given documents for the query, in the order of `ids`."""
        ...

    def save(self, directory: Path) -> None:
        """Write the engine's files into an existing, empty directory."""
        ...


class EngineClass(Protocol):
    """How an engine is made: built from tokenized documents or loaded from its directory."""

    def build(self, documents: Sequence[Sequence[str]], k1: float, b: float) -> Engine:
        """Index tokenized documents."""
        ...

    def from_terms(self, documents: TermArrays, k1: float, b: float) -> Engine:
        """Index documents stored as term ids (what the index keeps, so nothing is tokenized twice)."""
        ...

    def load(self, directory: Path, scanned: bool = True) -> Engine:
        """Read an engine written by `Engine.save`. `scanned`: searches will read whole postings (keep them
        memory-mapped); else the engine only scores chosen documents (read their postings on demand)."""
        ...


ENGINE_NAMES = ("rank-bm25", "bm25s")


def engine_class(name: str) -> EngineClass:
    """The engine implementation called `name`."""
    if name == "rank-bm25":
        from retrieval.rank_bm25_engine import RankBM25Engine

        return RankBM25Engine
    if name == "bm25s":
        from retrieval.bm25s_engine import BM25sEngine

        return BM25sEngine
    raise EngineError(f"unknown engine {name!r} (known: {', '.join(ENGINE_NAMES)})")
