"""Answers for the terminal: readable text (with emphasis and colour on a terminal) and the JSON shape."""

from __future__ import annotations

from typing import Any

from retrieval.models import Answer, Quote

BOLD, DIM, CYAN, YELLOW, RESET = "\033[1m", "\033[2m", "\033[36m", "\033[33m", "\033[0m"


def refusal_to_json(question: str, error: Exception) -> dict[str, Any]:
    """The JSON line of a question that could not be asked: no quotes, and why."""
    # A line that was not UTF-8 holds surrogates standing for its bytes; JSON output must be valid UTF-8.
    shown = question.strip().encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return {"question": shown, "abstained": True, "quotes": [], "error": str(error)}


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """The documented JSON shape of `verbatim ask --json`."""
    return {
        "question": answer.question,
        "abstained": answer.abstained,
        "quotes": [quote_to_json(quote) for quote in answer.quotes],
    }


def quote_to_json(quote: Quote) -> dict[str, Any]:
    """One quote in the JSON shape."""
    return {
        "text": quote.text,
        "source": quote.source,
        "date": quote.date.isoformat() if quote.date else None,
        "title": quote.title,
        "score": quote.score,
        "confidence": quote.confidence.value,
        "context_before": quote.context_before,
        "context_after": quote.context_after,
        "also_in": [
            {"source": other.source, "date": other.date.isoformat() if other.date else None} for other in quote.also_in
        ],
    }


def render_text(answer: Answer, color: bool = False, first: int = 1) -> str:
    """An answer for a person reading a terminal; quotes are numbered from `first`."""
    if answer.abstained:
        reason = answer.reason or "not found in the articles"
        return f"{_paint('No answer', YELLOW, color)}: {reason}.\nQuestion: {answer.question}"
    if not answer.quotes:
        return "No more quotes for this question."
    return "\n\n".join(render_quote(quote, number, color) for number, quote in enumerate(answer.quotes, start=first))


def render_quote(quote: Quote, number: int, color: bool = False) -> str:
    """One numbered quote with its source, date, title, confidence and corroborating articles."""
    date = quote.date.isoformat() if quote.date else "undated"
    lines = [
        f"{number}. {_emphasise(quote, color)}",
        "   " + _paint(f"— {quote.source}, {date}", CYAN, color) + (f" · {quote.title}" if quote.title else ""),
        "   " + _paint(f"confidence {quote.confidence.value} · score {quote.score:.3f}", DIM, color),
    ]
    if quote.also_in:
        others = ", ".join(f"{o.source} ({o.date.isoformat() if o.date else 'undated'})" for o in quote.also_in)
        lines.append("   " + _paint(f"also in: {others}", DIM, color))
    return "\n".join(lines)


def render_context(quote: Quote, before: list[str], after: list[str], color: bool = False) -> str:
    """A quote shown among its neighbouring sentences."""
    middle = _paint(quote.text, BOLD, color)
    return "\n".join([*(f"  {s}" for s in before), f"> {middle}", *(f"  {s}" for s in after)])


def _emphasise(quote: Quote, color: bool) -> str:
    if not color or not quote.highlights:
        return quote.text
    parts, last = [], 0
    for start, end in sorted(quote.highlights):
        if start < last:
            continue
        parts += [quote.text[last:start], BOLD, quote.text[start:end], RESET]
        last = end
    parts.append(quote.text[last:])
    return "".join(parts)


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{RESET}" if color else text
