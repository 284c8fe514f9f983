"""Terminal rendering: golden text, emphasis only on a terminal, and the exact JSON shape."""

from __future__ import annotations

import datetime as dt

from bot.rendering import BOLD, RESET, answer_to_json, render_context, render_text
from retrieval.models import Answer, Confidence, Quote, Source

QUOTE = Quote(
    text="Iran confirmed in November that it had delivered drones to Russia.",
    source="004_49986d061f0228b4.txt",
    date=dt.date(2022, 12, 9),
    title=None,
    score=3.25,
    confidence=Confidence.HIGH,
    context_before="Western states have accused Iran.",
    context_after="However, these were delivered before.",
    article_id="004_49986d061f0228b4.txt",
    start=10,
    end=77,
    also_in=(Source("001.txt", None), Source("002.txt", dt.date(2022, 10, 20))),
    highlights=((0, 4), (18, 26)),
)
ANSWER = Answer("When did Iran confirm the drones?", (QUOTE,), abstained=False)


def test_plain_text_golden() -> None:
    assert render_text(ANSWER) == (
        "1. Iran confirmed in November that it had delivered drones to Russia.\n"
        "   — 004_49986d061f0228b4.txt, 2022-12-09\n"
        "   confidence high · score 3.250\n"
        "   also in: 001.txt (undated), 002.txt (2022-10-20)"
    )


def test_terminal_text_emphasises_matched_words() -> None:
    coloured = render_text(ANSWER, color=True)
    assert f"{BOLD}Iran{RESET} confirmed in {BOLD}November{RESET}" in coloured


def test_abstention_echoes_the_question() -> None:
    answer = Answer("What did China say?", (), abstained=True, reason="not found in the articles")
    assert render_text(answer) == "No answer: not found in the articles.\nQuestion: What did China say?"


def test_json_shape_is_exact() -> None:
    assert answer_to_json(ANSWER) == {
        "question": "When did Iran confirm the drones?",
        "abstained": False,
        "quotes": [
            {
                "text": QUOTE.text,
                "source": "004_49986d061f0228b4.txt",
                "date": "2022-12-09",
                "title": None,
                "score": 3.25,
                "confidence": "high",
                "context_before": "Western states have accused Iran.",
                "context_after": "However, these were delivered before.",
                "also_in": [{"source": "001.txt", "date": None}, {"source": "002.txt", "date": "2022-10-20"}],
            }
        ],
    }


def test_context_marks_the_quote() -> None:
    assert render_context(QUOTE, ["Before."], ["After."]) == f"  Before.\n> {QUOTE.text}\n  After."
