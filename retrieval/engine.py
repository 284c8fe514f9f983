"""The small interface every BM25 engine implements, so engines can be swapped without touching the answerer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


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
