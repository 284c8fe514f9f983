"""The sentence index: articles, their sentences, and BM25 engines over sentences, paragraphs and articles."""

from __future__ import annotations

import logging
import pickle
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nltk.tokenize.punkt import PunktParameters

from retrieval.cleaning import capitalised_words, unglue
from retrieval.engine import Engine, EngineError, engine_class
from retrieval.models import Article, Sentence, SentenceKind
from retrieval.parameters import IndexParameters
from retrieval.sentences import split_sentences, train_punkt
from retrieval.tokenization import terms

log = logging.getLogger(__name__)

_KINDS = list(SentenceKind)
_COLUMNS = ("article", "start", "end", "paragraph", "position", "kind")
_TERM_FILES = ("term_ids", "term_offsets")
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
    """Built once, queried many times: sentence records in arrays, and three engines."""

    def __init__(
        self,
        articles: Sequence[Article],
        columns: dict[str, np.ndarray],
        lexicon: set[str] | None,
        doc_freq: dict[str, int],
        engines: dict[str, Engine],
        stats: IndexStats,
        sentence_terms: SentenceTerms,
        embeddings: np.ndarray | None = None,
    ) -> None:
        self.articles = articles
        self.columns = columns
        self.lexicon = lexicon  # capitalised words of the corpus, to repair glued words; None: no repair
        self.doc_freq = doc_freq  # term -> number of body sentences holding it
        self.sentence_terms = sentence_terms
        self.embeddings = embeddings  # unit vectors of the body sentences, or None
        self.sentences = engines["sentence"]
        self.paragraphs = engines["paragraph"]
        self.article_engine = engines["article"]
        self.stats = stats
        kinds = columns["kind"]
        self.body = np.flatnonzero(kinds == _KINDS.index(SentenceKind.BODY))  # engine doc id -> sentence id
        paragraph_of_body = columns["paragraph"][self.body]
        # Body sentences of paragraph p are body ids first[p] .. first[p + 1] - 1.
        self.paragraph_first = np.searchsorted(paragraph_of_body, np.arange(stats.paragraphs + 1))

    def __len__(self) -> int:
        return len(self.columns["start"])

    def sentence(self, sentence_id: int) -> Sentence:
        """The sentence record with its text, cut from its article."""
        c = self.columns
        article = self.articles[int(c["article"][sentence_id])]
        start, end = int(c["start"][sentence_id]), int(c["end"][sentence_id])
        return Sentence(
            article=int(c["article"][sentence_id]),
            start=start,
            end=end,
            text=article.text[start:end],
            paragraph=int(c["paragraph"][sentence_id]),
            position=int(c["position"][sentence_id]),
            kind=_KINDS[int(c["kind"][sentence_id])],
        )

    def index_text(self, sentence: Sentence) -> str:
        """The sentence as the index reads it (glued words repaired)."""
        return index_view(sentence.text, self.lexicon)

    def save(self, directory: Path) -> None:
        """Write every part into `directory`."""
        with (directory / "articles.pickle").open("wb") as handle:
            state = (
                list(self.articles),
                self.lexicon,
                self.doc_freq,
                self.stats,
                self.sentence_terms.vocabulary,
            )
            pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
        for name in _COLUMNS:
            np.save(directory / f"{name}.npy", self.columns[name])
        np.save(directory / "term_ids.npy", self.sentence_terms.ids)
        np.save(directory / "term_offsets.npy", self.sentence_terms.offsets)
        if self.embeddings is not None:
            np.save(directory / "embeddings.npy", self.embeddings)
        for part in ("sentence", "paragraph", "article"):
            (directory / part).mkdir()
        self.sentences.save(directory / "sentence")
        self.paragraphs.save(directory / "paragraph")
        self.article_engine.save(directory / "article")

    @classmethod
    def load(cls, directory: Path, engine: str) -> SentenceIndex:
        """Read an index written by `save`; raises EngineError when a part is damaged."""
        try:
            with (directory / "articles.pickle").open("rb") as handle:
                articles, lexicon, doc_freq, stats, vocabulary = pickle.load(handle)
            columns = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in _COLUMNS}
            ids, offsets = (np.load(directory / f"{name}.npy", mmap_mode="r") for name in _TERM_FILES)
            embedded = directory / "embeddings.npy"
            embeddings = np.load(embedded, mmap_mode="r") if embedded.exists() else None
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
            raise EngineError(f"cannot read the index in {directory}: {error}") from error
        make = engine_class(engine)
        engines = {part: make.load(directory / part) for part in ("sentence", "paragraph", "article")}
        terms_of = SentenceTerms(vocabulary, ids, offsets)
        return cls(articles, columns, lexicon, doc_freq, engines, stats, terms_of, embeddings)


class SentenceTerms:
    """The index terms of every body sentence, stored as ids so a restart never re-tokenizes."""

    def __init__(self, vocabulary: list[str], ids: np.ndarray, offsets: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self.ids = ids
        self.offsets = offsets  # sentence d holds ids[offsets[d]:offsets[d + 1]]

    @classmethod
    def of(cls, documents: Sequence[Sequence[str]]) -> SentenceTerms:
        """Encode tokenized sentences."""
        number: dict[str, int] = {}
        ids = [number.setdefault(term, len(number)) for doc in documents for term in doc]
        offsets = np.cumsum([0, *(len(doc) for doc in documents)], dtype=np.int64)
        return cls(list(number), np.array(ids, dtype=np.int32), offsets)

    def __getitem__(self, doc: int) -> list[str]:
        vocabulary = self.vocabulary
        return [vocabulary[i] for i in self.ids[self.offsets[doc] : self.offsets[doc + 1]].tolist()]


def index_view(text: str, lexicon: set[str] | None) -> str:
    """Text as the index reads it: glued words repaired, unless cleaning is off (no lexicon)."""
    return text if lexicon is None else unglue(text, lexicon)


def choose_engine(params: IndexParameters, sentences: int) -> str:
    """The engine to use: the one forced by the settings, or by corpus size under "auto"."""
    if params.engine != "auto":
        return params.engine
    return "bm25s" if sentences >= params.auto_threshold else "rank-bm25"


Embedder = Callable[[Sequence[str]], np.ndarray]  # texts -> unit vectors, one row each


def build_index(
    articles: Sequence[Article],
    params: IndexParameters,
    max_sentence_chars: int,
    progress: Progress | None = None,
    embed: Embedder | None = None,
) -> SentenceIndex:
    """Split every article into sentences, tokenize them and index sentences, paragraphs and articles;
    with `embed`, also embed the body sentences (when the corpus is within the semantic size limit)."""
    began = time.perf_counter()
    punkt: PunktParameters = train_punkt(article.text for article in articles)
    lexicon: set[str] | None = None
    if params.clean:
        lexicon = set()
        for article in articles:
            lexicon |= capitalised_words(article.text)
    rows: list[tuple[int, int, int, int, int, int]] = []
    sentence_docs: list[list[str]] = []
    paragraph_docs: list[list[str]] = []
    article_docs: list[list[str]] = []
    for number, article in enumerate(articles):
        sentences = split_sentences(article, number, punkt, max_sentence_chars, len(paragraph_docs), params.clean)
        for sentence in sentences:
            rows.append(
                (
                    number,
                    sentence.start,
                    sentence.end,
                    sentence.paragraph,
                    sentence.position,
                    _KINDS.index(sentence.kind),
                )
            )
            if sentence.kind is SentenceKind.BODY:
                tokens = terms(index_view(sentence.text, lexicon))
                sentence_docs.append(tokens)
                if sentence.paragraph == len(paragraph_docs):
                    paragraph_docs.append([])
                paragraph_docs[sentence.paragraph].extend(tokens)
        article_docs.append(terms(index_view(f"{article.title or ''}\n{article.text}", lexicon)))
        if progress is not None:
            progress(number + 1, len(articles))
    table = np.array(rows, dtype=np.int64).reshape(-1, len(_COLUMNS))
    columns = {name: np.ascontiguousarray(table[:, i]) for i, name in enumerate(_COLUMNS)}
    engine = choose_engine(params, len(sentence_docs))
    make = engine_class(engine)
    engines = {
        "sentence": make.build(sentence_docs, params.k1, params.b),
        "paragraph": make.build(paragraph_docs, params.k1, params.b),
        "article": make.build(article_docs, params.k1, params.b),
    }
    doc_freq: Counter[str] = Counter()
    for doc in sentence_docs:
        doc_freq.update(set(doc))
    stats = IndexStats(
        articles=len(articles),
        sentences=len(sentence_docs),
        paragraphs=len(paragraph_docs),
        vocabulary=len(doc_freq),
        engine=engine,
        build_seconds=round(time.perf_counter() - began, 3),
    )
    embeddings = None
    if embed is not None and 0 < len(sentence_docs) <= params.semantic_max_sentences:
        body = np.flatnonzero(columns["kind"] == _KINDS.index(SentenceKind.BODY))
        texts = [articles[int(columns["article"][i])].text[columns["start"][i] : columns["end"][i]] for i in body]
        embeddings = np.asarray(embed(texts), dtype=np.float32)
    elif embed is not None:
        log.info("%d sentences exceed semantic_max_sentences: ranking without embeddings", len(sentence_docs))
    log.info("indexed %d articles, %d sentences with %s", stats.articles, stats.sentences, engine)
    return SentenceIndex(
        articles, columns, lexicon, dict(doc_freq), engines, stats, SentenceTerms.of(sentence_docs), embeddings
    )
