"""Reading articles for the index on every core: sentences split, tokenized and numbered, in batches of arrays."""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import TypeVar

import numpy as np
from nltk.tokenize.punkt import PunktParameters

from retrieval.cleaning import Lexicon, capitalised_words, glue_dependencies
from retrieval.models import Article, SentenceKind
from retrieval.records import BODY, KINDS, Records
from retrieval.sentences import Span, sentence_spans, sentence_tokenizer
from retrieval.term_arrays import TermArrays
from retrieval.tokenization import terms

BATCH_CHARS = 2_000_000  # text per task sent to a worker: large enough that sending the lexicon is cheap
PARALLEL_FROM_CHARS = 4_000_000  # smaller corpora are read in this process: starting workers costs more

T = TypeVar("T")
R = TypeVar("R")


def digest(article: Article) -> bytes:
    """What an article's records depend on (its id, title and text), in 16 bytes."""
    data = "\0".join((article.id, article.title or "", article.text)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


def capitalised_counts(articles: Sequence[Article]) -> Counter[str]:
    """How many articles use each capitalised word (the lexicon that repairs glued words)."""
    counts: Counter[str] = Counter()
    for article in articles:
        counts.update(capitalised_words(article.text))
    return counts


@dataclass(frozen=True)
class Reader:
    """Everything reading an article needs besides the article: sent along with every batch to a worker."""

    punkt: PunktParameters
    lexicon: frozenset[str] | None  # None: cleaning is off, glued words stay
    max_chars: int
    clean: bool

    def read(self, articles: Sequence[Article]) -> Records:
        """The records of a batch of articles, with term ids into the batch's own vocabulary."""
        tokenizer = sentence_tokenizer(self.punkt)
        lexicon = Lexicon(self.lexicon) if self.lexicon is not None else None
        view: Callable[[str], str] = lexicon.unglue if lexicon is not None else _as_is
        heads: dict[str, int] = {}
        sentence_counts, paragraph_counts, article_lengths, head_counts = [], [], [], []
        rows: list[tuple[int, int, int, int, int]] = []
        body_terms: list[str] = []
        body_lengths: list[int] = []
        whole_terms: list[str] = []
        head_ids: list[int] = []
        for article in articles:
            text = article.text
            spans = sentence_spans(text, tokenizer, self.max_chars, self.clean)
            found = [terms(view(text[start:end])) for start, end, _, _ in spans]
            for position, ((start, end, paragraph, kind), sentence_terms) in enumerate(zip(spans, found, strict=True)):
                kind_number = KINDS.index(kind)
                rows.append((start, end, position, kind_number, paragraph))
                if kind_number == BODY:
                    body_terms.extend(sentence_terms)
                    body_lengths.append(len(sentence_terms))
            whole = article_terms(article, spans, found, view)
            whole_terms.extend(whole)
            article_lengths.append(len(whole))
            sentence_counts.append(len(spans))
            paragraph_counts.append(_paragraphs(spans))
            dependencies = glue_dependencies(f"{article.title or ''}\n{text}") if lexicon is not None else ()
            head_ids.extend(heads.setdefault(word, len(heads)) for word in sorted(dependencies))
            head_counts.append(len(dependencies))
        # Terms numbered in order of first appearance, sentences first (dict and map run in C).
        vocabulary = list(dict.fromkeys(body_terms + whole_terms))
        number = {term: i for i, term in enumerate(vocabulary)}.__getitem__
        body_ids = np.fromiter(map(number, body_terms), dtype=np.int32, count=len(body_terms))
        article_ids = np.fromiter(map(number, whole_terms), dtype=np.int32, count=len(whole_terms))
        table = np.array(rows, dtype=np.int32).reshape(-1, 5)
        return Records(
            vocabulary=vocabulary,
            digests=np.frombuffer(b"".join(map(digest, articles)), dtype=np.uint8).reshape(-1, 16),
            sentence_offsets=_offsets(sentence_counts),
            start=table[:, 0].copy(),
            end=table[:, 1].copy(),
            position=table[:, 2].copy(),
            kind=table[:, 3].astype(np.int8),
            paragraph=table[:, 4].copy(),
            paragraph_counts=np.array(paragraph_counts, dtype=np.int32),
            body_terms=TermArrays(vocabulary, body_ids, _offsets(body_lengths)),
            article_terms=TermArrays(vocabulary, article_ids, _offsets(article_lengths)),
            heads=list(heads),
            head_ids=np.array(head_ids, dtype=np.int32),
            head_offsets=_offsets(head_counts),
        )


def article_terms(
    article: Article, spans: Sequence[Span], found: Sequence[Sequence[str]], view: Callable[[str], str]
) -> list[str]:
    """terms(view(title + "\\n" + text)): the article engine's document, from the sentences' terms when it can.

    No index term spans white space, so when every cut between sentences touches white space the text's terms
    are its pieces' terms in order; a cut inside a word (a drop cap, a clause split mid-word) falls back."""
    text = article.text
    whole = terms(view(article.title or ""))
    done = 0
    for (start, end, _, _), sentence_terms in zip(spans, found, strict=True):
        if not (_white_cut(text, start) and _white_cut(text, end)):
            return terms(view(f"{article.title or ''}\n{text}"))
        gap = text[done:start]
        if gap and not gap.isspace():
            whole.extend(terms(view(gap)))
        whole.extend(sentence_terms)
        done = end
    gap = text[done:]
    if gap and not gap.isspace():
        whole.extend(terms(view(gap)))
    return whole


def _as_is(text: str) -> str:
    return text


def _white_cut(text: str, at: int) -> bool:
    return at in (0, len(text)) or text[at - 1].isspace() or text[at].isspace()


def _paragraphs(spans: Sequence[Span]) -> int:
    """Body paragraphs of an article split from paragraph 0 (its trailing headings carry the next number)."""
    body = [paragraph for _, _, paragraph, kind in spans if kind is SentenceKind.BODY]
    return max(body) + 1 if body else 0


def _offsets(lengths: Sequence[int]) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def batches(articles: Sequence[Article], chars: int = BATCH_CHARS) -> Iterator[Sequence[Article]]:
    """Consecutive runs of articles holding about `chars` characters of text each."""
    first, size = 0, 0
    for number, article in enumerate(articles):
        size += len(article.text)
        if size >= chars:
            yield articles[first : number + 1]
            first, size = number + 1, 0
    if first < len(articles):
        yield articles[first:]


def workers_for(articles: Sequence[Article]) -> int:
    """How many processes should read these articles: every core for a large corpus, this one for a small."""
    if sum(len(article.text) for article in articles) < PARALLEL_FROM_CHARS:
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def worker_pool(workers: int) -> Iterator[Pool | None]:
    """Worker processes (None for one: work in this process), stopped on leaving, also on Ctrl-C."""
    if workers < 2:
        yield None
        return
    # Forked workers share this process's memory until they write to it; the collector would write to every
    # object it visits (the whole archive), so the objects that exist now are kept out of its sight.
    gc.freeze()
    try:
        pool = multiprocessing.get_context("fork").Pool(workers)
    finally:
        gc.unfreeze()
    with pool:
        yield pool


def mapped(pool: Pool | None, work: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """work(item) for every item, in order, in the pool's processes when there is a pool."""
    if pool is None:
        return map(work, items)
    return pool.imap(work, items)
