"""Tests for retrieval/evaluation.py: judging answers and metrics, on hand-made cases with known results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence

import pytest

from retrieval.evaluation import (
    Expectation,
    evaluate,
    evidence_matcher,
    expectation,
    judge,
    rank_counts,
    summarise,
    worst_misses,
)
from retrieval.models import Answer, Confidence, Quote, Source
from retrieval.questions import Evidence, Question

DAY = dt.date(2024, 3, 4)
DATES = {"a.txt": DAY, "b.txt": dt.date(2024, 3, 10)}


def quote(text: str, source: str = "a.txt", date: dt.date | None = DAY, also_in: tuple[Source, ...] = ()) -> Quote:
    return Quote(text, source, date, None, 1.0, Confidence.HIGH, "", "", source, 0, len(text), also_in)


def question(
    ident: str, kind: str = "what", evidence: Sequence[Evidence] = (), answers: Sequence[str] = ()
) -> Question:
    return Question(ident, f"question {ident}?", kind, tuple(answers), tuple(evidence), not evidence, "tune", 1)


class FakeAnswerer:
    """Returns prepared answers: a list of quotes, or None to abstain; a string to refuse."""

    def __init__(self, answers: Mapping[str, list[Quote] | str | None]) -> None:
        self.answers = answers

    def answer(self, question: str, top_k: int = 3) -> Answer:
        prepared = self.answers[question]
        if isinstance(prepared, str):
            raise ValueError(prepared)
        if prepared is None:
            return Answer(question, (), abstained=True, reason="not found in the articles")
        return Answer(question, tuple(prepared[:top_k]), abstained=False)


def ticking(step_ms: float) -> Iterator[float]:
    now = 0.0
    while True:
        yield now
        now += step_ms / 1000.0


RIGHT = Evidence("a.txt", "the right sentence")
WRONG = [quote("a wrong sentence"), quote("another wrong one", "b.txt", dt.date(2024, 3, 10))]


def cases() -> list[Expectation]:
    return [
        expectation(question("q1", "who", [RIGHT], ["Right"])),
        expectation(question("q2", "who", [RIGHT], ["nowhere"])),
        expectation(question("q3", "when", [RIGHT], ["right"])),
        expectation(question("u1")),
        expectation(question("u2")),
    ]


def answers() -> dict[str, list[Quote] | str | None]:
    right = quote("This is the right sentence.")
    return {
        "question q1?": [right, *WRONG],  # rank 1
        "question q2?": [*WRONG, right],  # rank 3
        "question q3?": None,  # abstained on an answerable question: a miss
        "question u1?": None,  # abstained, rightly
        "question u2?": [quote("an unsupported claim", date=dt.date(2020, 1, 1))],  # answered, wrong date
    }


def test_known_ranks_give_known_metrics() -> None:
    clock = ticking(10.0)
    result = evaluate("fake", FakeAnswerer(answers()), cases(), DATES, clock=lambda: next(clock))
    ranks = [o.rank for o in result.outcomes]
    assert ranks == [1, 3, None, None, None]
    m = result.metrics
    assert (m.questions, m.answerable, m.unanswerable) == (5, 3, 2)
    assert m.hit_at_1 == pytest.approx(1 / 3)
    assert m.hit_at_3 == pytest.approx(2 / 3)
    assert m.hit_at_5 == pytest.approx(2 / 3)
    assert m.mrr_at_5 == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert m.answer_in_top_quote == pytest.approx(1 / 3)  # "Right" in q1's top quote, case-insensitive
    assert m.right_source == pytest.approx(2 / 3)  # q2's top quote is wrong but from the evidence's source
    assert m.abstention_recall == pytest.approx(1 / 2)
    assert m.abstention_precision == pytest.approx(1 / 2)
    assert m.wrongly_abstained == pytest.approx(1 / 3)
    assert m.right_date == pytest.approx(6 / 7)  # 3 + 3 quotes right, u2's one wrong
    assert m.latency_p50_ms == pytest.approx(10.0)
    assert m.latency_p95_ms == pytest.approx(10.0)


def test_latency_percentiles_count_only_the_questions_answered_one_at_a_time() -> None:
    times = iter([0.0, 0.001, 1.0, 1.100, 2.0, 2.001, 3.0, 3.100, 4.0, 4.001])  # 1 ms, 100 ms, ... in turn
    untimed = frozenset({"q1", "q3", "u2"})  # the 1 ms ones: embedded in a batch beforehand
    result = evaluate("fake", FakeAnswerer(answers()), cases(), DATES, clock=lambda: next(times), untimed=untimed)
    assert [o.timed for o in result.outcomes] == [False, True, False, True, False]
    assert result.metrics.latency_p50_ms == pytest.approx(100.0)
    assert result.metrics.latency_p95_ms == pytest.approx(100.0)
    assert result.metrics.hit_at_1 == pytest.approx(1 / 3)  # every question still counts in the quality


def test_right_source_needs_the_top_quote_from_an_evidence_source() -> None:
    case = expectation(question("q", evidence=[Evidence("b.txt", "nothing")], answers=["x"]))
    assert judge(case, Answer("q", (quote("x"),), False), 1.0).right_source is False
    assert judge(case, Answer("q", (quote("x", "b.txt"),), False), 1.0).right_source is True


def test_per_kind_and_rank_counts() -> None:
    result = evaluate("fake", FakeAnswerer(answers()), cases(), DATES)
    assert list(result.per_kind) == ["who", "when", "what"]
    assert result.per_kind["who"].hit_at_1 == pytest.approx(0.5)
    assert result.per_kind["when"].wrongly_abstained == 1.0
    assert result.per_kind["what"].abstention_recall == 0.5
    assert rank_counts(result.outcomes) == {"1": 1, "2": 0, "3": 1, "4": 0, "5": 0, "miss": 1}


def test_worst_misses_first_without_any_right_quote_with_what_came_instead() -> None:
    result = evaluate("fake", FakeAnswerer(answers()), cases(), DATES)
    misses = worst_misses(result.outcomes)
    assert [m.id for m in misses] == ["q3", "q2"]
    assert misses[1].returned[0].text == "a wrong sentence"
    assert misses[1].returned[0].date == "2024-03-04"
    assert misses[0].returned == ()


def test_refused_question_counts_as_abstention_with_the_reason() -> None:
    refusing = FakeAnswerer({"question q1?": "the question is too long"})
    result = evaluate("fake", refusing, cases()[:1])
    assert result.outcomes[0].abstained and result.outcomes[0].error == "the question is too long"
    assert result.metrics.hit_at_1 == 0.0


def test_only_top_five_quotes_count() -> None:
    right = quote("the right sentence")
    case = expectation(question("q", evidence=[RIGHT], answers=["x"]))
    six = Answer("q", (*[quote(f"wrong {n}") for n in range(5)], right), False)
    assert judge(case, six, 1.0).rank is None


def test_an_abstention_with_quotes_still_gives_no_quote() -> None:
    case = expectation(question("q", evidence=[RIGHT], answers=["x"]))
    outcome = judge(case, Answer("q", (quote("the right sentence"),), True), 1.0)
    assert outcome.abstained and outcome.rank is None


def test_dates_of_also_in_are_checked_and_unknown_sources_skipped() -> None:
    case = expectation(question("q", evidence=[RIGHT], answers=["x"]))
    extra = (Source("b.txt", dt.date(2024, 3, 10)), Source("b.txt", None), Source("c.txt", None))
    outcome = judge(case, Answer("q", (quote("the right sentence", also_in=extra),), False), 1.0, DATES)
    assert (outcome.dates_checked, outcome.dates_right) == (3, 2)
    assert judge(case, Answer("q", (quote("x"),), False), 1.0).dates_checked == 0  # no dates given


@pytest.mark.parametrize(
    ("text", "source", "right"),
    [
        ("Before. the right sentence, after.", "a.txt", True),
        ("the right\n  sentence", "a.txt", True),  # whitespace folded
        ("the right sentence", "b.txt", False),  # wrong source
        ("The Right Sentence", "a.txt", False),  # evidence is exact apart from whitespace
        ("the right", "a.txt", False),  # only part of the evidence
    ],
)
def test_evidence_matcher(text: str, source: str, right: bool) -> None:
    assert evidence_matcher([RIGHT])(quote(text, source)) is right


def test_empty_outcomes_give_none_rates() -> None:
    metrics = summarise([])
    assert metrics.hit_at_1 is None and metrics.abstention_precision is None and metrics.latency_p50_ms is None
