"""The articles of an index on disk, read on demand: texts in one UTF-8 file, metadata as JSON lines.

Loading an index must not read the archive: at a million sentences the texts alone are ~170 MB. A question reads
the few articles it quotes (see stored_array for why they are read rather than memory-mapped)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import overload

import numpy as np

from retrieval.models import Article
from retrieval.stored_array import StoredBytes

TEXTS = "texts.bin"
TEXT_OFFSETS = "text_offsets.npy"  # byte offsets: article i is texts[offsets[i]:offsets[i + 1]]
META = "articles.jsonl"
META_OFFSETS = "article_offsets.npy"
ID_ORDER = "article_id_order.npy"  # article numbers sorted by id, for looking an id up
DATES = "article_dates.npy"  # proleptic Gregorian ordinals, 0 for undated


def write_articles(directory: Path, articles: Sequence[Article]) -> None:
    """Write the articles' texts and metadata into `directory`."""
    text_offsets = [0]
    meta_offsets = [0]
    with (directory / TEXTS).open("wb") as texts, (directory / META).open("wb") as meta:
        for article in articles:
            text_offsets.append(text_offsets[-1] + texts.write(article.text.encode("utf-8", "surrogatepass")))
            record = {
                "id": article.id,
                "source": article.source,
                "date": article.date.isoformat() if article.date else None,
                "title": article.title,
                "url": article.url,
            }
            meta_offsets.append(meta_offsets[-1] + meta.write(json.dumps(record).encode() + b"\n"))
    np.save(directory / TEXT_OFFSETS, np.array(text_offsets, dtype=np.int64))
    np.save(directory / META_OFFSETS, np.array(meta_offsets, dtype=np.int64))
    order = sorted(range(len(articles)), key=lambda number: articles[number].id)
    np.save(directory / ID_ORDER, np.array(order, dtype=np.int32))
    dates = [article.date.toordinal() if article.date else 0 for article in articles]
    np.save(directory / DATES, np.array(dates, dtype=np.int32))


class ArticleTable(Sequence[Article]):
    """The articles written by `write_articles`, each read when asked for."""

    def __init__(self, directory: Path) -> None:
        self._texts = StoredBytes(directory / TEXTS)
        self._text_offsets = np.load(directory / TEXT_OFFSETS)
        self._meta = StoredBytes(directory / META)
        self._meta_offsets = np.load(directory / META_OFFSETS)
        self._order = np.load(directory / ID_ORDER)
        self._dates = np.load(directory / DATES)
        if not len(self._text_offsets) == len(self._meta_offsets) == len(self._order) + 1 == len(self._dates) + 1:
            raise ValueError(f"the article files in {directory} disagree on the number of articles")
        if self._text_offsets[-1] != self._texts.size or self._meta_offsets[-1] != self._meta.size:
            raise ValueError(f"the article files in {directory} do not match their offsets")

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, number: int) -> Article: ...

    @overload
    def __getitem__(self, number: slice) -> list[Article]: ...

    def __getitem__(self, number: int | slice) -> Article | list[Article]:
        if isinstance(number, slice):
            return [self[i] for i in range(*number.indices(len(self)))]
        if number < 0:
            number += len(self)
        if not 0 <= number < len(self):
            raise IndexError(f"article {number} of {len(self)}")
        record = self._record(number)
        date = record["date"]
        return Article(
            id=str(record["id"]),
            source=str(record["source"]),
            text=self.text(number),
            date=dt.date.fromisoformat(date) if date else None,
            title=record["title"],
            url=record["url"],
        )

    def text(self, number: int) -> str:
        """The text of article `number`."""
        start, end = int(self._text_offsets[number]), int(self._text_offsets[number + 1])
        return self._texts.read(start, end).decode("utf-8", "surrogatepass")  # JSON may hold lone surrogates

    def number(self, article_id: str) -> int | None:
        """The number of the article with this id (the last one, should ids repeat); None when there is none."""
        low, high = 0, len(self._order)
        while low < high:  # the first position whose id sorts after article_id
            middle = (low + high) // 2
            if str(self._record(int(self._order[middle]))["id"]) <= article_id:
                low = middle + 1
            else:
                high = middle
        if low and self._record(int(self._order[low - 1]))["id"] == article_id:
            return int(self._order[low - 1])
        return None

    def date_range(self) -> tuple[dt.date | None, dt.date | None]:
        """The first and last article dates, (None, None) when no article is dated."""
        dated = np.asarray(self._dates)
        dated = dated[dated > 0]
        if not len(dated):
            return None, None
        return dt.date.fromordinal(int(dated.min())), dt.date.fromordinal(int(dated.max()))

    def _record(self, number: int) -> dict[str, str | None]:
        start, end = int(self._meta_offsets[number]), int(self._meta_offsets[number + 1])
        record: dict[str, str | None] = json.loads(self._meta.read(start, end))
        return record
