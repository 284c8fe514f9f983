"""Loading articles: formats, manifest, dates, and every kind of broken input."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from retrieval.corpus import CorpusError, load_corpus
from tests.conftest import SEEDS

SEED_DATES = {
    "000_6bac14c41388e1cc.txt": dt.date(2022, 10, 20),
    "001_3ca96d3a9519652c.txt": dt.date(2022, 10, 20),
    "002_64b5288f09a1e388.txt": dt.date(2022, 10, 20),
    "003_c4ef398a6fa72310.txt": dt.date(2024, 9, 9),
    "004_49986d061f0228b4.txt": dt.date(2022, 12, 9),
}


def test_seeds_load_with_manifest_dates_and_titles() -> None:
    corpus = load_corpus(SEEDS)
    assert {a.source: a.date for a in corpus.articles} == SEED_DATES
    titles = {a.source: a.title for a in corpus.articles}
    assert titles["001_3ca96d3a9519652c.txt"] == "'Every indication' Iran is giving Russia drones: NATO chief"
    assert titles["000_6bac14c41388e1cc.txt"] is None
    assert corpus.problems == ()


def test_seed_texts_are_the_files_byte_for_byte() -> None:
    for article in load_corpus(SEEDS).articles:
        assert (SEEDS / article.source).read_bytes() == article.text.encode("utf-8")


def test_markdown_front_matter(corpus_dir: Path) -> None:
    (corpus_dir / "a.md").write_text(
        "---\ntitle: Markets & <TICKER>\ndate: 2023-05-01\nurl: https://example.com/a\n---\nS&P 500 rose.\n"
    )
    (article,) = load_corpus(corpus_dir).articles
    assert (article.title, article.date, article.url) == (
        "Markets & <TICKER>",
        dt.date(2023, 5, 1),
        "https://example.com/a",
    )
    assert article.text == "S&P 500 rose.\n"


def test_front_matter_is_yaml_and_keys_beyond_ours_are_left_alone(corpus_dir: Path) -> None:
    (corpus_dir / "a.md").write_text(
        '---\ntitle: "Drones: what we know"\nlast-modified: 2023-06-01\ntags:\n  - drones\n  - iran\n'
        "date: 2023-05-01\n---\nIran denied it.\n"
    )
    (corpus_dir / "b.md").write_text("---\ntitle: B\ndate: 2023-13-45\n---\nBody of b.\n")
    (corpus_dir / "c.md").write_text("---\ntitle:\n  - not\n  - text\n---\nBody of c.\n")
    # Not YAML (an unquoted ": " in the title), but plainly one key and value a line: read as such.
    (corpus_dir / "d.md").write_text(
        "---\r\ntitle: Stocks & <Bonds>: S&P 500 slips\r\ndate: 2022-10-24\r\n---\r\nD.\r\n"
    )
    corpus = load_corpus(corpus_dir)
    found = {a.source: (a.title, a.date, a.text) for a in corpus.articles}
    assert found == {
        "a.md": ("Drones: what we know", dt.date(2023, 5, 1), "Iran denied it.\n"),
        "b.md": ("B", None, "Body of b.\n"),
        "c.md": (None, None, "Body of c.\n"),
        "d.md": ("Stocks & <Bonds>: S&P 500 slips", dt.date(2022, 10, 24), "D.\r\n"),
    }
    assert [str(p) for p in corpus.problems] == [
        "b.md:3: unreadable date '2023-13-45'; treated as undated",
        "c.md:2: front matter title is not text",
    ]


def test_jsonl_and_gzip(corpus_dir: Path) -> None:
    lines = [
        {"id": "x1", "title": "One", "date": "1987-02-26", "url": None, "text": "First article."},
        {"id": "x2", "title": None, "date": None, "text": "Second article."},
    ]
    with gzip.open(corpus_dir / "news.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(line) for line in lines))
    corpus = load_corpus(corpus_dir)
    assert [(a.source, a.date) for a in corpus.articles] == [
        ("news.jsonl.gz#x1", dt.date(1987, 2, 26)),
        ("news.jsonl.gz#x2", None),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("date 2022-10-20 NATO chief said things.", dt.date(2022, 10, 20)),
        ("BRUSSELS, October 20, 2022 - The chief said things.", dt.date(2022, 10, 20)),
        ("LONDON, 9 December 2022 - The ambassador spoke.", dt.date(2022, 12, 9)),
        ("The ambassador spoke about nothing dated.", None),
        ("Talks in Brussels\n\nMonday, September 9, 2024\n\nThe EU spoke.", dt.date(2024, 9, 9)),
        ("Published: 9 September 2024\nThe EU spoke.", dt.date(2024, 9, 9)),
        ("BRUSSELS, Oct. 20, 2022 (Reuters) - NATO said.", dt.date(2022, 10, 20)),
        # Dates inside sentences are events, not publication dates (an obituary, an anniversary).
        ("Arthur Hailey dies\n\nArthur Hailey, born on 5 April 1920, has died at the age of 84.", None),
        ("Twenty years after the attacks of September 11, 2001, New York opened a museum.", None),
        ("May 5, 2020 was the day the talks began.", None),
        ("By Jane Doe, October 20, 2022\nNATO said.", dt.date(2022, 10, 20)),
        ("By Jane Doe | October 20, 2022\nNATO said.", dt.date(2022, 10, 20)),
        ("October 20, 2022 10:00 AM\nNATO said.", dt.date(2022, 10, 20)),
        ("LONDON (Reuters) - October 20, 2022\nNATO said.", dt.date(2022, 10, 20)),
        ("2022-10-20T10:00:00Z\nNATO said.", dt.date(2022, 10, 20)),
        ("By the way, May 5, 2020 was the day the talks began.", None),
    ],
)
def test_date_from_dateline_when_no_manifest_entry(corpus_dir: Path, text: str, expected: dt.date | None) -> None:
    (corpus_dir / "a.txt").write_text(text)
    assert load_corpus(corpus_dir).articles[0].date == expected


def test_date_deep_in_the_text_is_not_a_dateline(corpus_dir: Path) -> None:
    (corpus_dir / "a.txt").write_text("Body text. " * 60 + "It happened on 2020-01-01.")
    assert load_corpus(corpus_dir).articles[0].date is None


def test_broken_files_are_reported_and_the_others_load(corpus_dir: Path) -> None:
    (corpus_dir / "good.txt").write_text("A good article about drones.")
    (corpus_dir / "empty.txt").write_text("")
    (corpus_dir / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (corpus_dir / "latin1.txt").write_bytes("Caf\xe9 au lait.".encode("latin-1"))
    (corpus_dir / "copy.txt").write_text("A good article about drones.")
    (corpus_dir / "bad.md").write_text("---\ntitle: ok\nthis line is wrong\n---\nbody.")
    (corpus_dir / "open.md").write_text("---\ntitle: never closed\nbody.")
    (corpus_dir / "unclosed.md").write_text("---\ntitle: never closed\n")
    (corpus_dir / "lines.jsonl").write_text('{"id": "1", "text": "Fine line."}\n{broken\n{"id": "3"}\n')
    corpus = load_corpus(corpus_dir)
    assert sorted(a.source for a in corpus.articles) == ["bad.md", "copy.txt", "lines.jsonl#1"]
    messages = {str(p) for p in corpus.problems}
    assert "empty.txt: empty article, skipped" in messages
    assert "binary.txt: binary file, skipped" in messages
    assert "latin1.txt: not UTF-8 (bad byte at offset 3), skipped" in messages
    assert "good.txt: duplicate of copy.txt, skipped" in messages
    assert "bad.md:4: malformed front matter (could not find expected ':'); title, date and url not read" in messages
    assert "open.md:1: front matter is never closed with '---', skipped" in messages
    assert "unclosed.md:1: front matter is never closed with '---', skipped" in messages
    assert any(m.startswith("lines.jsonl:2: malformed JSON line") for m in messages)
    assert any(m.startswith("lines.jsonl:3: line skipped") for m in messages)


def test_duplicates_within_and_across_formats_are_skipped_by_name(corpus_dir: Path) -> None:
    lines = [{"id": "x", "text": "Iran denied it."}, {"id": "x", "text": "Another text."}, {"id": "y", "text": "Y."}]
    (corpus_dir / "a.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    (corpus_dir / "b.txt").write_text("Iran denied\nit.\n")  # a JSON line's text, wrapped, in a file
    corpus = load_corpus(corpus_dir)
    assert [a.source for a in corpus.articles] == ["a.jsonl#x", "a.jsonl#y"]
    assert [str(p) for p in corpus.problems] == [
        "a.jsonl:2: duplicate id 'x' (first on line 1), skipped",
        "b.txt: duplicate of a.jsonl#x, skipped",
    ]


def test_a_line_without_an_id_is_named_by_its_number_and_kept(corpus_dir: Path) -> None:
    lines = [{"id": "2", "text": "Budget text one here."}, {"text": "A different article about the harbour."}]
    (corpus_dir / "f.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    corpus = load_corpus(corpus_dir)
    assert [a.text for a in corpus.articles] == ["Budget text one here.", "A different article about the harbour."]


def test_prose_between_rules_is_not_front_matter(corpus_dir: Path) -> None:
    text = "---\n\nThe summit: leaders agreed on a ceasefire.\n\n---\n\nThe talks lasted nine hours.\n"
    (corpus_dir / "rule.md").write_text(text)
    (corpus_dir / "indented.md").write_text("---\n  title: a\n date: b\n---\nBody.\n")
    corpus = load_corpus(corpus_dir)
    found = {a.source: a.text for a in corpus.articles}
    assert found == {"rule.md": text, "indented.md": "Body.\n"}
    assert [str(p).split(" (")[0] for p in corpus.problems] == ["indented.md:3: malformed front matter"]


def test_a_manifest_entry_for_a_missing_file_is_named(corpus_dir: Path) -> None:
    (corpus_dir / "a.txt").write_text("Text of a.")
    (corpus_dir / ".drafts").mkdir()
    (corpus_dir / ".drafts" / "h.txt").write_text("A draft.")
    entries = ['{"file": "a.txt", "date": "2020-05-06"}', '{"file": "gone.txt"}', '{"file": ".drafts/h.txt"}']
    (corpus_dir / "manifest.jsonl").write_text("\n".join(entries) + "\n")
    corpus = load_corpus(corpus_dir)
    assert [str(p) for p in corpus.problems] == [
        "manifest.jsonl:2: 'gone.txt': no such file, entry unused",
        "manifest.jsonl:3: '.drafts/h.txt': a hidden file, not read, entry unused",
    ]
    assert corpus.articles[0].date == dt.date(2020, 5, 6)


def test_malformed_manifest_entry_names_its_line(corpus_dir: Path) -> None:
    (corpus_dir / "a.txt").write_text("date 2021-01-02 Text of a.")
    (corpus_dir / "b.txt").write_text("Text of b.")
    (corpus_dir / "manifest.jsonl").write_text(
        '{"file": "a.txt", "date": "20 Oct"}\n{"file": "b.txt", "date": "2020-05-06", "title": "B"}\n'
    )
    corpus = load_corpus(corpus_dir)
    assert [str(p) for p in corpus.problems] == [
        "manifest.jsonl:1: malformed entry ignored: date must be YYYY-MM-DD or null, got '20 Oct'"
    ]
    dates = {a.source: (a.date, a.title) for a in corpus.articles}
    assert dates == {"a.txt": (dt.date(2021, 1, 2), None), "b.txt": (dt.date(2020, 5, 6), "B")}


@pytest.mark.parametrize("make", ["missing", "empty", "only-bad", "wrong-file"])
def test_unusable_corpus_is_one_clear_error(tmp_path: Path, make: str) -> None:
    path = tmp_path / "corpus"
    if make == "empty":
        path.mkdir()
    elif make == "only-bad":
        path.mkdir()
        (path / "x.txt").write_bytes(b"\xff\xfe")
    elif make == "wrong-file":
        path = tmp_path / "notes.pdf"
        path.write_bytes(b"%PDF")
    with pytest.raises(CorpusError) as raised:
        load_corpus(path)
    assert str(path) in str(raised.value)
