"""Tests for retrieval/squad.py: SQuAD as a corpus of paragraphs, and what a right quote is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.baseline import BaselineAnswerer
from retrieval.evaluation import evaluate
from retrieval.models import Confidence, Quote
from retrieval.squad import (
    SquadError,
    SquadQuestion,
    expectations,
    is_short,
    load_squad,
    question_kind,
    sample,
    squad_matcher,
)

DATA = Path(__file__).parent / "data" / "eval"
TUNE = Path(__file__).parent.parent.parent / "shared" / "squad" / "squad-dev-tune.json"


def quote(text: str, source: str) -> Quote:
    return Quote(text, source, None, None, 1.0, Confidence.HIGH, "", "", source, 0, len(text))


def test_one_article_per_paragraph() -> None:
    squad = load_squad(DATA / "reqa-format-fixture.json")
    assert [a.source for a in squad.articles] == [
        "squad:River_Town:0",
        "squad:River_Town:1",
        "squad:Blue_Lake:0",
    ]
    assert squad.articles[0].id == squad.articles[0].source and squad.articles[0].title == "River_Town"
    assert squad.articles[2].text.startswith("Blue Lake is 30 metres deep.")
    assert [q.id for q in squad.questions] == ["r1", "r2", "r3", "b1", "b2"]
    assert squad.questions[0].answers == ("Mary Hale",)  # duplicates of a gold answer fold into one
    assert squad.questions[2].source == "squad:River_Town:1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "cannot read SQuAD JSON"),
        ('{"version": "1.1"}', 'expected an object with a non-empty "data" list'),
        ('{"data": [{"paragraphs": []}]}', "data[0]: expected 'title' to be a str"),
        (
            '{"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}',
            "data[0].paragraphs[0]: expected 'context'",
        ),
        (
            '{"data": [{"title": "T", "paragraphs": [{"context": "C.", "qas": [{"id": "x", "question": "Q?",'
            ' "answers": []}]}]}]}',
            "data[0].paragraphs[0].qas[0]: question 'x' needs answers with a non-empty text",
        ),
        ('{"data": [{"title": "T", "paragraphs": [{"context": "C.", "qas": []}]}]}', "holds no questions"),
    ],
)
def test_invalid_squad_files_name_the_place(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SquadError) as raised:
        load_squad(path)
    assert str(raised.value).startswith(str(path)) and message in str(raised.value)


def test_missing_file() -> None:
    with pytest.raises(SquadError, match="SQuAD file not found"):
        load_squad(DATA / "absent.json")


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("One sentence with the answer.", True),
        ("First sentence. Second sentence.", True),
        ("First. Second. Third.", False),
        ("The U.S. Army and the U.K. Navy met in St. Louis. Then they left.", True),
        ("Mr. Smith and Dr. Jones arrived on Jan. 5 in Paris. Then they left.", True),
        ("They met in Paris. Then they left. Nobody knew.", False),
        ("x" * 400, True),
        ("x" * 401, False),
    ],
)
def test_is_short(text: str, short: bool) -> None:
    assert is_short(text) is short


def test_squad_matcher() -> None:
    question = SquadQuestion("r1", "Who founded River Town?", ("Mary Hale",), "squad:River_Town:0")
    right = squad_matcher(question)
    assert right(quote("River Town was founded in 1820 by Mary Hale.", "squad:River_Town:0"))
    assert right(quote("founded by Mary\nHale", "squad:River_Town:0"))  # whitespace folded
    assert not right(quote("River Town was founded in 1820 by Mary Hale.", "squad:River_Town:1"))
    assert not right(quote("River Town was founded in 1820.", "squad:River_Town:0"))
    assert not right(quote("Mary Hale. " + "Filler. " * 3, "squad:River_Town:0"))  # more than two sentences


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people live there?", "how_many"),
        ("How much did it cost?", "how_many"),
        ("In what year was it founded?", "when"),
        ("When did it open?", "when"),
        ("Whose idea was it?", "who"),
        ("Where is the lake?", "where"),
        ("Why did they leave?", "why"),
        ("How did they travel?", "how"),
        ("Which team won?", "what"),
        ("Name the founder.", "other"),
    ],
)
def test_question_kind(question: str, kind: str) -> None:
    assert question_kind(question) == kind


def test_sample_is_evenly_spaced_and_deterministic() -> None:
    items = list(range(10))
    assert sample(items, 5) == [0, 2, 4, 6, 8]
    assert sample(items, None) == items and sample(items, 50) == items
    assert sample(items, 3) == sample(items, 3) == [0, 3, 6]


def test_baseline_on_the_mini_set() -> None:
    squad = load_squad(DATA / "reqa-format-fixture.json")
    result = evaluate("baseline", BaselineAnswerer(squad.articles), expectations(squad.questions))
    assert [o.rank for o in result.outcomes] == [1, 1, 1, 1, 1]
    assert result.metrics.hit_at_1 == 1.0 and result.metrics.unanswerable == 0
    assert {o.kind for o in result.outcomes} == {"who", "when", "how_many", "how", "what"}


@pytest.mark.shared
def test_tuning_half_of_squad_dev() -> None:
    if not TUNE.exists():
        pytest.skip(f"{TUNE} is not available")
    squad = load_squad(TUNE)
    assert len(squad.questions) == 5397
    assert len({a.title for a in squad.articles}) == 24
    assert json.loads(TUNE.read_text(encoding="utf-8"))["version"] == "1.1"
