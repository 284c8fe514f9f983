"""Building the index: a full build reads every article on all cores; an update reads only new or changed ones.

An update keeps the records of unchanged articles (their sentences and term ids) and the Punkt parameters of the
last full build, so sentences are never split or tokenized twice. The engines are always rebuilt from the stored
term ids (seconds at a million sentences), so their statistics always cover the current corpus."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from multiprocessing.pool import Pool
from typing import Protocol

import numpy as np
from nltk.tokenize.punkt import PunktParameters

from retrieval.cleaning import capitalised_words
from retrieval.engine import engine_class
from retrieval.index import IndexStats, Progress, SentenceIndex, body_rows, choose_engine
from retrieval.ingestion import Reader, batches, capitalised_counts, digest, mapped, worker_pool, workers_for
from retrieval.models import Article
from retrieval.parameters import IndexParameters
from retrieval.records import Records, UpdateState
from retrieval.sentences import train_punkt, training_digest
from retrieval.term_arrays import TermCounts
from retrieval.token_vectors import TokenProjection, TokenVectors, quantise
from retrieval.word_vectors import WordVectors

log = logging.getLogger(__name__)

Embedder = Callable[[Sequence[str]], np.ndarray]  # texts -> unit vectors, one row each
_TOKEN_CHUNK = 4096  # sentences encoded at once: their token states (dozens of 384 floats each) are projected
# before the next; the projection is fitted on the first.


class Encoder(Protocol):
    """What the index embeds with (retrieval/semantic.py `SemanticScorer`)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of the texts, one row each."""
        ...

    def embed_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The same, and each text's content-piece states (one row each)."""
        ...


@dataclass(frozen=True)
class Previous:
    """The index an update starts from: what it learned, its articles' texts, and its embeddings if reusable."""

    state: UpdateState
    text: Callable[[int], str]  # article number -> its text
    embeddings: np.ndarray | None  # None: made by another model, or absent
    word_vectors: WordVectors | None = None  # the same for the vectors of words
    paragraph_vectors: Mapping[str, np.ndarray] | None = None  # the same for paragraphs, by their text
    token_vectors: TokenVectors | None = None  # the same for the sentences' token vectors


# An update keeps what the previous index learned only while at least this share of the articles is unchanged.
UPDATE_SHARE = 0.5


def build_index(
    articles: Sequence[Article],
    params: IndexParameters,
    max_sentence_chars: int,
    progress: Progress | None = None,
    embedder: Callable[[], Encoder | None] | None = None,
    previous: Previous | None = None,
    workers: int | None = None,
) -> SentenceIndex:
    """Split every article into sentences, tokenize them and index sentences, paragraphs and articles — or, given
    the `previous` index, only the articles it does not hold. With an `embedder` (called only when needed: it
    may load a model), also embed the body sentences (and keep their token vectors), their words and paragraphs
    when the corpus is within the semantic size limit.
    `workers`: processes reading articles (default: every core for a large corpus)."""
    began = time.perf_counter()
    kept = np.full(len(articles), -1, dtype=np.int64)  # article -> its number in the previous records, or -1
    if previous is not None:
        kept = _unchanged(articles, previous.state.records)
        if np.count_nonzero(kept >= 0) < len(articles) * UPDATE_SHARE:
            # Another archive more than a grown one: what the previous index learned (Punkt, the token
            # projection) would be the other archive's. Build it as a fresh one.
            log.info("most of the articles are new: building the index in full")
            kept[:] = -1
            previous = None
    if previous is not None:
        punkt, lexicon = _carry_over(articles, kept, previous)
    unread = [articles[i] for i in np.flatnonzero(kept < 0).tolist()]
    with worker_pool(workers or workers_for(unread)) as pool:
        if previous is None:
            punkt, lexicon = _learn(articles, pool)
        reader = Reader(punkt, frozenset(lexicon) if params.clean else None, max_sentence_chars, params.clean)
        read = Records.concat(_counted(mapped(pool, reader.read, batches(unread)), len(unread), progress))
    source = None  # body sentence -> its row in the previous index, or -1
    if previous is None:
        records, learned_from = read, training_digest(article.text for article in articles)
    else:
        old = previous.state.records
        order = kept.copy()
        order[kept < 0] = len(old) + np.arange(len(unread))
        records, source = Records.concat([old, read]).take(order)
        source = np.where(source < len(old.body_terms), source, -1)
        learned_from = previous.state.training_digest
        log.info("updated the index: %d articles kept, %d read", len(articles) - len(unread), len(unread))
    index = _assemble(articles, records, params, UpdateState(records, punkt, learned_from, lexicon))
    within = 0 < index.stats.sentences <= params.semantic_max_sentences
    encoder = embedder() if embedder is not None and within else None
    if encoder is not None:
        index.embeddings, index.token_vectors = _embeddings(index, encoder, params.token_dimensions, previous, source)
        old_words = previous.word_vectors if previous is not None else None
        texts = (index.sentence(int(i)).text for i in index.body.tolist())
        index.word_vectors = WordVectors.build(texts, encoder.embed, old_words)
        old_paragraphs = previous.paragraph_vectors if previous is not None else None
        index.paragraph_embeddings = _paragraph_embeddings(index.paragraph_texts(), encoder.embed, old_paragraphs or {})
    elif embedder is not None and index.stats.sentences > params.semantic_max_sentences:
        log.info("%d sentences exceed semantic_max_sentences: ranking without embeddings", index.stats.sentences)
    index.stats = replace(index.stats, build_seconds=round(time.perf_counter() - began, 3))
    stats = index.stats
    log.info("indexed %d articles, %d sentences with %s", stats.articles, stats.sentences, stats.engine)
    return index


def _learn(articles: Sequence[Article], pool: Pool | None) -> tuple[PunktParameters, dict[str, int]]:
    """Punkt's parameters (in this process) and the lexicon (in the workers, meanwhile), from the whole corpus."""
    if pool is not None:
        counting = pool.map_async(capitalised_counts, list(batches(articles)))
        punkt = train_punkt(article.text for article in articles)
        lexicon: Counter[str] = Counter()
        for counts in counting.get():  # sum() would copy the growing total once per batch
            lexicon.update(counts)
    else:
        punkt = train_punkt(article.text for article in articles)
        lexicon = capitalised_counts(articles)
    return punkt, dict(lexicon)


def _unchanged(articles: Sequence[Article], old: Records) -> np.ndarray:
    """For every article, the number of an identical article in the old records (each used once), or -1."""
    numbers: dict[bytes, list[int]] = {}
    for number in reversed(range(len(old))):
        numbers.setdefault(old.digests[number].tobytes(), []).append(number)
    kept = np.full(len(articles), -1, dtype=np.int64)
    for position, article in enumerate(articles):
        same = numbers.get(digest(article))
        if same:
            kept[position] = same.pop()
    return kept


def _carry_over(
    articles: Sequence[Article], kept: np.ndarray, previous: Previous
) -> tuple[PunktParameters, dict[str, int]]:
    """The previous Punkt parameters, and the lexicon updated for the articles that left and came; articles
    whose glued-word repair reads a word that entered or left the lexicon are marked for reading again."""
    state = previous.state
    if training_digest(article.text for article in articles) != state.training_digest:
        log.info("the text Punkt learned from has changed; keeping its parameters (a full rebuild re-learns them)")
    lexicon = Counter(state.lexicon)
    gone = np.setdiff1d(np.arange(len(state.records)), kept[kept >= 0])
    for number in gone.tolist():
        lexicon.subtract(capitalised_words(previous.text(number)))
    for position in np.flatnonzero(kept < 0).tolist():
        lexicon.update(capitalised_words(articles[position].text))
    current = {word: count for word, count in lexicon.items() if count > 0}
    changed = set(state.lexicon).symmetric_difference(current)
    affected = np.isin(kept, state.records.depending_on(changed))
    if affected.any():
        log.info("%d unchanged articles depend on words that entered or left the lexicon", affected.sum())
    kept[affected] = -1
    return state.punkt, current


def _counted(found: Iterable[Records], total: int, progress: Progress | None) -> Iterator[Records]:
    """The batches as they come, reporting the articles read so far."""
    done = 0
    for batch in found:
        done += len(batch)
        if progress is not None:
            progress(done, total)
        yield batch


def _assemble(
    articles: Sequence[Article], records: Records, params: IndexParameters, state: UpdateState
) -> SentenceIndex:
    """The index over the records: sentence columns numbered across the corpus, and the three engines."""
    article_of = records.article_of_rows()
    first_paragraph = np.concatenate([[0], np.cumsum(records.paragraph_counts, dtype=np.int64)])
    columns = {
        "article": article_of,
        "start": records.start,
        "end": records.end,
        "paragraph": (records.paragraph + first_paragraph[article_of]).astype(np.int32),
        "position": records.position,
        "kind": records.kind,
    }
    paragraphs = int(first_paragraph[-1])
    paragraph_first = np.searchsorted(columns["paragraph"][body_rows(records.kind)], np.arange(paragraphs + 1))
    sentence_terms = records.body_terms
    term_of_pairs, _, _ = sentence_terms.pairs()
    doc_freq = TermCounts(records.vocabulary, np.bincount(term_of_pairs, minlength=len(records.vocabulary)))
    engine = choose_engine(params, len(sentence_terms))
    make = engine_class(engine)
    engines = {
        "sentence": make.from_terms(sentence_terms, params.k1, params.b),
        "paragraph": make.from_terms(sentence_terms.grouped(paragraph_first), params.k1, params.b),
        "article": make.from_terms(records.article_terms, params.k1, params.b),
    }
    stats = IndexStats(
        articles=len(articles),
        sentences=len(sentence_terms),
        paragraphs=paragraphs,
        vocabulary=len(doc_freq),
        engine=engine,
        build_seconds=0.0,
    )
    return SentenceIndex(
        articles, columns, doc_freq, engines, stats, sentence_terms, state=state, paragraph_first=paragraph_first
    )


def _embeddings(
    index: SentenceIndex, encoder: Encoder, dimensions: int, previous: Previous | None, source: np.ndarray | None
) -> tuple[np.ndarray, TokenVectors | None]:
    """Unit vectors of the body sentences and their token vectors (with `dimensions`): the previous index's rows
    where it holds the sentence, new ones else."""
    old_vectors = previous.embeddings if previous is not None else None
    old_tokens = previous.token_vectors if previous is not None else None
    if dimensions and (old_tokens is None or old_tokens.projection.components.shape[1] != dimensions):
        old_vectors = old_tokens = None  # every sentence is read again, for its token states
    if old_vectors is None or source is None:
        source = np.full(len(index.body), -1, dtype=np.int64)
    reused = source >= 0
    missing = np.flatnonzero(~reused)
    texts = [index.sentence(int(index.body[i])).text for i in missing.tolist()]
    projection = old_tokens.projection if old_tokens is not None else None
    made, rows, projection = _encode(texts, encoder, dimensions, projection)
    width = made.shape[1] if len(made) else np.asarray(old_vectors).shape[1]
    vectors = np.empty((len(source), width), dtype=np.float32)
    if reused.any():
        vectors[reused] = np.asarray(old_vectors)[source[reused]]
    if len(missing):
        vectors[missing] = made
    if projection is None:
        return vectors, None
    placed: list[np.ndarray | None] = [None] * len(source)
    for i, found in zip(missing.tolist(), rows, strict=True):
        placed[i] = found
    return vectors, TokenVectors.build(placed, projection, old_tokens, source)


def _encode(
    texts: Sequence[str], encoder: Encoder, dimensions: int, projection: TokenProjection | None
) -> tuple[np.ndarray, list[np.ndarray], TokenProjection | None]:
    """The texts' unit vectors and, with `dimensions`, their quantised token vectors by `projection` (fitted on
    the first chunk of texts when None), a chunk of texts at a time."""
    if not dimensions:
        return np.asarray(encoder.embed(texts), dtype=np.float32).reshape(len(texts), -1), [], None
    vectors: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    for start in range(0, len(texts), _TOKEN_CHUNK):
        made, states = encoder.embed_with_tokens(texts[start : start + _TOKEN_CHUNK])
        if projection is None:
            projection = TokenProjection.fit(states, dimensions, made.shape[1])
        vectors.append(np.asarray(made, dtype=np.float32))
        rows.extend(quantise(projection.project(found)) for found in states)
    if projection is None:  # no texts, and nothing to fit on
        return np.zeros((0, 0), dtype=np.float32), [], None
    return np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float32), rows, projection


def _paragraph_embeddings(texts: Sequence[str], embed: Embedder, known: Mapping[str, np.ndarray]) -> np.ndarray:
    """Unit vectors of the paragraphs: the `known` ones (by text) reused, the others embedded."""
    missing = [text for text in dict.fromkeys(texts) if text not in known]
    made = dict(zip(missing, np.asarray(embed(missing), dtype=np.float32), strict=True)) if missing else {}
    return np.array([made[text] if text in made else known[text] for text in texts], dtype=np.float32)
