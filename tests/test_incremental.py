"""Updating the index in place: only new or changed articles are read, and the result equals a full rebuild."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.settings import load_settings
from retrieval import sentences
from retrieval.answerer import Answerer
from retrieval.corpus import load_corpus
from retrieval.index import COLUMNS, SentenceIndex
from retrieval.indexing import Previous, build_index
from retrieval.ingestion import Reader, digest
from retrieval.models import Article
from retrieval.parameters import IndexParameters
from retrieval.pipeline import load_or_build
from retrieval.store import current_generation
from retrieval.tokenization import terms
from tests.conftest import ROOT, SEEDS

PARAMS = IndexParameters(engine="rank-bm25", k1=0.9, b=0.6, semantic=False)
RANKING = load_settings(env={}).ranking  # the shipped weights: paragraph and article scores count too
QUESTIONS = [
    json.loads(line)["question"] for line in (ROOT / "tests" / "questions" / "seeds.jsonl").read_text().splitlines()
]
NEW = "005_new.txt"


@pytest.fixture(autouse=True)
def short_punkt_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Punkt learns from the first article only, as it learns from the first 2 MB of an archive."""
    monkeypatch.setattr(sentences, "TRAINING_CHARS", 2_600)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SEEDS, tmp_path / "seeds"))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the articles read (split and tokenized), in order."""
    found: list[str] = []
    real = Reader.read

    def counting(self: Reader, articles: Sequence[Article]) -> object:
        found.extend(article.id for article in articles)
        return real(self, articles)

    monkeypatch.setattr(Reader, "read", counting)
    return found


def _updated_and_rebuilt(corpus: Path, tmp_path: Path, params: IndexParameters = PARAMS) -> SentenceIndex:
    """The index updated in place, after checking it equals one built from nothing over the same corpus."""
    updated = load_or_build(corpus, tmp_path / "idx", params)
    rebuilt = load_or_build(corpus, tmp_path / "fresh", params, rebuild=True)
    _assert_same(updated, rebuilt)
    return updated


def _assert_same(updated: SentenceIndex, rebuilt: SentenceIndex) -> None:
    assert updated.stats.__dict__ | {"build_seconds": 0} == rebuilt.stats.__dict__ | {"build_seconds": 0}
    assert list(updated.articles) == list(rebuilt.articles)
    for name in COLUMNS:
        assert np.array_equal(updated.columns[name], rebuilt.columns[name]), name
    assert np.array_equal(updated.paragraph_first, rebuilt.paragraph_first)
    assert [updated.sentence_terms[d] for d in range(len(updated.body))] == [
        rebuilt.sentence_terms[d] for d in range(len(rebuilt.body))
    ]
    assert dict(updated.doc_freq) == dict(rebuilt.doc_freq)
    for query in map(terms, QUESTIONS[:40]):
        for mine, theirs in (
            (updated.sentences, rebuilt.sentences),
            (updated.paragraphs, rebuilt.paragraphs),
            (updated.article_engine, rebuilt.article_engine),
        ):
            assert mine.search(query, 20) == theirs.search(query, 20)
    mine, theirs = Answerer(updated, RANKING), Answerer(rebuilt, RANKING)
    assert [mine.answer(q, 5) for q in QUESTIONS] == [theirs.answer(q, 5) for q in QUESTIONS]


def test_adding_an_article_reads_only_that_article(corpus: Path, tmp_path: Path, reads: list[str]) -> None:
    load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert len(reads) == 5
    reads.clear()
    (corpus / NEW).write_text("Iran sent more drones to Russia on Friday, officials in Kyiv said.\n")
    updated = load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert reads == [NEW]
    assert updated.stats.articles == 6
    assert any(updated.sentence(i).text.startswith("Iran sent more drones") for i in range(len(updated)))
    _updated_and_rebuilt(corpus, tmp_path)


def test_changing_an_article_reads_only_that_article(corpus: Path, tmp_path: Path, reads: list[str]) -> None:
    load_or_build(corpus, tmp_path / "idx", PARAMS)
    reads.clear()
    changed = sorted(corpus.glob("003_*.txt"))[0]
    changed.write_text(changed.read_text() + "\n\nA correction: the ministry spoke on Tuesday, not Monday.\n")
    updated = load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert reads == [changed.name]
    assert any("A correction" in updated.sentence(i).text for i in range(len(updated)))
    _updated_and_rebuilt(corpus, tmp_path)


def test_removing_an_article_removes_its_sentences(corpus: Path, tmp_path: Path, reads: list[str]) -> None:
    before = load_or_build(corpus, tmp_path / "idx", PARAMS)
    gone = sorted(corpus.glob("002_*.txt"))[0]
    number = next(n for n, article in enumerate(before.articles) if article.id == gone.name)
    texts = {before.sentence(i).text for i in np.flatnonzero(np.asarray(before.columns["article"]) == number)}
    reads.clear()
    gone.unlink()
    updated = load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert reads == []
    assert updated.stats.articles == 4 and gone.name not in {a.id for a in updated.articles}
    assert not texts & {updated.sentence(i).text for i in range(len(updated))}
    _updated_and_rebuilt(corpus, tmp_path)


def test_metadata_only_changes_read_nothing(corpus: Path, tmp_path: Path, reads: list[str]) -> None:
    load_or_build(corpus, tmp_path / "idx", PARAMS)
    reads.clear()
    manifest = corpus / "manifest.jsonl"
    manifest.write_text(manifest.read_text().replace("2022-10-", "2021-10-"))
    updated = load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert reads == []
    assert [a.date for a in updated.articles] == [a.date for a in load_corpus(corpus).articles]
    assert any(a.date and a.date.year == 2021 for a in updated.articles)


def test_a_word_entering_the_lexicon_rereads_the_articles_it_repairs(
    corpus: Path, tmp_path: Path, reads: list[str]
) -> None:
    # "Olafssonat" is repaired only once "Olafsson" is a word of the corpus.
    (corpus / "005_glued.txt").write_text("The talks with Anna Olafssonat NATO headquarters went on late.\n")
    before = load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert "olafssonat" in before.doc_freq
    reads.clear()
    (corpus / "006_name.txt").write_text("Anna Olafsson is the new envoy of Iceland.\n")
    updated = load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert reads == ["005_glued.txt", "006_name.txt"]
    assert "olafssonat" not in updated.doc_freq and updated.doc_freq["olafsson"] == 2
    _updated_and_rebuilt(corpus, tmp_path)


def test_punkt_keeps_what_it_learned_when_its_training_text_changes(
    corpus: Path, tmp_path: Path, reads: list[str]
) -> None:
    """Documented: an update never re-learns Punkt (that would mean re-splitting every article); a full
    rebuild does. Sentences of unchanged articles are therefore split as before, new ones with the same model."""
    load_or_build(corpus, tmp_path / "idx", PARAMS)
    (store,) = (tmp_path / "idx").iterdir()
    generation = current_generation(store)
    assert generation is not None
    learned = SentenceIndex.load_state(generation[0])
    reads.clear()
    first = sorted(corpus.glob("000_*.txt"))[0]
    first.write_text("Corrected on Friday.\n\n" + first.read_text())
    load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert reads == [first.name]
    generation = current_generation(store)
    assert generation is not None
    kept = SentenceIndex.load_state(generation[0])
    assert kept.training_digest == learned.training_digest
    assert kept.punkt.__dict__ == learned.punkt.__dict__


def test_another_archive_in_the_same_place_is_built_as_a_fresh_one(
    corpus: Path, tmp_path: Path, reads: list[str]
) -> None:
    """An update keeps Punkt and the token projection learned from the articles it had: fine for a growing
    archive, wrong for another one. With most articles new, the index is built in full and learns them anew."""
    load_or_build(corpus, tmp_path / "idx", PARAMS)
    for path in corpus.glob("00*.txt"):
        path.unlink()
    (corpus / "manifest.jsonl").unlink()
    (corpus / "a.txt").write_text("Dr. Smith met Gen. Jones at 10 a.m. in Washington. They spoke of U.S. aid.\n")
    (corpus / "b.txt").write_text("The harbour reopened on Monday. Fishermen said the storm had passed.\n")
    reads.clear()
    updated = load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert sorted(reads) == ["a.txt", "b.txt"]
    fresh = tmp_path / "fresh"
    rebuilt = load_or_build(corpus, fresh, PARAMS)
    _assert_same(updated, rebuilt)
    (store,) = (tmp_path / "idx").iterdir()
    (fresh_store,) = fresh.iterdir()
    states = [current_generation(s) for s in (store, fresh_store)]
    assert states[0] is not None and states[1] is not None
    learned = [SentenceIndex.load_state(state[0]) for state in states]
    assert learned[0].training_digest == learned[1].training_digest
    assert learned[0].punkt.__dict__ == learned[1].punkt.__dict__


def test_interrupted_update_leaves_the_previous_index(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_or_build(corpus, tmp_path / "idx", PARAMS)
    (corpus / NEW).write_text("An article that never makes it into the index.\n")

    def interrupted(self: Reader, articles: Sequence[Article]) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(Reader, "read", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_or_build(corpus, tmp_path / "idx", PARAMS)
    monkeypatch.undo()
    (corpus / NEW).unlink()
    again = load_or_build(corpus, tmp_path / "idx", PARAMS)
    assert again.stats == first.stats


def test_settings_that_change_splitting_rebuild_in_full(corpus: Path, tmp_path: Path, reads: list[str]) -> None:
    load_or_build(corpus, tmp_path / "idx", PARAMS)
    reads.clear()
    load_or_build(corpus, tmp_path / "idx", IndexParameters(engine="bm25s", k1=1.5, semantic=False))
    assert reads == []  # engine settings: the engines are rebuilt from the stored term ids
    load_or_build(corpus, tmp_path / "idx", IndexParameters(engine="bm25s", max_sentence_chars=200, semantic=False))
    assert len(reads) == 5


class FakeEncoder:
    """Vectors from a text's length and letters; a piece per word of more than three letters."""

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        vectors = np.array([[len(t), sum(map(ord, t)) % 97, t.count(" ")] for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def embed_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        pieces = [[w for w in t.split() if len(w) > 3] for t in texts]
        states = [np.array([[len(w), sum(map(ord, w)) % 89, w.count("e")] for w in p], np.float32) for p in pieces]
        return self.embed(texts), [s.reshape(-1, 3) for s in states]


def test_update_embeds_only_new_sentences_words_and_paragraphs() -> None:
    articles = list(load_corpus(SEEDS).articles)
    encoder = FakeEncoder()
    params = IndexParameters(engine="rank-bm25", semantic=True, token_dimensions=2)
    first = build_index(articles[:4], params, 400, embedder=lambda: encoder)
    assert first.state is not None and first.embeddings is not None and first.token_vectors is not None
    before = len(encoder.embedded)
    assert first.word_vectors is not None and first.paragraph_embeddings is not None
    known = dict(zip(first.paragraph_texts(), first.paragraph_embeddings, strict=True))
    previous = Previous(
        first.state, lambda n: articles[n].text, first.embeddings, first.word_vectors, known, first.token_vectors
    )
    updated = build_index(articles, params, 400, embedder=lambda: encoder, previous=previous)
    assert updated.word_vectors is not None
    new_words = set(updated.word_vectors.vocabulary) - set(first.word_vectors.vocabulary)
    assert new_words  # the fifth article brings words of its own
    new_paragraphs = set(updated.paragraph_texts()) - set(known)
    assert new_paragraphs  # and paragraphs
    assert sorted(encoder.embedded[before:]) == sorted(
        [
            *new_words,
            *(updated.sentence(int(i)).text for i in updated.body[first.stats.sentences :].tolist()),
            *new_paragraphs,
        ]
    )
    full = build_index(articles, params, 400, embedder=lambda: encoder)
    assert updated.embeddings is not None and full.embeddings is not None and full.word_vectors is not None
    assert np.array_equal(updated.embeddings, full.embeddings)
    assert updated.word_vectors.vocabulary == full.word_vectors.vocabulary
    assert np.array_equal(updated.word_vectors.vectors, full.word_vectors.vectors)
    assert updated.paragraph_embeddings is not None and full.paragraph_embeddings is not None
    assert np.array_equal(updated.paragraph_embeddings, full.paragraph_embeddings)
    assert len(full.paragraph_embeddings) == full.stats.paragraphs
    # Token vectors: the update keeps the first build's projection and rows, and adds the new sentences' own.
    tokens = updated.token_vectors
    assert tokens is not None and len(tokens) == full.stats.sentences
    assert tokens.projection is first.token_vectors.projection
    kept = first.stats.sentences
    assert np.array_equal(tokens.vectors[: tokens.offsets[kept]], first.token_vectors.vectors)
    assert len(tokens.vectors) > tokens.offsets[kept]
    assert full.token_vectors is not None and np.array_equal(tokens.offsets, full.token_vectors.offsets)


def test_no_token_dimensions_keep_no_token_vectors_and_a_change_reads_every_sentence_again() -> None:
    articles = list(load_corpus(SEEDS).articles)
    encoder = FakeEncoder()
    none = IndexParameters(engine="rank-bm25", semantic=True, token_dimensions=0)
    first = build_index(articles, none, 400, embedder=lambda: encoder)
    assert first.embeddings is not None and first.token_vectors is None and first.state is not None
    known = dict(zip(first.paragraph_texts(), first.paragraph_embeddings, strict=True))
    previous = Previous(first.state, lambda n: articles[n].text, first.embeddings, first.word_vectors, known, None)
    before = len(encoder.embedded)
    some = IndexParameters(engine="rank-bm25", semantic=True, token_dimensions=2)
    updated = build_index(articles, some, 400, embedder=lambda: encoder, previous=previous)
    assert updated.token_vectors is not None and len(updated.token_vectors) == updated.stats.sentences
    assert len(encoder.embedded) - before == updated.stats.sentences  # each sentence, for its token states
    assert updated.embeddings is not None and np.array_equal(updated.embeddings, first.embeddings)


def test_an_article_whose_digest_ends_in_a_zero_byte_is_still_recognised(tmp_path: Path) -> None:
    # numpy's "S16" strings drop trailing zero bytes; one digest in 256 ends in one.
    candidates = (Article(f"a{n}.txt", f"a{n}.txt", f"Article {n} says the talks went on.") for n in range(10_000))
    zeroed = next(article for article in candidates if digest(article)[-1] == 0)
    articles = [zeroed, *load_corpus(SEEDS).articles]
    first = build_index(articles, PARAMS, 400)
    first.save(tmp_path)
    state = SentenceIndex.load_state(tmp_path)
    read: list[str] = []
    real = Reader.read

    def counting(self: Reader, batch: Sequence[Article]) -> object:
        read.extend(article.id for article in batch)
        return real(self, batch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Reader, "read", counting)
        build_index(articles, PARAMS, 400, previous=Previous(state, lambda n: articles[n].text, None))
    assert read == []
