"""Reading articles for the index: article terms from sentence terms, glue dependencies, and parallel = serial."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.cleaning import Lexicon, capitalised_words, glue_dependencies, unglue
from retrieval.corpus import load_corpus
from retrieval.index import COLUMNS, index_view
from retrieval.indexing import build_index
from retrieval.ingestion import Reader, article_terms, batches
from retrieval.models import Article
from retrieval.parameters import IndexParameters
from retrieval.sentences import sentence_spans, sentence_tokenizer, split_sentences, train_punkt
from retrieval.tokenization import terms
from tests.conftest import SEEDS, SHARED

SEED_ARTICLES = load_corpus(SEEDS).articles
PUNKT = train_punkt(article.text for article in SEED_ARTICLES)
LEXICON = frozenset(set().union(*(capitalised_words(a.text) for a in SEED_ARTICLES)) | {"Olafsson"})

TRICKY = [
    Article("drop-cap", "drop-cap", "DThe minister spoke on Friday.\n\nShe said more. Then she left.", title="Drop"),
    Article("mid-word", "mid-word", "A" * 30 + "b" * 500 + " ends here. Next sentence."),
    Article("glued", "glued", "Anna Olafssonat NATO said: yes.\n\nKristerssonsaid no.", title="Olafssonat talks"),
    Article("gap", "gap", "First line.\n\n—\n\n* * *\n\nLast line with US and it."),
    Article("empty-title", "empty-title", "One sentence only", title=""),
    Article("unicode", "unicode", "İstanbul’s ﬁne “drones” — 1,000 km. Что сказал Кремль? Ｕ.Ｓ. officials."),
]


def _whole(article: Article, lexicon: frozenset[str] | None) -> list[str]:
    """What the article engine indexed before: the title and text tokenized as one."""
    return terms(index_view(f"{article.title or ''}\n{article.text}", lexicon))


@pytest.mark.parametrize("clean", [True, False])
@pytest.mark.parametrize("article", [*SEED_ARTICLES, *TRICKY], ids=lambda a: a.id)
def test_article_terms_equal_the_whole_text_tokenized(article: Article, clean: bool) -> None:
    lexicon = LEXICON if clean else None
    spans = sentence_spans(article.text, sentence_tokenizer(PUNKT), 400, clean)
    view = Lexicon(LEXICON).unglue if clean else str
    found = [terms(view(article.text[start:end])) for start, end, _, _ in spans]
    assert article_terms(article, spans, found, view) == _whole(article, lexicon)


@pytest.mark.shared
def test_article_terms_on_real_news() -> None:
    path = SHARED / "corpora" / "bbc.jsonl.gz"
    if not path.exists():
        pytest.skip(f"needs the shared corpora: {path} is absent")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in itertools.islice(handle, 300)]
    articles = [Article(r["id"], r["id"], r["text"], title=r.get("title")) for r in records]
    lexicon = frozenset(set().union(*(capitalised_words(a.text) for a in articles)))
    punkt = sentence_tokenizer(train_punkt(a.text for a in articles))
    for article in articles:
        spans = sentence_spans(article.text, punkt, 400)
        found = [terms(unglue(article.text[start:end], lexicon)) for start, end, _, _ in spans]
        assert article_terms(article, spans, found, Lexicon(lexicon).unglue) == _whole(article, lexicon)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Anna Olafssonat NATO", {"Olafsson"}),  # repaired only if "Olafsson" is a word of the corpus
        ("Jens Stoltenbergsaid", set()),  # a long tail splits whatever the lexicon holds
        ("Washington and Boston", {"Washingt", "Bost"}),
        ("no capitalised words here", set()),
    ],
)
def test_glue_dependencies(text: str, expected: set[str]) -> None:
    assert glue_dependencies(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Abc met Xy in Kyiv, Ukraine.", {"Abc", "Kyiv", "Ukraine"}),
        ("aBcd xAbc _Abcd 9Abcd ÀAbcd", set()),  # inside a word: not a capitalised word
        ("(Reuters) -Putin, «Biden» O'Neill USA Usaid", {"Reuters", "Putin", "Biden", "Neill", "Usaid"}),
    ],
)
def test_capitalised_words(text: str, expected: set[str]) -> None:
    assert capitalised_words(text) == expected


def test_lexicon_repairs_like_unglue() -> None:
    lexicon = Lexicon(LEXICON)
    for text in ["Jens Stoltenbergsaid this", "Anna Olafssonat NATO", "Washington and Boston", "Kyivthen"]:
        assert lexicon.unglue(text) == unglue(text, LEXICON)
        assert lexicon.unglue(text) == lexicon.unglue(text)  # remembered repairs give the same answer


def test_batches_cover_every_article_in_order() -> None:
    articles = [*SEED_ARTICLES, *TRICKY]
    parts = list(batches(articles, chars=3000))
    assert len(parts) > 2 and [a for part in parts for a in part] == articles


def test_reader_numbers_sentences_like_the_splitter() -> None:
    reader = Reader(PUNKT, LEXICON, 400, True)
    records = reader.read(SEED_ARTICLES)
    for number, article in enumerate(SEED_ARTICLES):
        rows = range(records.sentence_offsets[number], records.sentence_offsets[number + 1])
        expected = split_sentences(article, 0, PUNKT, 400, 0)
        assert [(int(records.start[r]), int(records.end[r])) for r in rows] == [(s.start, s.end) for s in expected]
        assert [int(records.paragraph[r]) for r in rows] == [s.paragraph for s in expected]


def test_workers_build_the_same_index_as_one_process() -> None:
    articles = [*SEED_ARTICLES, *TRICKY] * 3
    articles = [Article(f"{n}-{a.id}", a.source, a.text, a.date, a.title) for n, a in enumerate(articles)]
    params = IndexParameters(engine="bm25s", semantic=False)
    alone = build_index(articles, params, 400, workers=1)
    shared = build_index(articles, params, 400, workers=2)
    assert alone.stats.__dict__ | {"build_seconds": 0} == shared.stats.__dict__ | {"build_seconds": 0}
    for name in COLUMNS:
        assert np.array_equal(alone.columns[name], shared.columns[name])
    assert [alone.sentence_terms[d] for d in range(len(alone.body))] == [
        shared.sentence_terms[d] for d in range(len(shared.body))
    ]
    for query in (["drone", "iran"], ["minist"], ["1000", "km"]):
        assert alone.article_engine.search(query, 10) == shared.article_engine.search(query, 10)
        assert alone.paragraphs.search(query, 10) == shared.paragraphs.search(query, 10)


def test_saved_index_reads_back_the_same(tmp_path: Path) -> None:
    from retrieval.index import SentenceIndex

    built = build_index([*SEED_ARTICLES, *TRICKY], IndexParameters(engine="bm25s", semantic=False), 400)
    built.save(tmp_path)
    loaded = SentenceIndex.load(tmp_path, "bm25s")
    assert list(loaded.articles) == list(built.articles)
    assert [loaded.sentence(i) for i in range(len(loaded))] == [built.sentence(i) for i in range(len(built))]
    assert dict(loaded.doc_freq) == dict(built.doc_freq)
    assert loaded.date_range() == built.date_range()
    assert loaded.article_number("gap") == built.article_number("gap") == len(SEED_ARTICLES) + 3
    for query in (["drone", "iran"], ["minist", "friday"]):
        ids = list(range(len(built.articles)))
        assert loaded.article_engine.score(query, ids) == built.article_engine.score(query, ids)
        assert loaded.sentences.search(query, 10) == built.sentences.search(query, 10)
