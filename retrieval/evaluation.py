"""Answer quality: judge each answer against what a right quote must be, and summarise into metrics."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from retrieval.models import Answer, Quote
from retrieval.questions import Evidence, Question, fold_space

log = logging.getLogger(__name__)

DEPTH = 5  # hits and MRR are computed over this many quotes
Matcher = Callable[[Quote], bool]


class Answering(Protocol):
    """Anything that answers a question with quotes: the product's Answerer, the baseline, a fake."""

    def answer(self, question: str, top_k: int) -> Answer:
        """The best `top_k` quotes for `question`, or an abstention."""
        ...


@dataclass(frozen=True)
class Expectation:
    """What counts as right for one question, whatever question set or benchmark it came from."""

    id: str
    question: str
    kind: str
    split: str
    unanswerable: bool
    answers: tuple[str, ...]  # short answers, looked for in the top quote
    sources: frozenset[str]  # sources a right quote comes from
    expected: str  # what a right quote holds, for people reading the misses
    is_right: Matcher = field(compare=False)


@dataclass(frozen=True)
class Returned:
    """A quote as returned, kept for the report of misses."""

    source: str
    text: str
    date: str | None


@dataclass(frozen=True)
class Outcome:
    """How one question was answered."""

    id: str
    question: str
    kind: str
    split: str
    unanswerable: bool
    abstained: bool  # abstained, refused, or gave no quote
    rank: int | None  # 1-based rank of the first right quote within DEPTH; None when there is none
    answer_in_top: bool  # a short answer is in the top quote (case-insensitive)
    right_source: bool  # the top quote comes from a source of the evidence
    dates_checked: int  # quotes and also_in entries whose expected date is known
    dates_right: int
    latency_ms: float
    expected: str
    returned: tuple[Returned, ...]
    error: str = ""
    timed: bool = True  # answered as a user asks, one at a time: its latency counts in the percentiles


@dataclass(frozen=True)
class Metrics:
    """Summary of outcomes; a rate is None when nothing it is a fraction of exists."""

    questions: int
    answerable: int
    unanswerable: int
    hit_at_1: float | None
    hit_at_3: float | None
    hit_at_5: float | None
    mrr_at_5: float | None
    answer_in_top_quote: float | None
    right_source: float | None
    right_date: float | None  # over every returned quote and also_in entry whose date is known
    abstention_precision: float | None  # abstentions that were on unanswerable questions
    abstention_recall: float | None  # unanswerable questions abstained on
    wrongly_abstained: float | None  # answerable questions abstained on
    latency_p50_ms: float | None
    latency_p95_ms: float | None


@dataclass(frozen=True)
class Evaluation:
    """One system's results on one question set."""

    system: str
    metrics: Metrics
    per_kind: dict[str, Metrics]
    outcomes: tuple[Outcome, ...]


def evidence_matcher(evidence: Sequence[Evidence]) -> Matcher:
    """A quote is right when it comes from an evidence source and contains that evidence's text."""
    wanted = [(item.source, fold_space(item.text)) for item in evidence]

    def is_right(quote: Quote) -> bool:
        text = fold_space(quote.text)
        return any(quote.source == source and part in text for source, part in wanted)

    return is_right


def expectation(question: Question) -> Expectation:
    """What a right answer to a question-set question is."""
    return Expectation(
        id=question.id,
        question=question.question,
        kind=question.kind,
        split=question.split,
        unanswerable=question.unanswerable,
        answers=question.answers,
        sources=frozenset(item.source for item in question.evidence),
        expected=" | ".join(f"{item.source}: {item.text}" for item in question.evidence) or "(unanswerable)",
        is_right=evidence_matcher(question.evidence),
    )


def judge(
    case: Expectation,
    answer: Answer,
    latency_ms: float,
    dates: Mapping[str, dt.date | None] | None = None,
    error: str = "",
) -> Outcome:
    """Compare one answer with what was expected."""
    quotes = () if answer.abstained else answer.quotes[:DEPTH]
    rank = next((n for n, quote in enumerate(quotes, start=1) if case.is_right(quote)), None)
    top = quotes[0] if quotes else None
    top_text = fold_space(top.text).casefold() if top else ""
    checked = right = 0
    for quote in quotes:
        for source, date in ((quote.source, quote.date), *((s.source, s.date) for s in quote.also_in)):
            if dates is not None and source in dates:
                checked += 1
                right += date == dates[source]
    return Outcome(
        id=case.id,
        question=case.question,
        kind=case.kind,
        split=case.split,
        unanswerable=case.unanswerable,
        abstained=not quotes,
        rank=rank,
        answer_in_top=any(fold_space(a).casefold() in top_text for a in case.answers) if top else False,
        right_source=top is not None and top.source in case.sources,
        dates_checked=checked,
        dates_right=right,
        latency_ms=latency_ms,
        expected=case.expected,
        returned=tuple(Returned(q.source, q.text, q.date.isoformat() if q.date else None) for q in quotes),
        error=error,
    )


def summarise(outcomes: Sequence[Outcome]) -> Metrics:
    """Metrics over a list of outcomes."""
    answerable = [o for o in outcomes if not o.unanswerable]
    unanswerable = [o for o in outcomes if o.unanswerable]
    abstentions = [o for o in outcomes if o.abstained]

    def hits(k: int) -> float | None:
        return _rate(o.rank is not None and o.rank <= k for o in answerable)

    checked = sum(o.dates_checked for o in outcomes)
    latencies = np.array([o.latency_ms for o in outcomes if o.timed], dtype=float)
    return Metrics(
        questions=len(outcomes),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        hit_at_1=hits(1),
        hit_at_3=hits(3),
        hit_at_5=hits(5),
        mrr_at_5=_mean(1.0 / o.rank if o.rank else 0.0 for o in answerable),
        answer_in_top_quote=_rate(o.answer_in_top for o in answerable),
        right_source=_rate(o.right_source for o in answerable),
        right_date=sum(o.dates_right for o in outcomes) / checked if checked else None,
        abstention_precision=_rate(o.unanswerable for o in abstentions),
        abstention_recall=_rate(o.abstained for o in unanswerable),
        wrongly_abstained=_rate(o.abstained for o in answerable),
        latency_p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else None,
        latency_p95_ms=float(np.percentile(latencies, 95)) if len(latencies) else None,
    )


def by_kind(outcomes: Sequence[Outcome]) -> dict[str, Metrics]:
    """Metrics per question kind, kinds in order of first appearance."""
    kinds = dict.fromkeys(o.kind for o in outcomes)
    return {kind: summarise([o for o in outcomes if o.kind == kind]) for kind in kinds}


def rank_counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """How many answerable questions got their first right quote at rank 1..DEPTH, or none ("miss")."""
    counts = {str(rank): 0 for rank in range(1, DEPTH + 1)} | {"miss": 0}
    for outcome in outcomes:
        if not outcome.unanswerable:
            counts[str(outcome.rank) if outcome.rank else "miss"] += 1
    return counts


def worst_misses(outcomes: Sequence[Outcome], count: int = 10) -> list[Outcome]:
    """Answerable questions whose top quote was wrong: no right quote at all first, then by rank."""
    missed = [o for o in outcomes if not o.unanswerable and o.rank != 1]
    return sorted(missed, key=lambda o: (-(o.rank or DEPTH + 1), o.id))[:count]


def evaluate(
    system: str,
    answerer: Answering,
    cases: Sequence[Expectation],
    dates: Mapping[str, dt.date | None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    untimed: frozenset[str] = frozenset(),
) -> Evaluation:
    """Ask every question once (top DEPTH quotes), time it and judge the answer; the latency percentiles leave out
    the `untimed` question ids (questions the answerer was handed in a batch beforehand)."""
    outcomes: list[Outcome] = []
    for case in cases:
        error = ""
        started = clock()
        try:
            answer = answerer.answer(case.question, DEPTH)
        except ValueError as refusal:  # the answerer's QuestionError: the user gets a message, no quote
            error = str(refusal)
            answer = Answer(case.question, (), True, error)
            log.warning("%s refused question %s: %s", system, case.id, error)
        outcome = judge(case, answer, (clock() - started) * 1000.0, dates, error)
        outcomes.append(dataclasses.replace(outcome, timed=False) if case.id in untimed else outcome)
    log.info("%s answered %d questions", system, len(outcomes))
    return Evaluation(system, summarise(outcomes), by_kind(outcomes), tuple(outcomes))


def _rate(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return sum(values) / len(values) if values else None


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None
