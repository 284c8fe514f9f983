"""ReQA-style SQuAD: one article per SQuAD paragraph, and what counts as a right quote for each question."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from retrieval.baseline import naive_sentences
from retrieval.evaluation import Expectation, Matcher
from retrieval.models import Article, Quote
from retrieval.questions import fold_space

MAX_QUOTE_CHARS = 400
MAX_QUOTE_SENTENCES = 2
_KINDS = (
    ("how_many", re.compile(r"\bhow (many|much)\b")),
    ("when", re.compile(r"\b(when|what year|what day|what date|what time|what century|what decade)\b")),
    ("who", re.compile(r"\b(who|whom|whose)\b")),
    ("where", re.compile(r"\bwhere\b")),
    ("why", re.compile(r"\bwhy\b")),
    ("how", re.compile(r"\bhow\b")),
    ("what", re.compile(r"\b(what|which)\b")),
)
# Abbreviations the naive splitter cuts after; a quote's sentence count must not grow because of them.
_ABBREVIATION = re.compile(
    r"mr|mrs|ms|dr|st|jr|sr|gen|col|lt|sgt|capt|gov|sen|rep|prof|rev|mt|ft|no|vs|etc|inc|ltd|co|corp"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
T = TypeVar("T")


class SquadError(ValueError):
    """A SQuAD file cannot be used; the message names the file and the place in it."""


@dataclass(frozen=True)
class SquadQuestion:
    """A SQuAD question: its gold answers and the paragraph (article source) that holds them."""

    id: str
    question: str
    answers: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class SquadSet:
    """A SQuAD file as a corpus (one article per paragraph) and its questions."""

    articles: tuple[Article, ...]
    questions: tuple[SquadQuestion, ...]


def load_squad(path: Path) -> SquadSet:
    """Read a SQuAD v1.1 JSON file; articles are "squad:<title>:<paragraph>" with the context as text."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise SquadError(f"{path}: SQuAD file not found") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SquadError(f"{path}: cannot read SQuAD JSON: {error}") from error
    topics = data.get("data") if isinstance(data, dict) else None
    if not isinstance(topics, list) or not topics:
        raise SquadError(f'{path}: expected an object with a non-empty "data" list (SQuAD v1.1)')
    articles: list[Article] = []
    questions: list[SquadQuestion] = []
    for t, topic in enumerate(topics):
        title = _field(topic, "title", str, f"{path}: data[{t}]")
        for p, paragraph in enumerate(_field(topic, "paragraphs", list, f"{path}: data[{t}]")):
            where = f"{path}: data[{t}].paragraphs[{p}]"
            source = f"squad:{title}:{p}"
            articles.append(Article(source, source, _field(paragraph, "context", str, where), title=title))
            for q, qa in enumerate(_field(paragraph, "qas", list, where)):
                questions.append(_question(qa, source, f"{where}.qas[{q}]"))
    if not questions:
        raise SquadError(f"{path}: the file holds no questions")
    return SquadSet(tuple(articles), tuple(questions))


def sample(items: Sequence[T], limit: int | None) -> list[T]:
    """An evenly spaced, deterministic sample of `limit` items (all of them without a limit)."""
    if limit is None or limit >= len(items):
        return list(items)
    return [items[i * len(items) // limit] for i in range(max(limit, 0))]


def question_kind(question: str) -> str:
    """The question's kind from its wh-word ("how_many", "when", "who", ...), or "other"."""
    text = question.lower()
    return next((kind for kind, pattern in _KINDS if pattern.search(text)), "other")


def is_short(text: str, max_chars: int = MAX_QUOTE_CHARS, max_sentences: int = MAX_QUOTE_SENTENCES) -> bool:
    """A quote counts only when it is at most `max_chars` long and at most `max_sentences` sentences."""
    return len(text) <= max_chars and sentence_count(text) <= max_sentences


def sentence_count(text: str) -> int:
    """Sentences in a quote: the naive regex split, not counting cuts after abbreviations ("St. Louis")."""
    pieces = naive_sentences(text)
    cuts = sum(1 for piece in pieces[:-1] if _ABBREVIATION.fullmatch(_last_word(piece.text)))
    return len(pieces) - cuts


def _last_word(sentence: str) -> str:
    words = sentence.rstrip(".!?\"'”’)]").split()
    return words[-1].lower() if words else ""


def squad_matcher(question: SquadQuestion, max_chars: int = MAX_QUOTE_CHARS) -> Matcher:
    """Right: from the question's paragraph, short, and holding one of the gold answers."""
    answers = [fold_space(answer) for answer in question.answers]

    def is_right(quote: Quote) -> bool:
        if quote.source != question.source or not is_short(quote.text, max_chars):
            return False
        text = fold_space(quote.text)
        return any(answer in text for answer in answers)

    return is_right


def expectations(questions: Sequence[SquadQuestion], max_chars: int = MAX_QUOTE_CHARS) -> list[Expectation]:
    """The evaluation's view of SQuAD questions: all answerable, one source each, kind from the wh-word."""
    return [
        Expectation(
            id=q.id,
            question=q.question,
            kind=question_kind(q.question),
            split="squad",
            unanswerable=False,
            answers=q.answers,
            sources=frozenset({q.source}),
            expected=f"{q.source}: {' / '.join(q.answers)}",
            is_right=squad_matcher(q, max_chars),
        )
        for q in questions
    ]


def _question(qa: Any, source: str, where: str) -> SquadQuestion:
    ident = _field(qa, "id", str, where)
    text = _field(qa, "question", str, where)
    answers = _field(qa, "answers", list, where)
    texts = [a.get("text") if isinstance(a, dict) else None for a in answers]
    gold = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
    if not gold or len(gold) != len(texts):
        raise SquadError(f"{where}: question {ident!r} needs answers with a non-empty text")
    return SquadQuestion(ident, text.strip(), tuple(dict.fromkeys(gold)), source)


def _field(record: Any, key: str, kind: type[T], where: str) -> T:
    value = record.get(key) if isinstance(record, dict) else None
    if not isinstance(value, kind):
        raise SquadError(f"{where}: expected {key!r} to be a {kind.__name__}")
    if isinstance(value, str) and not value.strip():
        raise SquadError(f"{where}: {key!r} is empty")
    return value
