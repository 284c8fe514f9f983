"""The whole flow in one place: load articles, split, index (or load the index), then answer."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from retrieval.answerer import Answerer
from retrieval.corpus import MANIFEST, corpus_files, load_corpus
from retrieval.engine import EngineError
from retrieval.index import Progress, SentenceIndex
from retrieval.indexing import Encoder, Previous, build_index
from retrieval.models import Article
from retrieval.parameters import IndexParameters, RankingParameters
from retrieval.semantic import SemanticScorer, SemanticUnavailable, model_version
from retrieval.store import IndexDamaged, IndexStoreError, current_generation, write_generation

log = logging.getLogger(__name__)

# Bump when sentence splitting, tokenization or the on-disk layout change: old indexes are then rebuilt.
INDEX_FORMAT = 10  # 8: word vectors for soft matching; 9: paragraph embeddings; 10: token vectors
# Settings the per-article records depend on: when they change, an update cannot keep any article's records.
_SPLITTING = ("max_sentence_chars", "clean")


def open_answerer(
    corpus: Path,
    index_dir: Path,
    index: IndexParameters,
    ranking: RankingParameters,
    *,
    max_question_chars: int = 1000,
    articles: Sequence[Article] | None = None,
    progress: Progress | None = None,
) -> Answerer:
    """An answerer over `corpus` (or over in-memory `articles`), loading the index or (re)building it."""
    sentence_index = load_or_build(corpus, index_dir, index, articles=articles, progress=progress)
    # The model is loaded only when the index has embeddings to compare questions with.
    scorer = semantic_scorer(index) if sentence_index.embeddings is not None else None
    return Answerer(sentence_index, ranking, max_question_chars=max_question_chars, scorer=scorer)


def semantic_scorer(params: IndexParameters) -> SemanticScorer | None:
    """The sentence-embedding model when the settings ask for it and it is installed; otherwise None (lexical)."""
    return _shared_scorer(params.semantic_adapter) if params.semantic else None


@functools.cache
def _shared_scorer(adapter: str) -> SemanticScorer | None:
    """One model per process (and adapter): it is read-only, and loading it costs time and memory."""
    try:
        return SemanticScorer.load(adapter=Path(adapter) if adapter else None)
    except SemanticUnavailable as error:
        log.warning("semantic ranking is off: %s", error)
        return None


def load_or_build(
    corpus: Path,
    index_dir: Path,
    params: IndexParameters,
    *,
    articles: Sequence[Article] | None = None,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> SentenceIndex:
    """The persisted index when it matches the corpus and settings; otherwise update it (re-reading only new or
    changed articles) or, with `rebuild` or without a usable index, build it anew; then persist and load it."""
    # Whether embeddings can be made, and with which model, is part of what the index depends on.
    model = embedding_model(params) if params.semantic else None
    params = dataclasses.replace(params, semantic=model is not None)
    fingerprint = corpus_fingerprint(corpus, params, articles, model or "")
    root, index_dir = index_dir, index_dir / _corpus_key(corpus, articles)
    current = None if rebuild else _current(index_dir)
    if current is not None and current[1].get("fingerprint") == fingerprint:
        found = _load(*current)
        if found is not None:
            return found
        current = None  # damaged: nothing in it is trusted
    if articles is None:
        articles = load_corpus(corpus).articles
    previous = _previous(*current, params, model) if current is not None else None
    index = build_index(articles, params, params.max_sentence_chars, progress, _embedder(params), previous)
    meta = {
        "fingerprint": fingerprint,
        "format": INDEX_FORMAT,
        "engine": index.stats.engine,
        "model": model,
        "splitting": {name: getattr(params, name) for name in _SPLITTING},
    }
    try:
        final = write_generation(index_dir, f"index-{fingerprint[:16]}", meta, index.save)
    except OSError as error:
        raise IndexStoreError(f"cannot write the index in {root}: {error.strerror or error}") from error
    # Serve what a restart would: the files just written, memory-mapped, rather than the arrays of the build.
    return SentenceIndex.load(final, index.stats.engine)


def embedding_model(params: IndexParameters) -> str | None:
    """The model (and adapter) the index's embeddings come from; None when there is none to use (lexical)."""
    try:
        return model_version(Path(params.semantic_adapter) if params.semantic_adapter else None)
    except SemanticUnavailable as error:
        log.warning("semantic ranking is off: %s", error)
        return None


def _embedder(params: IndexParameters) -> Callable[[], Encoder | None] | None:
    """What makes the embedder, called only when the index gets embeddings (loading the model takes seconds)."""
    if not params.semantic:
        return None
    return functools.partial(semantic_scorer, params)


def corpus_fingerprint(
    corpus: Path, params: IndexParameters, articles: Sequence[Article] | None, model: str = ""
) -> str:
    """A digest of the corpus files (names, sizes, times) or articles, and of every setting the index uses."""
    digest = hashlib.sha256()
    # The adapter counts by its digest (in `model`), not by where it lies: clones share an index's fingerprint.
    settings = dataclasses.asdict(dataclasses.replace(params, semantic_adapter=""))
    digest.update(json.dumps([INDEX_FORMAT, settings, model], sort_keys=True).encode())
    if articles is not None:
        for article in articles:
            digest.update(repr((article.id, article.source, article.date, article.title, article.text)).encode())
        return digest.hexdigest()
    files = corpus_files(corpus)
    root = corpus if corpus.is_dir() else corpus.parent
    manifest = root / MANIFEST
    for file in [*files, manifest] if manifest.exists() else files:
        stat = file.stat()
        digest.update(f"{file.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _corpus_key(corpus: Path, articles: Sequence[Article] | None) -> str:
    """One index per corpus, so switching corpora does not throw the other's index away."""
    if articles is not None:  # a SQuAD file read as articles, say: named after it, so two such sets keep apart
        return f"in-memory-{_slug(corpus.name)}"
    resolved = corpus.resolve()
    return f"{_slug(resolved.name)}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"


def _slug(name: str) -> str:
    """A name as a directory name: letters and digits kept, the rest dashes, at most 40 characters."""
    return "".join(c if c.isalnum() else "-" for c in name)[:40]


def _current(index_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The generation in use when it has the current format; None (with one warning if damaged) otherwise."""
    try:
        current = current_generation(index_dir)
    except IndexDamaged as error:
        log.warning("the index in %s is damaged (%s): rebuilding it", index_dir, error)
        return None
    if current is None or current[1].get("format") != INDEX_FORMAT:
        return None
    return current


def _load(directory: Path, meta: dict[str, Any]) -> SentenceIndex | None:
    try:
        return SentenceIndex.load(directory, str(meta.get("engine")))
    except EngineError as error:
        log.warning("the index in %s is damaged (%s): rebuilding it", directory.parent, error)
        return None


def _previous(directory: Path, meta: dict[str, Any], params: IndexParameters, model: str | None) -> Previous | None:
    """What an update can keep from the index in `directory`; None when a full build is needed."""
    if meta.get("splitting") != {name: getattr(params, name) for name in _SPLITTING}:
        log.info("sentence splitting settings changed: rebuilding the index in full")
        return None
    log.info("the articles or settings changed since the index was built: updating it")
    try:
        index = SentenceIndex.load(directory, str(meta.get("engine")))
        state = SentenceIndex.load_state(directory)
    except EngineError as error:
        log.warning("cannot update the index in %s (%s): rebuilding it", directory.parent, error)
        return None
    same_model = model is not None and meta.get("model") == model
    if not same_model:
        return Previous(state, index.article_text, None)
    paragraphs = index.paragraph_embeddings
    known = dict(zip(index.paragraph_texts(), paragraphs, strict=True)) if paragraphs is not None else None
    return Previous(state, index.article_text, index.embeddings, index.word_vectors, known, index.token_vectors)
