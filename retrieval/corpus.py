"""Loading articles: plain text, Markdown with front matter, JSON lines (gzipped or not), and a manifest."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from retrieval.dates import find_dateline, parse_date
from retrieval.models import Article

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
TEXT_SUFFIXES = (".txt", ".md", ".markdown")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
MAX_FILE_BYTES = 2_000_000_000


class CorpusError(Exception):
    """The corpus as a whole cannot be read (missing, empty, not a corpus)."""


@dataclass(frozen=True)
class CorpusProblem:
    """One article or manifest entry that could not be used; the others still load."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ManifestEntry:
    """What the manifest says of one file: its date and title."""

    date: str | None
    title: str | None
    url: str | None
    line: int = 0  # its line in the manifest


@dataclass(frozen=True)
class Corpus:
    """The articles that loaded, and what went wrong with the rest."""

    articles: tuple[Article, ...]
    problems: tuple[CorpusProblem, ...]


def corpus_files(path: Path) -> list[Path]:
    """The article files of a corpus: one file, or every supported file under a directory, sorted."""
    if not path.exists():
        raise CorpusError(f"corpus not found: {path}")
    if path.is_file():
        if not _supported(path):
            raise CorpusError(f"unsupported corpus file {path} (use .txt, .md, .jsonl or .jsonl.gz)")
        return [path]
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and _supported(p) and p.name != MANIFEST and not _hidden(p.relative_to(path))
    )
    if not files:
        raise CorpusError(f"no articles in {path} (expected .txt, .md, .jsonl or .jsonl.gz files)")
    return files


def load_corpus(path: Path) -> Corpus:
    """Read every article under `path`; bad files and lines become problems, never stop the others."""
    files = corpus_files(path)
    root = path if path.is_dir() else path.parent
    problems: list[CorpusProblem] = []
    manifest = _read_manifest(root / MANIFEST, problems) if path.is_dir() else {}
    articles: list[Article] = []
    seen: dict[str, str] = {}
    for file in files:
        name = file.relative_to(root).as_posix()
        for article in _read_file(file, name, manifest.get(name), problems):
            # The same text, whatever its line breaks and spacing: a .txt copy of a JSON line is a duplicate too.
            digest = hashlib.sha1(" ".join(article.text.split()).encode("utf-8")).hexdigest()
            if digest in seen:
                problems.append(CorpusProblem(article.source, None, f"duplicate of {seen[digest]}, skipped"))
                continue
            seen[digest] = article.source
            articles.append(article)
    names = {file.relative_to(root).as_posix() for file in files}
    for name, entry in manifest.items():
        if name not in names:
            why = "a hidden file, not read" if _hidden(Path(name)) and (root / name).exists() else "no such file"
            problems.append(CorpusProblem(MANIFEST, entry.line, f"{name!r}: {why}, entry unused"))
    for problem in problems:
        log.warning("%s", problem)
    if not articles:
        raise CorpusError(f"no readable articles in {path}" + (f" ({problems[0]})" if problems else ""))
    return Corpus(tuple(articles), tuple(problems))


def _supported(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(TEXT_SUFFIXES + JSONL_SUFFIXES)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _read_manifest(path: Path, problems: list[CorpusProblem]) -> dict[str, ManifestEntry]:
    if not path.exists():
        return {}
    entries: dict[str, ManifestEntry] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        problems.append(CorpusProblem(MANIFEST, None, f"unreadable manifest: {error}"))
        return {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("file"), str):
                raise ValueError('expected an object with a "file" name')
            date, title, url = record.get("date"), record.get("title"), record.get("url")
            if date is not None and (not isinstance(date, str) or parse_date(date) is None):
                raise ValueError(f"date must be YYYY-MM-DD or null, got {date!r}")
            for key, value in (("title", title), ("url", url)):
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"{key} must be a string or null")
        except ValueError as error:
            problems.append(CorpusProblem(MANIFEST, number, f"malformed entry ignored: {error}"))
            continue
        entries[record["file"]] = ManifestEntry(date, title, url, number)
    return entries


def _read_file(file: Path, name: str, entry: ManifestEntry | None, problems: list[CorpusProblem]) -> Iterator[Article]:
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            problems.append(CorpusProblem(name, None, "file too large, skipped"))
            return
        if file.name.lower().endswith(JSONL_SUFFIXES):
            yield from _read_jsonl(file, name, problems)
            return
        data = file.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        problems.append(CorpusProblem(name, None, f"cannot read file: {error}"))
        return
    text = _decode(data, name, problems)
    if text is None:
        return
    title: str | None = None
    date: str | None = None
    url: str | None = None
    date_line = 0
    if file.suffix.lower() in (".md", ".markdown"):
        parsed = _front_matter(text, name, problems)
        if parsed is None:
            return
        text, meta, date_line = parsed
        title, date, url = meta.get("title"), meta.get("date"), meta.get("url")
    if not text.strip():
        problems.append(CorpusProblem(name, None, "empty article, skipped"))
        return
    article = _article(name, name, text, title, date, url, name, date_line or None, problems)
    if article is not None:
        yield _apply_manifest(article, entry)


def _decode(data: bytes, name: str, problems: list[CorpusProblem]) -> str | None:
    if b"\x00" in data[:8192]:
        problems.append(CorpusProblem(name, None, "binary file, skipped"))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        problems.append(CorpusProblem(name, None, f"not UTF-8 (bad byte at offset {error.start}), skipped"))
        return None
    return text.removeprefix("\ufeff")


def _front_matter(text: str, name: str, problems: list[CorpusProblem]) -> tuple[str, dict[str, str], int] | None:
    """Split "---\\n<YAML>\\n---\\nbody" into the body, its title, date and url as text, and the line of the date;
    None (a problem naming the file) when the block is never closed. A block that is not valid YAML is a problem
    naming its line, and the body still loads, without what the block said."""
    if not text.startswith("---\n") and not text.startswith("---\r\n"):
        return text, {}, 0
    lines = text.splitlines(keepends=True)
    close = next((i for i, line in enumerate(lines[1:], start=1) if line.strip() in ("---", "...")), None)
    if close is None:
        problems.append(CorpusProblem(name, 1, "front matter is never closed with '---', skipped"))
        return None
    body = "".join(lines[close + 1 :])
    try:
        # BaseLoader keeps every value as written (text): a date is ours to read, not YAML's.
        data = yaml.load("".join(lines[1:close]), Loader=yaml.BaseLoader)  # builds no objects, only text
    except yaml.YAMLError as error:
        # Titles often hold an unquoted ": " or "&" that YAML refuses; one "key: value" a line still reads them.
        data = _key_values(lines[1:close])
        if data is None:
            mark = getattr(error, "problem_mark", None)
            line = 2 + mark.line if mark is not None else 1
            why = getattr(error, "problem", None) or "not YAML"
            problems.append(CorpusProblem(name, line, f"malformed front matter ({why}); title, date and url not read"))
            return body, {}, 0
    if data is None:
        return body, {}, 0
    if not isinstance(data, dict) or not all(_KEY.fullmatch(str(key)) for key in data):
        # Prose between two rules ("---"), not keys: the whole file is the article.
        return text, {}, 0
    meta: dict[str, str] = {}
    for key, given in data.items():
        wanted = str(key).lower()
        if wanted not in ("title", "date", "url") or given is None:
            continue  # tags, authors, layout and the like: not ours
        if not isinstance(given, str):  # a list or a table
            problems.append(CorpusProblem(name, _key_line(lines, close, wanted), f"front matter {wanted} is not text"))
            continue
        meta[wanted] = given.strip()
    return body, meta, _key_line(lines, close, "date")


_KEY = re.compile(r"[\w-]+")
_KEY_VALUE = re.compile(r"([\w-]+)\s*:(.*)")


def _key_values(lines: Sequence[str]) -> dict[str, str] | None:
    """Front matter read as one "key: value" a line (indented lines and list items belong to the key before);
    None when a line is neither."""
    found: dict[str, str] = {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#") or line[:1].isspace() or line.startswith("- "):
            continue
        match = _KEY_VALUE.fullmatch(line.strip())
        if match is None:
            return None
        found[match[1]] = match[2].strip().strip("\"'")
    return found or None  # nothing but indented lines is no key at all


def _key_line(lines: Sequence[str], close: int, key: str) -> int:
    """The line number of a front matter key (1 when it cannot be found)."""
    pattern = re.compile(rf"{key}\s*:", re.IGNORECASE)
    return next((i + 1 for i in range(1, close) if pattern.match(lines[i])), 1)


def _read_jsonl(file: Path, name: str, problems: list[CorpusProblem]) -> Iterator[Article]:
    opener = gzip.open if file.name.lower().endswith(".gz") else open
    ids: dict[str, int] = {}  # id -> its line: sources are file#id, so an id names one article
    with opener(file, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                problems.append(CorpusProblem(name, number, f"malformed JSON line skipped: {error}"))
                continue
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                problems.append(CorpusProblem(name, number, 'line skipped: expected an object with a "text"'))
                continue
            if not record["text"].strip():
                problems.append(CorpusProblem(name, number, "empty article, skipped"))
                continue
            ident = str(record.get("id") or number)
            if record.get("id") and ident in ids:  # a line without an id is named by its line number
                problems.append(
                    CorpusProblem(name, number, f"duplicate id {ident!r} (first on line {ids[ident]}), skipped")
                )
                continue
            if record.get("id"):
                ids[ident] = number
            fields = {key: record.get(key) for key in ("title", "date", "url")}
            if any(value is not None and not isinstance(value, str) for value in fields.values()):
                problems.append(CorpusProblem(name, number, "line skipped: title, date and url must be strings"))
                continue
            article = _article(
                f"{name}#{ident}",
                f"{name}#{ident}",
                record["text"],
                fields["title"],
                fields["date"],
                fields["url"],
                name,
                number,
                problems,
            )
            if article is not None:
                yield article


def _article(
    ident: str,
    source: str,
    text: str,
    title: str | None,
    date: str | None,
    url: str | None,
    name: str,
    line: int | None,
    problems: list[CorpusProblem],
) -> Article | None:
    parsed = parse_date(date[:10]) if date else None
    found = parsed or find_dateline(text)
    if date and parsed is None:
        instead = f"the dateline's {found.isoformat()} used" if found else "treated as undated"
        problems.append(CorpusProblem(name, line, f"unreadable date {date!r}; {instead}"))
    return Article(ident, source, text, found, title or None, url or None)


def _apply_manifest(article: Article, entry: ManifestEntry | None) -> Article:
    if entry is None:
        return article
    return replace(
        article,
        date=parse_date(entry.date) if entry.date else article.date,
        title=entry.title or article.title,
        url=entry.url or article.url,
    )
