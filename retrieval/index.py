"""The sentence index: articles, their sentences, and BM25 engines over sentences, paragraphs and articles."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from retrieval.article_table import ArticleTable, write_articles
from retrieval.cleaning import unglue
from retrieval.engine import Engine, EngineError, engine_class
from retrieval.models import Article, Sentence
from retrieval.parameters import IndexParameters
from retrieval.records import BODY, KINDS, UpdateState
from retrieval.stored_array import StoredArray
from retrieval.term_arrays import TermArrays, TermCounts, load_words, save_words
from retrieval.token_vectors import TokenVectors
from retrieval.word_vectors import WordVectors

log = logging.getLogger(__name__)

COLUMNS = ("article", "start", "end", "paragraph", "position", "kind")
_STATS = "index.json"
_VOCABULARY = "vocabulary.txt"
_PARAGRAPH_EMBEDDINGS = "paragraph_embeddings.npy"
ENGINES = ("sentence", "paragraph", "article")
Progress = Callable[[int, int], None]  # (articles done, articles in all)


@dataclass(frozen=True)
class IndexStats:
    """What an index holds."""

    articles: int
    sentences: int  # answerable (body) sentences
    paragraphs: int
    vocabulary: int
    engine: str
    build_seconds: float


class SentenceIndex:
    """Built once, queried many times: sentence records in arrays, and three engines.

    Loaded from disk, every array is memory-mapped and articles are read when asked for (ArticleTable)."""

    def __init__(
        self,
        articles: Sequence[Article],
        columns: dict[str, np.ndarray],
        doc_freq: Mapping[str, int],
        engines: dict[str, Engine],
        stats: IndexStats,
        sentence_terms: TermArrays,
        embeddings: np.ndarray | None = None,
        state: UpdateState | None = None,
        paragraph_first: np.ndarray | None = None,
        word_vectors: WordVectors | None = None,
        paragraph_embeddings: np.ndarray | None = None,
        token_vectors: TokenVectors | None = None,
    ) -> None:
        self.articles = articles
        self.columns = columns  # per sentence: COLUMNS
        self.doc_freq = doc_freq  # term -> number of body sentences holding it
        self.sentence_terms = sentence_terms  # the index terms of every body sentence
        self.embeddings = embeddings  # unit vectors of the body sentences, or None
        self.word_vectors = word_vectors  # unit vectors of their content words (with the embeddings), or None
        self.paragraph_embeddings = paragraph_embeddings  # unit vectors of the paragraphs (with embeddings), or None
        self.token_vectors = token_vectors  # the body sentences' contextual piece vectors (with embeddings), or None
        self.sentences = engines["sentence"]
        self.paragraphs = engines["paragraph"]
        self.article_engine = engines["article"]
        self.stats = stats
        self.state = state  # what an update needs; only an index just built has it
        self.body = body_rows(columns["kind"])  # engine doc id -> sentence id
        if paragraph_first is None:
            paragraph_first = np.searchsorted(columns["paragraph"][self.body], np.arange(stats.paragraphs + 1))
        # Body sentences of paragraph p are body ids first[p] .. first[p + 1] - 1.
        self.paragraph_first = paragraph_first

    def __len__(self) -> int:
        return len(self.columns["start"])

    def sentence(self, sentence_id: int) -> Sentence:
        """The sentence record with its text, cut from its article."""
        c = self.columns
        number = int(c["article"][sentence_id])
        start, end = int(c["start"][sentence_id]), int(c["end"][sentence_id])
        return Sentence(
            article=number,
            start=start,
            end=end,
            text=self.article_text(number)[start:end],
            paragraph=int(c["paragraph"][sentence_id]),
            position=int(c["position"][sentence_id]),
            kind=KINDS[int(c["kind"][sentence_id])],
        )

    def article_text(self, number: int) -> str:
        """The text of article `number` (without reading its metadata)."""
        articles = self.articles
        return articles.text(number) if isinstance(articles, ArticleTable) else articles[number].text

    def paragraph_texts(self) -> list[str]:
        """Each paragraph as its body sentences joined by spaces, in paragraph order (what its embedding reads)."""
        texts = [self.sentence(int(i)).text for i in np.asarray(self.body).tolist()]
        bounds = np.asarray(self.paragraph_first).tolist()
        return [" ".join(texts[lo:hi]) for lo, hi in pairwise(bounds)]

    def article_number(self, article_id: str) -> int | None:
        """The number of the article with this id (the last, should ids repeat), None when there is none."""
        if isinstance(self.articles, ArticleTable):
            return self.articles.number(article_id)
        found = [number for number, article in enumerate(self.articles) if article.id == article_id]
        return found[-1] if found else None

    def date_range(self) -> tuple[dt.date | None, dt.date | None]:
        """The first and last article dates, (None, None) when no article is dated."""
        if isinstance(self.articles, ArticleTable):
            return self.articles.date_range()
        dates = [article.date for article in self.articles if article.date is not None]
        return min(dates, default=None), max(dates, default=None)

    def save(self, directory: Path) -> None:
        """Write every part into `directory`."""
        (directory / _STATS).write_text(json.dumps(dataclasses.asdict(self.stats)), encoding="utf-8")
        write_articles(directory, self.articles)
        for name in COLUMNS:
            np.save(directory / f"{name}.npy", self.columns[name])
        np.save(directory / "paragraph_first.npy", self.paragraph_first)
        terms = self.sentence_terms
        save_words(directory / _VOCABULARY, terms.vocabulary)
        np.save(directory / "term_ids.npy", terms.ids[:])
        np.save(directory / "term_offsets.npy", terms.offsets)
        counts = np.zeros(len(terms.vocabulary), dtype=np.int32)
        number = {term: i for i, term in enumerate(terms.vocabulary)}
        for term, count in self.doc_freq.items():
            counts[number[term]] = count
        np.save(directory / "doc_freq.npy", counts)
        if self.embeddings is not None:
            np.save(directory / "embeddings.npy", self.embeddings)
        if self.word_vectors is not None:
            self.word_vectors.save(directory)
        if self.paragraph_embeddings is not None:
            np.save(directory / _PARAGRAPH_EMBEDDINGS, self.paragraph_embeddings)
        if self.token_vectors is not None:
            self.token_vectors.save(directory)
        for part, engine in zip(ENGINES, (self.sentences, self.paragraphs, self.article_engine), strict=True):
            (directory / part).mkdir()
            engine.save(directory / part)
        if self.state is not None:
            self.state.save(directory)

    @classmethod
    def load(cls, directory: Path, engine: str) -> SentenceIndex:
        """Read an index written by `save`; raises EngineError when a part is damaged."""
        try:
            stats = IndexStats(**json.loads((directory / _STATS).read_text(encoding="utf-8")))
            columns = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in COLUMNS}
            paragraph_first = np.load(directory / "paragraph_first.npy", mmap_mode="r")
            vocabulary = load_words(directory / _VOCABULARY)
            ids = StoredArray(directory / "term_ids.npy")
            offsets, doc_freq = (np.load(directory / f"{name}.npy") for name in ("term_offsets", "doc_freq"))
            if len(doc_freq) != len(vocabulary) or len(offsets) != stats.sentences + 1:
                raise ValueError("the term arrays do not match the vocabulary or the sentences")
            embedded = directory / "embeddings.npy"
            embeddings = np.load(embedded, mmap_mode="r") if embedded.exists() else None
            word_vectors = WordVectors.load(directory)
            paragraphs = directory / _PARAGRAPH_EMBEDDINGS
            paragraph_embeddings = np.load(paragraphs, mmap_mode="r") if paragraphs.exists() else None
            if paragraph_embeddings is not None and len(paragraph_embeddings) != len(paragraph_first) - 1:
                raise ValueError("the paragraph embeddings do not match the paragraphs")
            token_vectors = TokenVectors.load(directory)
            if token_vectors is not None and len(token_vectors) != stats.sentences:
                raise ValueError("the token vectors do not match the sentences")
            articles = ArticleTable(directory)
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as error:
            raise EngineError(f"cannot read the index in {directory}: {error}") from error
        make = engine_class(engine)
        # Every question scans the sentence and paragraph postings of its terms; the article engine only scores
        # the candidates' articles, so its postings are read on demand.
        engines = {part: make.load(directory / part, scanned=part != "article") for part in ENGINES}
        terms = TermArrays(vocabulary, ids, offsets)
        counts = TermCounts(vocabulary, doc_freq)
        return cls(
            articles,
            columns,
            counts,
            engines,
            stats,
            terms,
            embeddings,
            paragraph_first=paragraph_first,
            word_vectors=word_vectors,
            paragraph_embeddings=paragraph_embeddings,
            token_vectors=token_vectors,
        )

    @staticmethod
    def load_state(directory: Path) -> UpdateState:
        """What an update needs from the index in `directory`; raises EngineError when it cannot be read."""
        try:
            columns = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in COLUMNS}
            vocabulary = load_words(directory / _VOCABULARY)
            ids, offsets = (np.load(directory / f"{name}.npy", mmap_mode="r") for name in ("term_ids", "term_offsets"))
            return UpdateState.load(directory, vocabulary, columns, TermArrays(vocabulary, ids, offsets))
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, EOFError, AttributeError) as error:
            raise EngineError(f"cannot read the update records in {directory}: {error}") from error
        except pickle.UnpicklingError as error:
            raise EngineError(f"cannot read the update records in {directory}: {error}") from error


def index_view(text: str, lexicon: set[str] | frozenset[str] | None) -> str:
    """Text as the index reads it: glued words repaired, unless cleaning is off (no lexicon)."""
    return text if lexicon is None else unglue(text, lexicon)


def choose_engine(params: IndexParameters, sentences: int) -> str:
    """The engine to use: the one forced by the settings, or by corpus size under "auto"."""
    if params.engine != "auto":
        return params.engine
    return "bm25s" if sentences >= params.auto_threshold else "rank-bm25"


def body_rows(kind: np.ndarray) -> np.ndarray:
    """The sentence ids of the body sentences (the answerable ones), in order."""
    return np.flatnonzero(np.asarray(kind) == BODY).astype(np.int32)
