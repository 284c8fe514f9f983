"""The index's files read on demand: the article table, arrays read by slices, terms stored as ids."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from retrieval.article_table import TEXTS, ArticleTable, write_articles
from retrieval.models import Article
from retrieval.stored_array import StoredArray
from retrieval.term_arrays import TermArrays, TermCounts, load_words, save_words

ARTICLES = [
    Article("b.txt", "b.txt", "Second “article”, with İstanbul and ﬁne print.", dt.date(2022, 10, 20), "Title B"),
    Article("a.jsonl#1", "a.jsonl#1", "An article without a date or title."),
    Article("c.md", "c.md", "Lone surrogate \ud800 from a JSON escape.", dt.date(1987, 3, 4), None, "https://x"),
    Article("b.txt", "b.txt", "A repeated id (JSON lines can repeat ids).", dt.date(2001, 1, 1)),
]


@pytest.fixture
def table(tmp_path: Path) -> ArticleTable:
    write_articles(tmp_path, ARTICLES)
    return ArticleTable(tmp_path)


def test_articles_read_back_equal(table: ArticleTable) -> None:
    assert len(table) == 4
    assert list(table) == ARTICLES
    assert table[-1] == ARTICLES[-1] and table[1:3] == ARTICLES[1:3]
    assert [table.text(n) for n in range(4)] == [a.text for a in ARTICLES]
    with pytest.raises(IndexError):
        table[4]


def test_ids_and_dates(table: ArticleTable) -> None:
    assert table.number("a.jsonl#1") == 1 and table.number("c.md") == 2
    assert table.number("b.txt") == 3  # the last of a repeated id, as a dict built in order would keep
    assert table.number("missing") is None and table.number("") is None
    assert table.date_range() == (dt.date(1987, 3, 4), dt.date(2022, 10, 20))


def test_undated_table_and_empty_table(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    write_articles(tmp_path / "x", ARTICLES[1:2])
    assert ArticleTable(tmp_path / "x").date_range() == (None, None)
    write_articles(tmp_path / "y", [])
    assert len(ArticleTable(tmp_path / "y")) == 0


def test_a_shortened_text_file_is_noticed(tmp_path: Path) -> None:
    write_articles(tmp_path, ARTICLES)
    (tmp_path / TEXTS).write_bytes((tmp_path / TEXTS).read_bytes()[:-3])
    with pytest.raises(ValueError, match="offsets"):
        ArticleTable(tmp_path)


def test_stored_array_reads_like_the_array(tmp_path: Path) -> None:
    values = np.arange(1000, dtype=np.int32) * 3
    np.save(tmp_path / "a.npy", values)
    stored = StoredArray(tmp_path / "a.npy")
    assert len(stored) == 1000 and stored.dtype == np.int32
    assert np.array_equal(stored[10:20], values[10:20]) and stored[-1] == values[-1] and len(stored[5:5]) == 0
    for positions in ([3, 999, 0, 3], [999, 1], []):
        assert np.array_equal(stored.take(np.array(positions, dtype=np.int64)), values[positions])
    with pytest.raises(IndexError):
        stored[1000]
    with pytest.raises(IndexError):
        stored[::2]


def test_stored_array_refuses_a_truncated_file(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(100, dtype=np.float64))
    (tmp_path / "a.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-8])
    with pytest.raises(ValueError):
        StoredArray(tmp_path / "a.npy")


def test_term_arrays_and_counts() -> None:
    docs = [["iran", "drone", "iran"], [], ["drone", "eu"]]
    arrays = TermArrays.of(docs)
    assert arrays.vocabulary == ["iran", "drone", "eu"] and len(arrays) == 3
    assert [arrays[d] for d in range(3)] == docs and arrays.lists() == docs
    assert [t.tolist() for t in arrays.pairs()] == [[0, 1, 1, 2], [0, 0, 2, 2], [2, 1, 1, 1]]
    assert arrays.grouped(np.array([0, 2, 3])).lists() == [["iran", "drone", "iran"], ["drone", "eu"]]
    counts = TermCounts(["iran", "drone", "eu", "unused"], np.array([1, 2, 1, 0]))
    assert dict(counts) == {"iran": 1, "drone": 2, "eu": 1} and len(counts) == 3
    assert counts.get("unused", 0) == 0 and "unused" not in counts and counts["drone"] == 2


@pytest.mark.parametrize("words", [[], [""], ["iran", "", "u.s."], ["ünïcode", "日本"]])
def test_words_round_trip(words: list[str], tmp_path: Path) -> None:
    save_words(tmp_path / "w.txt", words)
    assert load_words(tmp_path / "w.txt") == words
