"""Tokenized documents as arrays of term ids, and term counts read through them, so nothing is re-tokenized."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

from retrieval.stored_array import StoredArray


class TermArrays:
    """Documents as term ids: document d holds vocabulary[i] for i in ids[offsets[d]:offsets[d + 1]]."""

    def __init__(self, vocabulary: Sequence[str], ids: np.ndarray | StoredArray, offsets: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self.ids = ids  # a StoredArray when loaded for answering: questions read a few sentences' terms
        self.offsets = offsets

    @classmethod
    def of(cls, documents: Sequence[Sequence[str]]) -> TermArrays:
        """Encode tokenized documents, numbering terms in order of first appearance."""
        number: dict[str, int] = {}
        ids = [number.setdefault(term, len(number)) for doc in documents for term in doc]
        offsets = np.cumsum([0, *(len(doc) for doc in documents)], dtype=np.int64)
        return cls(list(number), np.array(ids, dtype=np.int32), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, doc: int) -> list[str]:
        vocabulary = self.vocabulary
        return [vocabulary[i] for i in self.ids[self.offsets[doc] : self.offsets[doc + 1]].tolist()]

    def lengths(self) -> np.ndarray:
        """The number of terms of every document."""
        return np.diff(np.asarray(self.offsets, dtype=np.int64))

    def lists(self) -> list[list[str]]:
        """Every document as a list of terms (for engines that want strings)."""
        words = np.array(self.vocabulary, dtype=object)
        flat = words[self.ids[:]].tolist() if len(self.ids) else []
        bounds = np.asarray(self.offsets).tolist()
        return [flat[start:end] for start, end in pairwise(bounds)]

    def grouped(self, first: np.ndarray) -> TermArrays:
        """Consecutive documents joined: group g holds documents first[g] .. first[g + 1] - 1."""
        return TermArrays(self.vocabulary, self.ids, np.asarray(self.offsets)[first])

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(term id, document, count) of every distinct term of every document, sorted by term, then document."""
        keys = self.ids[:].astype(np.int64)  # term << 32 | document, sorted in place to spare memory
        keys <<= 32
        keys |= np.repeat(np.arange(len(self), dtype=np.int32), self.lengths())
        keys.sort()
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if len(keys) else keys
        counts = np.diff(np.append(starts, len(keys))).astype(np.int32)
        keys = keys[starts]
        return (keys >> 32).astype(np.int32), (keys & 0xFFFFFFFF).astype(np.int32), counts


class TermCounts(Mapping[str, int]):
    """Term -> count (e.g. how many sentences hold it), stored as an array over a vocabulary; absent = 0."""

    def __init__(self, vocabulary: Sequence[str], counts: np.ndarray) -> None:
        self._number = {term: number for number, term in enumerate(vocabulary)}
        self._vocabulary = vocabulary
        self.counts = counts
        self._size = int(np.count_nonzero(counts))

    def __getitem__(self, term: str) -> int:
        number = self._number.get(term)
        count = 0 if number is None else int(self.counts[number])
        if not count:
            raise KeyError(term)
        return count

    def __iter__(self) -> Iterator[str]:
        return (self._vocabulary[i] for i in np.flatnonzero(np.asarray(self.counts)).tolist())

    def __len__(self) -> int:
        return self._size


def save_words(path: Path, words: Sequence[str]) -> None:
    """Write words (which hold no line breaks) one per line."""
    path.write_bytes("".join(f"{word}\n" for word in words).encode("utf-8"))


def load_words(path: Path) -> list[str]:
    """Read words written by `save_words`."""
    return path.read_bytes().decode("utf-8").split("\n")[:-1]
