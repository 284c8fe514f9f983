"""Soft matching of words: how close, by MiniLM, each word of the question comes to some word of a sentence.

A paraphrase shares few words with the sentence it asks about ("UAVs" for "drones", "punishment" for
"sanctions"); each word embedded on its own still lands near its synonyms (cosine 0.5-0.8, unrelated words 0.1-0.2),
which BM25 and the exact-match features cannot see."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from retrieval.features import idf
from retrieval.term_arrays import load_words, save_words
from retrieval.tokenization import STOPWORDS, terms, words

Embedder = Callable[[Sequence[str]], np.ndarray]  # texts -> unit vectors, one row each
_WORDS = "soft_words.txt"
_VECTORS = "soft_vectors.npy"


class WordVectors:
    """The unit vector of every content word of the body sentences, each embedded on its own."""

    def __init__(self, vocabulary: Sequence[str], vectors: np.ndarray) -> None:
        if len(vocabulary) != len(vectors):
            raise ValueError(f"{len(vocabulary)} words but {len(vectors)} word vectors")
        self.vocabulary = vocabulary
        self.vectors = vectors
        self.row = {word: row for row, word in enumerate(vocabulary)}

    def __len__(self) -> int:
        return len(self.vocabulary)

    def rows(self, found: Sequence[str]) -> np.ndarray:
        """The rows of the words the table holds, in order (the others are left out)."""
        row = self.row
        return np.array([row[word] for word in found if word in row], dtype=np.int64)

    @classmethod
    def build(cls, texts: Iterable[str], embed: Embedder, previous: WordVectors | None = None) -> WordVectors:
        """The vectors of the content words of `texts`; words `previous` holds keep its vectors."""
        vocabulary = sorted({word for text in texts for word in content_words(text)})
        if previous is None or not len(previous):
            return cls(vocabulary, np.asarray(embed(vocabulary), dtype=np.float32))
        known = np.array([previous.row.get(word, -1) for word in vocabulary], dtype=np.int64)
        vectors = np.asarray(previous.vectors)[np.maximum(known, 0)]  # the reused rows; the others are replaced
        missing = np.flatnonzero(known < 0)
        if len(missing):
            vectors[missing] = embed([vocabulary[i] for i in missing.tolist()])
        return cls(vocabulary, vectors)

    def save(self, directory: Path) -> None:
        save_words(directory / _WORDS, self.vocabulary)
        np.save(directory / _VECTORS, self.vectors)

    @classmethod
    def load(cls, directory: Path) -> WordVectors | None:
        """The vectors `save` wrote in `directory`, None when it wrote none; raises OSError or ValueError."""
        if not (directory / _VECTORS).exists():
            return None
        return cls(load_words(directory / _WORDS), np.load(directory / _VECTORS, mmap_mode="r"))


def content_words(text: str) -> list[str]:
    """The distinct lower-case words of a text that carry content (no stopwords, at least one letter), in order."""
    return [word for word in dict.fromkeys(words(text)) if word not in STOPWORDS and any(c.isalpha() for c in word)]


def word_weights(found: Sequence[str], doc_freq: Mapping[str, int], total: int) -> np.ndarray:
    """The idf of each word: that of its rarest index term (a word the corpus lacks weighs the most)."""
    unseen = idf(doc_freq, total, "")
    return np.array([max((idf(doc_freq, total, term) for term in terms(word)), default=unseen) for word in found])


def soft_coverage(
    question: np.ndarray, weights: np.ndarray, table: WordVectors, sentences: Sequence[np.ndarray]
) -> np.ndarray:
    """Per sentence (the table rows of its content words, `WordVectors.rows`), the idf-weighted mean over the
    question's words (`question`: their vectors, one row each) of the best cosine with a word of the sentence;
    1.0 when every word is there."""
    result = np.zeros(len(sentences))
    lengths = np.array([len(rows) for rows in sentences], dtype=np.int64)
    if not len(question) or not lengths.any():
        return result
    used, where = np.unique(np.concatenate(sentences), return_inverse=True)
    cosines = (question @ np.asarray(table.vectors[used]).T)[:, where]  # question words x the sentences' words
    filled = np.flatnonzero(lengths)
    starts = (np.cumsum(lengths) - lengths)[filled]
    best = np.maximum.reduceat(cosines, starts, axis=1)  # per question word, the best word of each sentence
    result[filled] = (weights / (weights.sum() or 1.0)) @ best
    return result
