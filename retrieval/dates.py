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
_WEEKDAY = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"
# One date in any of the three forms; `_PARTS` names its parts.
_PARTS = re.compile(
    r"(?P<iy>(?:19|20)\d\d)-(?P<im>\d\d)-(?P<id>\d\d)"
    r"|(?P<mm>[A-Za-z]{3,9})\.? (?P<md>\d{1,2}),? (?P<my>(?:19|20)\d\d)"
    r"|(?P<dd>\d{1,2}) (?P<dm>[A-Za-z]{3,9}) (?P<dy>(?:19|20)\d\d)",
    re.IGNORECASE,
)
_DATE = rf"{_WEEKDAY}(?:{re.sub(r'[?]P<[a-z]+>', '', _PARTS.pattern)})(?!\d)"
# A time of day after the date: "10:00 AM", "T10:00:00Z", "14:30 GMT".
_TIME = (
    r"(?:(?:T|,?\s+(?:at\s+)?)\d{1,2}:\d\d(?::\d\d)?(?:\.\d+)?"  # T10:00:00, " 10:00", ", at 10:00:00.5"
    r"\s*(?:[ap]\.?m\.?)?\s*(?:Z|[+-]\d\d:?\d\d|[A-Z]{2,4})?)?"  # AM, p.m., Z, +01:00, GMT
)
# What may end a dateline: the end of the line, a dash or a colon before the text, a bar before more metadata.
_END = r"\s*(?:$|[-—–:|])"
# A dateline is a line of its own at the top of an article: a labelled date ("date 2022-10-20", "Published: 9
# September 2024"), a byline and a date ("By Jane Doe, October 20, 2022"), a place and a date before a dash
# ("BRUSSELS, October 20, 2022 - ...", "LONDON (Reuters) - October 20, 2022"), or a date alone (with a time, before
# a dash or the end of the line). A date inside a sentence is an event, never a publication date.
_DATELINE = re.compile(
    rf"^(?:(?:date|dated|published|posted|updated)\b:?\s*(?:on\s+)?{_DATE}"
    rf"|by\s+[^,|]{{1,60}}[,|]\s*{_DATE}{_TIME}{_END}"
    rf"|[A-Z][\w .'’-]{{0,40}},\s*{_DATE}{_TIME}\s*(?:\([\w ]+\)\s*)?[-—–:]"
    rf"|[A-Z][\w .'’-]{{0,40}}\s*\([\w ]+\)\s*[-—–]\s*{_DATE}{_TIME}{_END}"
    rf"|{_DATE}{_TIME}{_END})",
    re.IGNORECASE,
)

# Only the opening of an article is a dateline: its first few lines, within the first characters.
DATELINE_CHARS = 400
DATELINE_LINES = 5


def parse_date(text: str) -> dt.date | None:
    """An ISO date ("2022-10-20"), or None when `text` is not one."""
    match = _ISO.fullmatch(text.strip())
    if not match:
        return None
    return _make(int(match[1]), int(match[2]), int(match[3]))


def find_dateline(text: str) -> dt.date | None:
    """The explicit date at the top of an article ("date 2022-10-20", "BRUSSELS, October 20, 2022 -"), if any."""
    lines = [line.strip() for line in text[:DATELINE_CHARS].splitlines() if line.strip()]
    for line in lines[:DATELINE_LINES]:
        found = _DATELINE.match(line)
        match = _PARTS.search(found.group()) if found else None
        if match is None:
            continue
        if match["iy"]:
            date = _make(int(match["iy"]), int(match["im"]), int(match["id"]))
        elif match["my"]:
            date = _month_date(match["my"], match["mm"], match["md"])
        else:
            date = _month_date(match["dy"], match["dm"], match["dd"])
        if date is not None:
            return date
    return None


def _month_date(year: str, month: str, day: str) -> dt.date | None:
    number = _MONTHS.get(month.lower())
    return _make(int(year), number, int(day)) if number else None


def _make(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
