"""Answers as Telegram HTML: quotes in blockquotes with matched words bold, split into messages that fit."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Sequence

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
)

from retrieval.models import Answer, Quote, Source

MESSAGE_LIMIT = 4096  # Telegram's limit, in UTF-16 code units of the text after entity parsing
QUOTE_LIMIT = 3000  # a single quote longer than this (UTF-16 units) is cut with "…" so its block always fits
TITLE_LIMIT = 200
ALSO_IN_SHOWN = 5
QUESTION_ECHO_LIMIT = 300
BLOCK_SEPARATOR = "\n\n"
BUTTONS_PER_ROW = 4

_TAG = re.compile(r"<[^>]*>")


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units, the unit Telegram counts in."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(markup: str) -> int:
    """Length Telegram checks against its limit: the text left after parsing our (well-formed) HTML."""
    return utf16_len(html.unescape(_TAG.sub("", markup)))


def cut(text: str, limit: int, *, keep_end: bool = False) -> str:
    """`text` if it fits in `limit` UTF-16 units, else its longest prefix (or suffix) that fits, with "…"."""
    if utf16_len(text) <= limit:
        return text
    units = 0
    chars = reversed(range(len(text))) if keep_end else range(len(text))
    for position in chars:
        units += 2 if ord(text[position]) > 0xFFFF else 1
        if units > limit - 1:
            return "…" + text[position + 1 :].lstrip() if keep_end else text[:position].rstrip() + "…"
    return text  # not reached: a text longer than the limit is always cut inside the loop


def bold_matches(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Escape `text` and wrap the matched-word spans in <b>; neighbours separated by blanks share one tag."""
    merged: list[list[int]] = []
    for span_start, span_end in sorted(spans):
        start, end = max(span_start, 0), min(span_end, len(text))
        if start >= end or (merged and start < merged[-1][1]):
            continue  # empty, out of range or overlapping: never emit broken markup
        if merged and not text[merged[-1][1] : start].strip():
            merged[-1][1] = end
        else:
            merged.append([start, end])
    parts: list[str] = []
    position = 0
    for start, end in merged:
        parts.append(html.escape(text[position:start]))
        parts.append(f"<b>{html.escape(text[start:end])}</b>")
        position = end
    parts.append(html.escape(text[position:]))
    return "".join(parts)


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _where(source: Source | Quote) -> str:
    date = _date(source.date)
    return f"{html.escape(source.source)} ({date})" if date else html.escape(source.source)


def render_quote(quote: Quote, number: int | None = None) -> str:
    """One quote: the verbatim text in a blockquote, then source, date and title, then other articles."""
    text = cut(quote.text, QUOTE_LIMIT)
    spans = [(start, min(end, len(text))) for start, end in quote.highlights if start < len(text)]
    lines = [f"<blockquote>{bold_matches(text, spans)}</blockquote>", _citation(quote, number)]
    if quote.also_in:
        shown = ", ".join(_where(source) for source in quote.also_in[:ALSO_IN_SHOWN])
        hidden = len(quote.also_in) - ALSO_IN_SHOWN
        more = f" and {hidden} more" if hidden > 0 else ""
        lines.append(f"Also in: {shown}{more}")
    return "\n".join(lines)


def _citation(quote: Quote, number: int | None) -> str:
    parts = [f"<i>{html.escape(quote.source)}</i>"]
    if quote.date:
        parts.append(_date(quote.date))
    if quote.title:
        parts.append(f"“{html.escape(cut(quote.title, TITLE_LIMIT))}”")
    return ("" if number is None else f"[{number}] ") + " · ".join(parts)


def pack(blocks: Sequence[str], limit: int = MESSAGE_LIMIT) -> list[list[str]]:
    """Group blocks, in order and never split, into as few messages as possible, each within `limit`."""
    messages: list[list[str]] = []
    size = 0
    separator = visible_length(BLOCK_SEPARATOR)
    for block in blocks:
        length = visible_length(block)
        if not messages or size + separator + length > limit:
            messages.append([block])
            size = length
        else:
            messages[-1].append(block)
            size += separator + length
    return messages


def render_quotes(quotes: Sequence[Quote], first_number: int = 1) -> list[str]:
    """Quotes numbered from `first_number`, as messages split at quote boundaries."""
    blocks = [render_quote(quote, first_number + i) for i, quote in enumerate(quotes)]
    return [BLOCK_SEPARATOR.join(message) for message in pack(blocks)]


def render_page(quotes: Sequence[Quote], first_number: int) -> tuple[str, int]:
    """The first message of `quotes` (what one edited message can show) and how many quotes it holds."""
    first = pack([render_quote(quote, first_number + i) for i, quote in enumerate(quotes)])[0]
    return BLOCK_SEPARATOR.join(first), len(first)


def answer_keyboard(key: str, first: int, count: int, *, more: bool) -> InlineKeyboardMarkup:
    """A "Context n" button per quote shown (n = first+1 .. first+count), then "More" if there is more."""
    buttons = [
        InlineKeyboardButton(f"Context {i + 1}", callback_data=f"c:{key}:{i}") for i in range(first, first + count)
    ]
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    if more:
        rows.append([InlineKeyboardButton("More ▸", callback_data=f"m:{key}:{first + count}")])
    return InlineKeyboardMarkup(rows)


def examples_keyboard(examples: Sequence[str]) -> InlineKeyboardMarkup:
    """One button per example question under the /start greeting."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(cut(text, 60), callback_data=f"x::{i}")] for i, text in enumerate(examples)]
    )


def render_not_found(answer: Answer) -> str:
    """The reply when the articles do not answer: says so and echoes the question."""
    question = html.escape(cut(answer.question.strip(), QUESTION_ECHO_LIMIT))
    lines = [f"I found no sentence in the articles that answers “{question}”."]
    if answer.reason:
        lines.append(f"<i>{html.escape(cut(answer.reason, TITLE_LIMIT))}</i>")
    lines.append("Try other words, or see /help.")
    return "\n".join(lines)


def render_context(quote: Quote, number: int, before: Sequence[str], after: Sequence[str]) -> str:
    """A quote in bold with the sentences around it, cut at both ends if it would not fit one message."""
    head = [f"Context of quote {number}: <i>{html.escape(quote.source)}</i>"]
    if quote.date:
        head.append(_date(quote.date))
    header = " · ".join(head)
    room = MESSAGE_LIMIT - visible_length(header) - 2
    core = cut(quote.text, QUOTE_LIMIT)
    side = max((room - utf16_len(core) - 2) // 2, 0)
    before_text = " ".join(before)
    after_text = " ".join(after)
    before_text = cut(before_text, side, keep_end=True)
    after_text = cut(after_text, side)
    body = " ".join(
        part for part in (html.escape(before_text), f"<b>{html.escape(core)}</b>", html.escape(after_text)) if part
    )
    return f"{header}\n<blockquote>{body}</blockquote>"


def render_welcome(
    articles: int, first: dt.date | None, last: dt.date | None, examples: Sequence[str], bot_username: str
) -> str:
    """The /start greeting: what Verbatim is, what it knows and two questions to try."""
    if first and last:
        span = f" from {_date(first)} to {_date(last)}" if first != last else f" from {_date(first)}"
    else:
        span = ""
    noun = "article" if articles == 1 else "articles"
    tries = "\n".join(f"• {html.escape(example)}" for example in examples)
    return (
        "<b>Verbatim</b> answers questions about a news archive with sentences copied word for word "
        "from its articles, never in its own words. Every quote names its article and date.\n\n"
        f"I know <b>{articles}</b> {noun}{span}.\n\n"
        f"Try:\n{tries}\n\n"
        f"Send a question, tap an example below, or see /help. Inline: @{html.escape(bot_username)} question"
    )


def render_help(bot_username: str) -> str:
    """The /help text: how to ask, the buttons, groups and inline mode."""
    name = html.escape(bot_username)
    return (
        "<b>Ask</b>: send any question as a message. The answer is made only of sentences copied from the "
        "articles; each quote shows its article, date and title, and the words matching your question are "
        "<b>bold</b>. When the articles do not answer, I say so.\n\n"
        "<b>Buttons</b>: <i>More</i> shows the next quotes, <i>Context</i> the sentences around a quote.\n\n"
        f"<b>Groups</b>: <code>/ask@{name} question</code>, a reply to one of my messages, or a mention of "
        f"@{name}.\n\n"
        f"<b>Any chat</b>: type <code>@{name} question</code> and pick a quote to share it.\n\n"
        "/start what I know · /help this message · /ask a question"
    )


def render_inline_quote(question: str, quote: Quote) -> str:
    """The message an inline result posts: the question, then the quote with its citation."""
    return f"❓ {html.escape(cut(question.strip(), QUESTION_ECHO_LIMIT))}\n{render_quote(quote)}"


def inline_results(question: str, quotes: Sequence[Quote], first: int) -> list[InlineQueryResultArticle]:
    """Inline-mode results for quotes numbered from `first` (their ids, unique across pages)."""
    return [
        InlineQueryResultArticle(
            id=str(first + number),
            title=cut(quote.text, 100),
            description=quote.source + (f" · {_date(quote.date)}" if quote.date else ""),
            input_message_content=InputTextMessageContent(render_inline_quote(question, quote)),
        )
        for number, quote in enumerate(quotes)
    ]
