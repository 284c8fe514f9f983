"""Publication dates: parsing the forms articles and manifests use, and finding an explicit dateline."""

from __future__ import annotations

import datetime as dt
import re

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_ISO = re.compile(r"\b((?:19|20)\d\d)-(\d\d)-(\d\d)\b")
_MONTH_DAY_YEAR = re.compile(r"\b([A-Z][a-z]{2,8})\.? (\d{1,2}), ((?:19|20)\d\d)\b")
_DAY_MONTH_YEAR = re.compile(r"\b(\d{1,2}) ([A-Z][a-z]{2,8}) ((?:19|20)\d\d)\b")

# Only the opening of an article is a dateline; a date further down is an event, not a publication date.
DATELINE_CHARS = 400


def parse_date(text: str) -> dt.date | None:
    """An ISO date ("2022-10-20"), or None when `text` is not one."""
    match = _ISO.fullmatch(text.strip())
    if not match:
        return None
    return _make(int(match[1]), int(match[2]), int(match[3]))


def find_dateline(text: str) -> dt.date | None:
    """The explicit date at the top of an article ("date 2022-10-20", "October 20, 2022"), if any."""
    head = text[:DATELINE_CHARS]
    found: list[tuple[int, dt.date]] = []
    for match in _ISO.finditer(head):
        if (date := _make(int(match[1]), int(match[2]), int(match[3]))) is not None:
            found.append((match.start(), date))
    for match in _MONTH_DAY_YEAR.finditer(head):
        month = _MONTHS.get(match[1].lower())
        if month and (date := _make(int(match[3]), month, int(match[2]))) is not None:
            found.append((match.start(), date))
    for match in _DAY_MONTH_YEAR.finditer(head):
        month = _MONTHS.get(match[2].lower())
        if month and (date := _make(int(match[3]), month, int(match[1]))) is not None:
            found.append((match.start(), date))
    return min(found)[1] if found else None


def _make(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
