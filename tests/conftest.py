"""Shared fixtures: the seed corpus, a built answerer over it, and a scratch corpus directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, load_settings
from retrieval.answerer import Answerer
from retrieval.pipeline import open_answerer

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shipped settings, with the index kept in a scratch directory."""
    index_dir = tmp_path_factory.mktemp("index")
    return load_settings(env={"VERBATIM_CORPUS_INDEX_DIR": str(index_dir)})


@pytest.fixture(scope="session")
def answerer(settings: Settings) -> Answerer:
    """The product's answerer over the seeds, with the shipped (tuned) settings."""
    return open_answerer(
        SEEDS,
        settings.index_dir,
        settings.index,
        settings.ranking,
        max_question_chars=settings.max_question_chars,
    )


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """An empty directory to write articles into."""
    directory = tmp_path / "corpus"
    directory.mkdir()
    return directory
