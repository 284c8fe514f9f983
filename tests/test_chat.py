"""The terminal chat: commands, paging, context, and leaving cleanly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.chat import TerminalChat
from retrieval.answerer import Answerer


def _run(answerer: Answerer, lines: list[str], end: type[BaseException] = EOFError) -> list[str]:
    feed: Iterator[str] = iter(lines)
    out: list[str] = []

    def read(prompt: str) -> str:
        try:
            return next(feed)
        except StopIteration:
            raise end from None

    assert TerminalChat(answerer, 2, read=read, write=out.append).run() == 0
    return out


def test_question_more_and_context(answerer: Answerer) -> None:
    out = _run(answerer, ["How many Iranian individuals did the EU sanction?", "/more", "/context 1", "/quit"])
    assert out[0].startswith("Verbatim: 5 articles")
    assert out[1].startswith("1. The European Union today approved sanctions against five Iranian individuals")
    assert "\n\n2. " in out[1] and "3. " not in out[1]
    assert out[2].startswith("3. ")
    assert "> The European Union today approved sanctions" in out[3]


@pytest.mark.parametrize("end", [EOFError, KeyboardInterrupt])
def test_ctrl_d_and_ctrl_c_leave_cleanly(answerer: Answerer, end: type[BaseException]) -> None:
    assert _run(answerer, [], end)[-1] == ""


def test_mistakes_get_one_clear_line(answerer: Answerer) -> None:
    out = _run(answerer, ["/more", "/context 1", "   ", "x" * 5000, "/bogus", "/context x", "/help"])
    assert out[1] == "Ask a question first; /more shows its next quotes."
    assert out[2].startswith("Ask a question first; /context N")
    assert out[3] == "Sorry, the question is too long (5,000 characters; the limit is 1,000)."
    assert out[4] == "Unknown command /bogus. /help lists the commands."
    assert out[5].startswith("Ask a question first")
    assert "/context N" in out[6]
