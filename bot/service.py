"""Builds the answering core from settings: the one place the interfaces get an Answerer from."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings
from retrieval.answerer import Answerer
from retrieval.index import Progress
from retrieval.pipeline import open_answerer


def make_answerer(settings: Settings, progress: Progress | None = None, corpus: Path | None = None) -> Answerer:
    """The answerer over the configured corpus, its index loaded or (re)built."""
    return open_answerer(
        corpus or settings.corpus,
        settings.index_dir,
        settings.index,
        settings.ranking,
        max_question_chars=settings.max_question_chars,
        progress=progress,
    )
