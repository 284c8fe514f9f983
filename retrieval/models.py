"""The records passed between Verbatim's stages: articles, sentences, quotes and answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class Article:
    """One news article as loaded from the corpus; `text` is exactly what the file holds."""

    id: str  # unique in the corpus: the file name, or "file.jsonl.gz#<id>" for JSON lines
    source: str  # what users see as the source: the file name (plus "#id" inside JSON lines)
    text: str
    date: dt.date | None = None
    title: str | None = None
    url: str | None = None


class SentenceKind(StrEnum):
    """What role a sentence plays in its article; only BODY sentences are answers."""

    BODY = "body"
    HEADING = "heading"  # headline or subhead: short line without final punctuation
    CAPTION = "caption"  # photo caption with an agency credit
    BOILERPLATE = "boilerplate"  # "To see in video", "(With information from EFE)", ...
    DATELINE = "dateline"  # a leading "date 2022-10-20" line


@dataclass(frozen=True)
class Sentence:
    """A sentence of an article, located by character offsets: article.text[start:end] == text."""

    article: int  # position of the article in the corpus
    start: int
    end: int
    text: str
    paragraph: int  # corpus-wide paragraph number
    position: int  # sentence number inside its article
    kind: SentenceKind = SentenceKind.BODY


@dataclass(frozen=True)
class Source:
    """Where a quote (or a near-duplicate of it) appears."""

    source: str
    date: dt.date | None
    title: str | None = None


class Confidence(StrEnum):
    """How strongly the evidence supports a quote, for people rather than machines."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Quote:
    """A verbatim sentence answering a question, with its provenance and context."""

    text: str
    source: str
    date: dt.date | None
    title: str | None
    score: float
    confidence: Confidence
    context_before: str
    context_after: str
    article_id: str
    start: int  # offsets into the article's text
    end: int
    also_in: tuple[Source, ...] = ()
    highlights: tuple[tuple[int, int], ...] = ()  # spans of matched words, relative to `text`


@dataclass(frozen=True)
class Answer:
    """The answer to one question: ranked distinct quotes, or an abstention."""

    question: str
    quotes: tuple[Quote, ...]
    abstained: bool
    reason: str = ""  # why it abstained, in words a user understands
    terms: tuple[str, ...] = field(default=())  # the question's index terms
