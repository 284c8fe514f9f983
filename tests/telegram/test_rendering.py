"""Telegram HTML rendering: golden strings, escaping, bold matches, splitting at quote boundaries."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.telegram_rendering import (
    MESSAGE_LIMIT,
    answer_keyboard,
    bold_matches,
    cut,
    examples_keyboard,
    render_context,
    render_not_found,
    render_page,
    render_quote,
    render_quotes,
    render_welcome,
    utf16_len,
    visible_length,
)
from retrieval.models import Answer, Source
from tests.telegram.conftest import NATO_QUOTES, make_quote
from tests.telegram.fake_api import ApiError, parse_html

GOLDEN_QUOTES = (
    "<blockquote><b>NATO Secretary General</b> Jens Stoltenberg said that “all information” indicates that "
    "Iran is supplying drones to Russia.</blockquote>\n"
    "[1] <i>000_6bac14c41388e1cc.txt</i> · 2022-10-20\n"
    "Also in: 003_c4ef398a6fa72310.txt (2022-10-21)\n\n"
    "<blockquote>The S&amp;P 500 fell as &lt;TICKER&gt; traders read the <b>NATO</b> statement."
    "</blockquote>\n"
    "[2] <i>markets.md</i> · 2022-10-22 · “Stocks &amp; &lt;bonds&gt;”\n\n"
    "<blockquote>Stoltenberg leads <b>NATO</b>.</blockquote>\n"
    "[3] <i>004_49986d061f0228b4.txt</i>"
)


def test_quotes_golden() -> None:
    assert render_quotes(NATO_QUOTES[:3]) == [GOLDEN_QUOTES]


@pytest.mark.parametrize(
    ("text", "spans", "expected"),
    [
        ("a & b", [(0, 1)], "<b>a</b> &amp; b"),
        ("Secretary General", [(0, 9), (10, 17)], "<b>Secretary General</b>"),  # neighbours share a tag
        ("x <y> z", [(2, 5)], "x <b>&lt;y&gt;</b> z"),
        ("abc", [(1, 2), (0, 3)], "<b>abc</b>"),  # overlapping spans: the first wins, never broken markup
        ("abc", [(2, 9), (-3, 0)], "ab<b>c</b>"),  # out of range: clipped or dropped
        ("no match", [], "no match"),
    ],
)
def test_bold_matches(text: str, spans: list[tuple[int, int]], expected: str) -> None:
    assert bold_matches(text, spans) == expected
    parse_html(expected)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [("short", 10, "short"), ("a long sentence", 7, "a long…"), ("😀😀😀", 5, "😀😀…"), ("abc", 3, "abc")],
)
def test_cut_counts_utf16_units(text: str, limit: int, expected: str) -> None:
    assert cut(text, limit) == expected
    assert utf16_len(cut(text, limit)) <= limit


def test_cut_can_keep_the_end() -> None:
    assert cut("first second third", 8, keep_end=True) == "…d third"


def test_also_in_lists_at_most_five_articles() -> None:
    others = tuple(Source(f"s{i}.txt", None) for i in range(8))
    block = render_quote(make_quote("Text.", also_in=others), 1)
    assert block.endswith("Also in: s0.txt, s1.txt, s2.txt, s3.txt, s4.txt and 3 more")


def test_a_huge_quote_is_cut_to_fit_one_message() -> None:
    quote = make_quote("&" * 20_000, title="<" * 5_000)
    [message] = render_quotes([quote])
    assert visible_length(message) <= MESSAGE_LIMIT
    assert len(parse_html(message)) == visible_length(message)


@pytest.mark.parametrize("char", ["a", "&", "😀", "<"])
def test_long_answers_split_at_quote_boundaries_within_4096_utf16_units(char: str) -> None:
    quotes = [make_quote(f"Quote {n} " + char * 900, f"s{n}.txt") for n in range(12)]
    messages = render_quotes(quotes)
    assert len(messages) > 1
    assert sum(message.count("<blockquote>") for message in messages) == 12
    for message in messages:
        plain = parse_html(message)  # every part is valid HTML on its own
        assert utf16_len(plain) == visible_length(message) <= MESSAGE_LIMIT
    numbers = [int(line[1:].split("]")[0]) for m in messages for line in m.splitlines() if line.startswith("[")]
    assert numbers == list(range(1, 13))


def test_a_page_holds_what_fits_in_one_message() -> None:
    quotes = [make_quote("q" * 1500, f"s{n}.txt") for n in range(5)]
    page, count = render_page(quotes, first_number=4)
    assert count == 2
    assert "[4] " in page and "[5] " in page and "[6] " not in page


def test_not_found_echoes_the_escaped_question() -> None:
    answer = Answer("Is <TICKER> up & away?", (), abstained=True, reason="not found in the articles")
    assert render_not_found(answer) == (
        "I found no sentence in the articles that answers “Is &lt;TICKER&gt; up &amp; away?”.\n"
        "<i>not found in the articles</i>\n"
        "Try other words, or see /help."
    )


def test_context_bolds_the_quote_among_its_sentences() -> None:
    quote = make_quote("The quote & more.", "a.txt")
    text = render_context(quote, 2, ["Before <b>."], ["After."])
    assert text == (
        "Context of quote 2: <i>a.txt</i> · 2022-10-20\n"
        "<blockquote>Before &lt;b&gt;. <b>The quote &amp; more.</b> After.</blockquote>"
    )


def test_context_is_cut_at_both_ends_to_fit() -> None:
    quote = make_quote("The quote.", "a.txt")
    text = render_context(quote, 1, ["b" * 5000], ["a" * 5000])
    assert visible_length(text) <= MESSAGE_LIMIT
    assert "…" + "b" in text and "a" + "…" in text and "<b>The quote.</b>" in text


def test_welcome() -> None:
    text = render_welcome(5, dt.date(2022, 10, 18), dt.date(2022, 11, 3), ["Q <1>?", "Q2?"], "verbatim_bot")
    assert "I know <b>5</b> articles from 2022-10-18 to 2022-11-03." in text
    assert "• Q &lt;1&gt;?\n• Q2?" in text
    assert "I know <b>1</b> article." in render_welcome(1, None, None, [], "b")
    parse_html(text)


def test_callback_data_fits_in_64_bytes() -> None:
    keyboard = answer_keyboard("abcdefgh", 47, 3, more=True)
    data = [button.callback_data for row in keyboard.inline_keyboard for button in row]
    assert data == ["c:abcdefgh:47", "c:abcdefgh:48", "c:abcdefgh:49", "m:abcdefgh:50"]
    assert all(isinstance(d, str) and len(d.encode()) <= 64 for d in data)
    assert [b.text for row in examples_keyboard(["x" * 100]).inline_keyboard for b in row] == ["x" * 59 + "…"]


@pytest.mark.parametrize(
    "markup",
    ["<TICKER>", "S&P 500", "<b>open", "</b>", "<b><i>x</b></i>", "a > b", "<blockquote><blockquote>"],
)
def test_the_fake_server_refuses_what_telegram_refuses(markup: str) -> None:
    with pytest.raises(ApiError, match="can't parse entities"):
        parse_html(markup)
