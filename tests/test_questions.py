"""Tests for retrieval/questions.py: the question-set format, loaded and validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.corpus import load_corpus
from retrieval.questions import Evidence, QuestionSetError, check_within_sentences, fold_space, load_questions

DATA = Path(__file__).parent / "data" / "eval"
ROOT = Path(__file__).parent.parent
GOOD = {
    "id": "x1",
    "question": "Who is the mayor?",
    "kind": "who",
    "answers": ["Anna Berg"],
    "evidence": [{"source": "alpha.txt", "text": "The mayor, Anna Berg"}],
    "unanswerable": False,
    "split": "tune",
}


def texts(corpus: Path) -> dict[str, str]:
    return {article.source: article.text for article in load_corpus(corpus).articles}


def write_set(tmp_path: Path, *records: object) -> Path:
    path = tmp_path / "set.jsonl"
    lines = [record if isinstance(record, str) else json.dumps(record) for record in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_fixture_loads_with_lines_and_fields() -> None:
    questions = load_questions(DATA / "questions.jsonl", texts(DATA / "corpus"))
    assert [q.id for q in questions] == ["q1", "q2", "q3", "q4"]
    assert [q.line for q in questions] == [1, 4, 5, 6]  # comments and blank lines are skipped
    assert questions[0].evidence == (Evidence("alpha.txt", "The mayor, Anna Berg"),)
    assert questions[1].kind == "how_many" and questions[2].split == "holdout"
    assert questions[3].unanswerable and questions[3].answers == () and questions[3].evidence == ()


def test_evidence_matches_across_a_line_break() -> None:
    # "will cost\n40 million euros" in the article; the evidence has a plain space.
    questions = load_questions(DATA / "questions.jsonl", texts(DATA / "corpus"))
    assert "will cost 40 million euros" in questions[1].evidence[0].text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "whom"}, "kind 'whom' is not one of who, what"),
        ({"split": "train"}, "split 'train' is not one of tune, holdout"),
        ({"unanswerable": "no"}, "unanswerable must be true or false"),
        ({"answers": "Anna Berg"}, "answers must be a list of non-empty strings"),
        ({"answers": [""]}, "answers must be a list of non-empty strings"),
        ({"answers": []}, "needs at least one short answer"),
        ({"evidence": []}, "needs at least one evidence"),
        (
            {"evidence": [{"source": "alpha.txt"}]},
            "evidence 1 must be an object with exactly source and text",
        ),
        ({"evidence": [{"source": "", "text": "x"}]}, "evidence 1 needs a non-empty source and text"),
        ({"unanswerable": True}, "an unanswerable question cannot have evidence"),
        ({"unanswerable": True, "evidence": []}, "an unanswerable question cannot have short answers"),
        ({"question": "  "}, "question must be a non-empty string"),
        ({"id": 7}, "id must be a non-empty string"),
        ({"evidance": []}, "unknown key(s) evidance"),
    ],
)
def test_invalid_question_names_file_line_and_problem(tmp_path: Path, change: dict[str, object], message: str) -> None:
    path = write_set(tmp_path, GOOD, GOOD | {"id": "x2"} | change)
    with pytest.raises(QuestionSetError) as raised:
        load_questions(path)
    assert f"{path}:2:" in str(raised.value)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        (
            json.dumps({"id": "x3", "question": "q?"}),
            "missing key(s) kind, answers, evidence, unanswerable, split",
        ),
    ],
)
def test_malformed_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = write_set(tmp_path, GOOD, line)
    with pytest.raises(QuestionSetError) as raised:
        load_questions(path)
    assert str(raised.value).startswith(f"{path}:2:")
    assert message in str(raised.value)


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = write_set(tmp_path, GOOD, GOOD)
    with pytest.raises(QuestionSetError, match=r":2: duplicate id 'x1' \(first on line 1\)"):
        load_questions(path)


def test_evidence_source_missing_from_corpus(tmp_path: Path) -> None:
    wrong = GOOD | {"evidence": [{"source": "gamma.txt", "text": "The mayor"}]}
    path = write_set(tmp_path, GOOD, wrong | {"id": "x2"})
    with pytest.raises(QuestionSetError) as raised:
        load_questions(path, texts(DATA / "corpus"))
    assert str(raised.value) == f"{path}:2: question 'x2': evidence source 'gamma.txt' is not in the corpus"


def test_evidence_text_not_in_its_file(tmp_path: Path) -> None:
    wrong = GOOD | {"evidence": [{"source": "beta.txt", "text": "The mayor, Anna Berg"}]}
    path = write_set(tmp_path, wrong)
    with pytest.raises(QuestionSetError) as raised:
        load_questions(path, texts(DATA / "corpus"))
    assert (
        str(raised.value) == f"{path}:1: question 'x1': evidence text 'The mayor, Anna Berg' is not found in beta.txt"
    )


def test_missing_empty_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(QuestionSetError, match="question set not found"):
        load_questions(tmp_path / "absent.jsonl")
    empty = write_set(tmp_path, "# only a comment")
    with pytest.raises(QuestionSetError, match="holds no questions"):
        load_questions(empty)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(QuestionSetError, match="cannot read question set"):
        load_questions(binary)


def test_fold_space() -> None:
    assert fold_space("  a\n\tb  c ") == "a b c"


def test_seeds_question_set_is_valid() -> None:
    questions = load_questions(ROOT / "tests" / "questions" / "seeds.jsonl", texts(ROOT / "seeds"))
    assert len(questions) >= 48
    assert sum(q.unanswerable for q in questions) >= 8
    assert {q.split for q in questions} == {"tune", "holdout"}


def test_evidence_across_a_sentence_boundary_is_named(tmp_path: Path) -> None:
    path = write_set(tmp_path, GOOD)
    (question,) = load_questions(path)
    inside = {question.evidence[0].source: [question.evidence[0].text + " and more."]}
    check_within_sentences([question], inside, path)  # inside one sentence: fine
    split = {source: [text[:5], text[5:]] for source, (text,) in inside.items()}
    with pytest.raises(QuestionSetError, match="is not inside one sentence of"):
        check_within_sentences([question], split, path)
