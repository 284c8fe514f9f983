"""The whole flow in one place: load articles, split, index (or load the index), then answer."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from retrieval.answerer import Answerer
from retrieval.corpus import MANIFEST, corpus_files, load_corpus
from retrieval.engine import EngineError
from retrieval.index import Progress, SentenceIndex, build_index
from retrieval.models import Article
from retrieval.parameters import IndexParameters, RankingParameters
from retrieval.semantic import SemanticScorer, SemanticUnavailable, model_version
from retrieval.store import IndexDamaged, current_generation, write_generation

log = logging.getLogger(__name__)

# Bump when sentence splitting, tokenization or the on-disk layout change: old indexes are then rebuilt.
INDEX_FORMAT = 6


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
    return _shared_scorer() if params.semantic else None


@functools.cache
def _shared_scorer() -> SemanticScorer | None:
    """One model per process: it is read-only, and loading it costs time and memory."""
    try:
        return SemanticScorer.load()
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
    """The persisted index when it matches the corpus and settings; otherwise build and persist a new one."""
    # Whether embeddings can be made, and with which model, is part of what the index depends on.
    model = model_version() if params.semantic else None
    params = dataclasses.replace(params, semantic=model is not None)
    fingerprint = corpus_fingerprint(corpus, params, articles, model or "")
    index_dir = index_dir / _corpus_key(corpus, articles)
    if not rebuild:
        found = _load_current(index_dir, fingerprint)
        if found is not None:
            return found
    if articles is None:
        articles = load_corpus(corpus).articles
    scorer = semantic_scorer(params)
    embed = scorer.embed if scorer is not None else None
    index = build_index(articles, params, params.max_sentence_chars, progress, embed)
    meta = {"fingerprint": fingerprint, "format": INDEX_FORMAT, "engine": index.stats.engine}
    write_generation(index_dir, f"index-{fingerprint[:16]}", meta, index.save)
    return index


def corpus_fingerprint(
    corpus: Path, params: IndexParameters, articles: Sequence[Article] | None, model: str = ""
) -> str:
    """A digest of the corpus files (names, sizes, times) or articles, and of every setting the index uses."""
    digest = hashlib.sha256()
    digest.update(json.dumps([INDEX_FORMAT, dataclasses.asdict(params), model], sort_keys=True).encode())
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
    if articles is not None:
        return "in-memory"
    resolved = corpus.resolve()
    slug = "".join(c if c.isalnum() else "-" for c in resolved.name)[:40]
    return f"{slug}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"


def _load_current(index_dir: Path, fingerprint: str) -> SentenceIndex | None:
    try:
        current = current_generation(index_dir)
        if current is None:
            return None
        directory, meta = current
        if meta.get("fingerprint") != fingerprint or meta.get("format") != INDEX_FORMAT:
            log.info("the articles or settings changed since the index was built: rebuilding")
            return None
        return SentenceIndex.load(directory, str(meta.get("engine")))
    except (IndexDamaged, EngineError) as error:
        log.warning("the index in %s is damaged (%s): rebuilding it", index_dir, error)
        return None
