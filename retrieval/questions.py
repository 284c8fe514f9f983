"""Question sets for evaluation: JSON lines with evidence, loaded and validated against the corpus."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS: tuple[str, ...] = ("who", "what", "when", "where", "how_many", "why", "yes_no", "paraphrase")
SPLITS: tuple[str, ...] = ("tune", "holdout")
_REQUIRED = ("id", "question", "kind", "answers", "evidence", "unanswerable", "split")
_OPTIONAL = ("note", "notes", "comment")
_SPACE = re.compile(r"\s+")


class QuestionSetError(ValueError):
    """A question set cannot be used; the message names the file, the line and what is wrong."""


@dataclass(frozen=True)
class Evidence:
    """Where a question is answered: a source file and a substring of the answering sentence."""

    source: str
    text: str


@dataclass(frozen=True)
class Question:
    """One question of a question set, with what a right answer must quote."""

    id: str
    question: str
    kind: str
    answers: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    unanswerable: bool
    split: str
    line: int = 0  # line of the question set it came from, for error messages


def fold_space(text: str) -> str:
    """Collapse every run of whitespace to one space and trim, so line breaks never decide a match."""
    return _SPACE.sub(" ", text).strip()


def load_questions(path: Path, texts: Mapping[str, str] | None = None) -> list[Question]:
    """Read and validate a JSON-lines question set; with `texts` (source -> text) also check the evidence."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as error:
        raise QuestionSetError(f"{path}: question set not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionSetError(f"{path}: cannot read question set: {error}") from error
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        question = parse_question(line, f"{path}:{number}", number)
        if question.id in seen:
            raise QuestionSetError(f"{path}:{number}: duplicate id {question.id!r} (first on line {seen[question.id]})")
        seen[question.id] = number
        questions.append(question)
    if not questions:
        raise QuestionSetError(f"{path}: the question set holds no questions")
    if texts is not None:
        check_evidence(questions, texts, path)
    return questions


def parse_question(line: str, where: str, number: int = 0) -> Question:
    """One question from one JSON line; `where` ("file:line") starts every error message."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise QuestionSetError(f"{where}: not valid JSON: {error.msg} (column {error.colno})") from error
    if not isinstance(record, dict):
        raise QuestionSetError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in _REQUIRED if key not in record]
    if missing:
        raise QuestionSetError(f"{where}: missing key(s) {', '.join(missing)}")
    unknown = sorted(set(record) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise QuestionSetError(f"{where}: unknown key(s) {', '.join(unknown)}")
    ident = _text(record, "id", where)
    where = f"{where}: question {ident!r}"
    text = _text(record, "question", where)
    kind = _text(record, "kind", where)
    if kind not in KINDS:
        raise QuestionSetError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    split = _text(record, "split", where)
    if split not in SPLITS:
        raise QuestionSetError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    unanswerable = record["unanswerable"]
    if not isinstance(unanswerable, bool):
        raise QuestionSetError(f"{where}: unanswerable must be true or false, got {unanswerable!r}")
    answers = record["answers"]
    if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
        raise QuestionSetError(f"{where}: answers must be a list of non-empty strings")
    evidence = _evidence(record["evidence"], where)
    if not unanswerable and not answers:
        raise QuestionSetError(f"{where}: an answerable question needs at least one short answer")
    if not unanswerable and not evidence:
        raise QuestionSetError(f"{where}: an answerable question needs at least one evidence")
    if unanswerable and evidence:
        raise QuestionSetError(f"{where}: an unanswerable question cannot have evidence")
    if unanswerable and answers:
        raise QuestionSetError(f"{where}: an unanswerable question cannot have short answers")
    return Question(ident, text, kind, tuple(answers), evidence, unanswerable, split, number)


def check_evidence(questions: list[Question], texts: Mapping[str, str], path: Path) -> None:
    """Every evidence must name an article of the corpus and be found in its text (whitespace folded)."""
    folded = {source: fold_space(text) for source, text in texts.items()}
    for question in questions:
        where = f"{path}:{question.line}: question {question.id!r}"
        for item in question.evidence:
            if item.source not in folded:
                raise QuestionSetError(f"{where}: evidence source {item.source!r} is not in the corpus")
            if fold_space(item.text) not in folded[item.source]:
                raise QuestionSetError(f"{where}: evidence text {item.text[:80]!r} is not found in {item.source}")


def check_within_sentences(questions: Sequence[Question], sentences: Mapping[str, Sequence[str]], path: Path) -> None:
    """Every evidence must lie inside one body sentence of its article, as the index splits it (`sentences`:
    source -> its body sentences): a quote is one sentence, so evidence across a boundary could never be found."""
    folded = {source: [fold_space(text) for text in texts] for source, texts in sentences.items()}
    for question in questions:
        for item in question.evidence:
            text = fold_space(item.text)
            if not any(text in sentence for sentence in folded.get(item.source, ())):
                raise QuestionSetError(
                    f"{path}:{question.line}: question {question.id!r}: evidence text {item.text[:80]!r} is not "
                    f"inside one sentence of {item.source} (evidence must stay within the answering sentence)"
                )


def _text(record: Mapping[str, Any], key: str, where: str) -> str:
    value = record[key]
    if not isinstance(value, str) or not value.strip():
        raise QuestionSetError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _evidence(value: Any, where: str) -> tuple[Evidence, ...]:
    if not isinstance(value, list):
        raise QuestionSetError(f"{where}: evidence must be a list of {{source, text}} objects")
    found: list[Evidence] = []
    for position, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(item) != {"source", "text"}:
            raise QuestionSetError(f"{where}: evidence {position} must be an object with exactly source and text")
        source, text = item["source"], item["text"]
        if not isinstance(source, str) or not source.strip() or not isinstance(text, str) or not text.strip():
            raise QuestionSetError(f"{where}: evidence {position} needs a non-empty source and text")
        found.append(Evidence(source, text))
    return tuple(found)
