"""Contextual token matching (MaxSim, as in ColBERT): how closely each content word of the question, as MiniLM reads
it in the question, is matched by some word of a sentence, as MiniLM reads it in that sentence.

The sentence embedding squeezes a sentence into one vector; the last layer's token states keep each word, read in
its context ("bank" of a river or of a loan). For every question piece, the best cosine with a piece of the
sentence, averaged over the question's pieces, sees which words the sentence answers with, paraphrases included.

A sentence has dozens of pieces of 384 floats each: 20,000 sentences would take half a gigabyte. The states are
centred and projected onto their principal directions in the corpus (fitted when the index is first built, kept
by updates), normalised and stored as int8: 128 bytes a piece."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SCALE = 127.0  # int8 steps of a unit vector's components
_MEAN = "token_mean.npy"
_COMPONENTS = "token_components.npy"
_VECTORS = "token_vectors.npy"
_OFFSETS = "token_offsets.npy"
_CHUNK = 65_536  # rows per step of the covariance sum


@dataclass(frozen=True)
class TokenProjection:
    """Centring and projection of token states onto fewer dimensions (the top principal directions)."""

    mean: np.ndarray  # (model dimensions,)
    components: np.ndarray  # (model dimensions, kept dimensions), orthonormal columns

    @classmethod
    def fit(cls, states: Sequence[np.ndarray], dimensions: int, model_dimensions: int) -> TokenProjection:
        """The mean and the `dimensions` principal directions of all the rows of `states`."""
        rows = [np.asarray(s, dtype=np.float32) for s in states if len(s)]
        count = sum(len(r) for r in rows)
        kept = min(dimensions, model_dimensions)
        if count < 2:
            eye = np.eye(model_dimensions, kept, dtype=np.float32)
            return cls(np.zeros(model_dimensions, dtype=np.float32), eye)
        total = np.zeros(model_dimensions)
        for r in rows:
            total += r.sum(axis=0, dtype=np.float64)
        mean = total / count
        covariance = np.zeros((model_dimensions, model_dimensions))
        for block in _blocks(rows):
            centred = block.astype(np.float64) - mean
            covariance += centred.T @ centred
        values, vectors = np.linalg.eigh(covariance)
        order = np.argsort(-values, kind="stable")[:kept]
        components = vectors[:, order]
        # An eigenvector's sign is arbitrary: fix it, so the same states always give the same projection.
        signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(kept)])
        components *= np.where(signs == 0, 1.0, signs)
        return cls(mean.astype(np.float32), components.astype(np.float32))

    def project(self, states: np.ndarray) -> np.ndarray:
        """Unit vectors of the centred, projected states (one row each; a zero row stays zero)."""
        projected = (np.asarray(states, dtype=np.float32) - self.mean) @ self.components
        norms = np.linalg.norm(projected, axis=1, keepdims=True)
        return (projected / np.maximum(norms, np.float32(1e-12))).astype(np.float32)


class TokenVectors:
    """The projected content-piece vectors of every body sentence, as int8, with the projection they were made by."""

    def __init__(self, projection: TokenProjection, vectors: np.ndarray, offsets: np.ndarray) -> None:
        dimensions = projection.components.shape[1]
        if vectors.ndim != 2 or vectors.shape[1] != dimensions or len(projection.mean) != len(projection.components):
            raise ValueError("the token vectors do not match their projection")
        if not len(offsets) or int(offsets[0]) != 0 or int(offsets[-1]) != len(vectors):
            raise ValueError("the token offsets do not match the token vectors")
        self.projection = projection
        self.vectors = vectors  # int8, pieces x kept dimensions
        self.offsets = offsets  # body sentence i has rows offsets[i] .. offsets[i + 1] - 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def build(
        cls,
        rows: Sequence[np.ndarray | None],
        projection: TokenProjection,
        previous: TokenVectors | None = None,
        source: np.ndarray | None = None,
    ) -> TokenVectors:
        """The vectors of each body sentence: its `rows` (`quantise`d), or, where those are None, the rows of
        sentence `source[i]` of `previous` (made by the same projection)."""
        parts: list[np.ndarray] = []
        for i, found in enumerate(rows):
            if found is None:
                if previous is None or source is None:
                    raise ValueError(f"no token vectors for body sentence {i}")
                parts.append(previous.rows(int(source[i])))
            else:
                parts.append(found)
        lengths = np.array([len(p) for p in parts], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        empty = np.zeros((0, projection.components.shape[1]), dtype=np.int8)
        return cls(projection, np.concatenate([empty, *parts]), offsets)

    def rows(self, sentence: int) -> np.ndarray:
        """The int8 rows of body sentence `sentence`."""
        return np.asarray(self.vectors[int(self.offsets[sentence]) : int(self.offsets[sentence + 1])])

    def maxsim(self, question: np.ndarray, sentences: Sequence[int]) -> np.ndarray:
        """Per body sentence, the mean over the question's pieces (`question`: projected unit rows) of the best
        cosine with a piece of the sentence; 0.0 for a sentence without content pieces or a question without."""
        result = np.zeros(len(sentences))
        if not len(question) or not len(sentences):
            return result
        ids = np.asarray(sentences, dtype=np.int64)
        starts, stops = np.asarray(self.offsets[ids]), np.asarray(self.offsets[ids + 1])
        lengths = stops - starts
        filled = np.flatnonzero(lengths)
        if not len(filled):
            return result
        picked = np.concatenate([np.arange(starts[i], stops[i]) for i in filled.tolist()])
        pieces = np.asarray(self.vectors[picked], dtype=np.float32) / np.float32(_SCALE)
        cosines = question @ pieces.T  # question pieces x the sentences' pieces
        bounds = np.concatenate([[0], np.cumsum(lengths[filled])[:-1]])
        result[filled] = np.maximum.reduceat(cosines, bounds, axis=1).mean(axis=0)
        return result

    def save(self, directory: Path) -> None:
        np.save(directory / _MEAN, self.projection.mean)
        np.save(directory / _COMPONENTS, self.projection.components)
        np.save(directory / _VECTORS, self.vectors)
        np.save(directory / _OFFSETS, self.offsets)

    @classmethod
    def load(cls, directory: Path) -> TokenVectors | None:
        """The vectors `save` wrote in `directory`, None when it wrote none; raises OSError or ValueError."""
        if not (directory / _VECTORS).exists():
            return None
        projection = TokenProjection(np.load(directory / _MEAN), np.load(directory / _COMPONENTS))
        return cls(projection, np.load(directory / _VECTORS, mmap_mode="r"), np.load(directory / _OFFSETS))


def quantise(unit: np.ndarray) -> np.ndarray:
    """Unit vectors as int8 steps of 1/127."""
    return np.clip(np.rint(unit * _SCALE), -127, 127).astype(np.int8)


def _blocks(rows: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
    """The rows in blocks of about _CHUNK (a covariance step over all of them at once would copy them all)."""
    pending: list[np.ndarray] = []
    size = 0
    for r in rows:
        pending.append(r)
        size += len(r)
        if size >= _CHUNK:
            yield np.concatenate(pending)
            pending, size = [], 0
    if pending:
        yield np.concatenate(pending)
