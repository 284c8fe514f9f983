"""The persisted index: reused, rebuilt on change, never left broken, damage detected and repaired."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval import index as index_module
from retrieval import indexing
from retrieval.parameters import IndexParameters, RankingParameters
from retrieval.pipeline import load_or_build, open_answerer
from retrieval.store import CURRENT
from tests.conftest import SEEDS

PARAMS = IndexParameters(engine="rank-bm25")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the seeds, free to change."""
    return Path(shutil.copytree(SEEDS, tmp_path / "seeds"))


def _builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = indexing.build_index

    def counting(*args: object, **kwargs: object) -> index_module.SentenceIndex:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("retrieval.pipeline.build_index", counting)
    return calls


def test_index_is_reused_then_rebuilt_when_articles_or_settings_change(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = _builds(monkeypatch)
    first = load_or_build(corpus, tmp_path / "idx", PARAMS)
    again = load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert len(builds) == 1
    assert again.stats == first.stats
    (corpus / "005_new.txt").write_text("The new article says Iran sent more drones on Friday.")
    changed = load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert len(builds) == 2 and changed.stats.articles == 6
    load_or_build(corpus, tmp_path / "idx", IndexParameters(engine="rank-bm25", k1=0.9))
    assert len(builds) == 3


def test_restart_does_not_read_the_corpus(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_or_build(corpus, tmp_path / "idx", PARAMS)

    def fail(path: Path) -> None:
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr("retrieval.pipeline.load_corpus", fail)
    assert load_or_build(corpus, tmp_path / "idx", PARAMS).stats.articles == 5


def test_interrupted_build_leaves_the_previous_index(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "idx"
    load_or_build(corpus, root, PARAMS)
    (corpus / "005_new.txt").write_text("Another article about drones.")

    def interrupted(self: object, directory: Path) -> None:
        (directory / "texts.bin").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(index_module.SentenceIndex, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_or_build(corpus, root, PARAMS)
    monkeypatch.undo()
    (generation_root,) = [p for p in root.iterdir()]
    assert [p.name for p in generation_root.iterdir() if p.name.startswith(".building")] == []
    os.remove(corpus / "005_new.txt")
    builds = _builds(monkeypatch)
    assert load_or_build(corpus, root, PARAMS).stats.articles == 5
    assert builds == []  # the old index was intact and is used as is


@pytest.mark.parametrize("damage", ["truncate", "garbage", "pointer", "meta", "paragraphs", "tokens"])
def test_damaged_index_is_reported_in_one_line_and_rebuilt(
    corpus: Path, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "idx"
    load_or_build(corpus, root, PARAMS)
    (store,) = list(root.iterdir())
    generation = store / (store / CURRENT).read_text().strip()
    target = generation / "sentence" / "rank_bm25.pickle"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:10])
    elif damage == "garbage":
        target.write_bytes(b"x" * target.stat().st_size)
    elif damage == "pointer":
        (store / CURRENT).write_text("nowhere\n")
    elif damage == "paragraphs":  # a paragraph embedding short
        vectors = np.load(generation / "paragraph_embeddings.npy")
        np.save(generation / "paragraph_embeddings.npy", vectors[:-1])
    elif damage == "tokens":  # the token vectors short of what their offsets say
        vectors = np.load(generation / "token_vectors.npy")
        np.save(generation / "token_vectors.npy", vectors[:-1])
    else:
        (generation / "meta.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        rebuilt = load_or_build(corpus, root, PARAMS)
    assert rebuilt.stats.articles == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "damaged" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()


def test_answers_survive_a_restart(corpus: Path, tmp_path: Path) -> None:
    ranking = RankingParameters(weights=RankingParameters().weights | {"semantic": 1.0})
    built = open_answerer(corpus, tmp_path / "idx", PARAMS, ranking)
    loaded = open_answerer(corpus, tmp_path / "idx", PARAMS, ranking)
    assert built.index.embeddings is not None and loaded.index.embeddings is not None
    assert (built.index.embeddings == loaded.index.embeddings).all()
    assert built.index.word_vectors is not None and loaded.index.word_vectors is not None
    assert built.index.word_vectors.vocabulary == loaded.index.word_vectors.vocabulary
    assert (built.index.word_vectors.vectors == loaded.index.word_vectors.vectors).all()
    assert built.index.paragraph_embeddings is not None and loaded.index.paragraph_embeddings is not None
    assert (built.index.paragraph_embeddings == loaded.index.paragraph_embeddings).all()
    assert built.index.token_vectors is not None and loaded.index.token_vectors is not None
    assert (built.index.token_vectors.vectors == loaded.index.token_vectors.vectors).all()
    for question in ["How many Iranian individuals?", "who sends UAVs to Moscow?"]:
        assert built.answer(question, 5) == loaded.answer(question, 5)


def test_fingerprint_follows_the_adapter_digest_not_its_place(tmp_path: Path) -> None:
    from retrieval.pipeline import corpus_fingerprint, embedding_model

    one, two, other = tmp_path / "a.safetensors", tmp_path / "b" / "a.safetensors", tmp_path / "c.safetensors"
    two.parent.mkdir()
    one.write_bytes(b"adapter bytes")
    two.write_bytes(b"adapter bytes")
    other.write_bytes(b"other bytes")

    def fingerprint(adapter: Path) -> str:
        params = IndexParameters(engine="rank-bm25", semantic_adapter=str(adapter))
        return corpus_fingerprint(SEEDS, params, None, f"model+{adapter.name}@{_digest(adapter)}")

    # A clone elsewhere keeps its index; another adapter's embeddings are another index.
    assert fingerprint(one) == fingerprint(two) != fingerprint(other)
    missing = IndexParameters(semantic_adapter=str(tmp_path / "missing.safetensors"))
    assert embedding_model(missing) is None  # semantic ranking off, with a warning, rather than a crash


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
