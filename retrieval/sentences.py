"""Sentences with nltk's Punkt, trained offline on the corpus, each located by its character offsets."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from nltk.tokenize.punkt import PunktLanguageVars, PunktParameters, PunktSentenceTokenizer, PunktToken, PunktTrainer

from retrieval.cleaning import blocks, drop_cap_length
from retrieval.models import Article, Sentence, SentenceKind

# Abbreviations Punkt cannot learn from a small corpus; lower case, without the final period.
ABBREVIATIONS = frozenset(
    """u.s u.k u.n e.u u.s.a e.g i.e etc vs mr mrs ms dr prof gen lt col maj capt sgt adm cmdr gov sen rep
    pres st jr sr inc corp co ltd plc bros dept univ no nos fig approx est jan feb mar apr jun jul aug sep sept
    oct nov dec mon tue wed thu fri sat sun a.m p.m ft mt pct""".split()
) | frozenset("abcdefghijklmnopqrstuvwxyz")  # initials: "John F. Kennedy"

TRAINING_CHARS = 2_000_000  # Punkt learns enough from a couple of megabytes; more only costs time
MAX_QUOTED_SENTENCES = 3  # a quotation longer than this is split anyway (an unclosed quote is a typo)
_CLAUSE = re.compile(r"[;:,]\s")
_CLOSERS = "\"'”’»)]"


def _untimed(pattern: Any) -> Any:
    """The compiled pattern behind nltk's time limit (nltk 3.10 wraps each of its patterns in one), else itself."""
    return getattr(pattern, "_rx", pattern)


class _English(PunktLanguageVars):
    """Punkt's English conventions, its patterns matched by their own engine without nltk's per-call time limit,
    which costs more than the matching. The limit also stops a pathological text making a pattern backtrack for
    long (Punkt's pattern once had such a case, nltk #2866); without it such a text would take that long here."""

    __slots__ = ()
    re_boundary_realignment = _untimed(PunktLanguageVars.re_boundary_realignment)

    def _word_tokenizer_re(self) -> Any:
        return _untimed(super()._word_tokenizer_re())

    def period_context_re(self) -> Any:
        return _untimed(super().period_context_re())


class _Token(PunktToken):
    """Punkt's token, its patterns untimed like _English's, its annotations set without a loop over their names."""

    _RE_ELLIPSIS = _untimed(PunktToken._RE_ELLIPSIS)
    _RE_NUMERIC = _untimed(PunktToken._RE_NUMERIC)
    _RE_INITIAL = _untimed(PunktToken._RE_INITIAL)
    _RE_ALPHA = _untimed(PunktToken._RE_ALPHA)

    def __init__(
        self,
        tok: str,
        parastart: bool | None = None,
        linestart: bool | None = None,
        sentbreak: bool | None = None,
        abbr: bool | None = None,
        ellipsis: bool | None = None,
    ) -> None:
        self.tok = tok
        self.type = self._RE_NUMERIC.sub("##number##", tok.lower())
        self.period_final = tok.endswith(".")
        self.parastart = parastart
        self.linestart = linestart
        self.sentbreak = sentbreak
        self.abbr = abbr
        self.ellipsis = ellipsis


class _Splitter(PunktSentenceTokenizer):
    """Punkt's sentence splitting, answering at once for a text where nothing could end a sentence."""

    def span_tokenize(self, text: str, realign_boundaries: bool = True) -> Iterator[tuple[int, int]]:
        """Punkt's spans; without a possible sentence break (most news paragraphs hold one sentence), the
        text up to its trailing white space, as Punkt's own steps would find."""
        if realign_boundaries and self._lang_vars.period_context_re().search(text) is None:
            end = len(text.rstrip())
            return iter([(0, end)] if end else [])
        return super().span_tokenize(text, realign_boundaries)


def sentence_tokenizer(params: PunktParameters) -> PunktSentenceTokenizer:
    """Punkt splitting with `params` (make one to split many texts: it compiles Punkt's patterns)."""
    return _Splitter(params, lang_vars=_English(), token_cls=_Token)


def train_punkt(texts: Iterable[str]) -> PunktParameters:
    """Punkt parameters learned from (the first megabytes of) the corpus, plus the known abbreviations."""
    trainer = PunktTrainer(lang_vars=_English(), token_cls=_Token)
    for text in training_texts(texts):
        trainer.train(text, finalize=False)
    trainer.finalize_training()
    params = trainer.get_params()
    params.abbrev_types.update(ABBREVIATIONS)
    return params


def training_texts(texts: Iterable[str]) -> Iterator[str]:
    """What train_punkt reads of the corpus: its first TRAINING_CHARS characters, article by article."""
    budget = TRAINING_CHARS
    for text in texts:
        if budget <= 0:
            break
        yield text[:budget]
        budget -= len(text)


def training_digest(texts: Iterable[str]) -> str:
    """A digest of what train_punkt reads: equal digests, equal parameters."""
    digest = hashlib.sha256()
    for text in training_texts(texts):
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()


Span = tuple[int, int, int, SentenceKind]  # a sentence's start, end, paragraph (counted from 0) and kind


def split_sentences(
    article: Article,
    article_index: int,
    params: PunktParameters | PunktSentenceTokenizer,
    max_chars: int,
    first_paragraph: int,
    clean: bool = True,
) -> list[Sentence]:
    """The sentences of one article, of every kind; body blocks count as paragraphs from `first_paragraph`.

    With `clean` off every block is body text and drop caps stay (to measure what cleaning is worth). Give a
    tokenizer rather than parameters to split many articles: making one compiles Punkt's regular expressions."""
    punkt = params if isinstance(params, PunktSentenceTokenizer) else sentence_tokenizer(params)
    text = article.text
    return [
        Sentence(article_index, start, end, text[start:end], first_paragraph + paragraph, position, kind)
        for position, (start, end, paragraph, kind) in enumerate(sentence_spans(text, punkt, max_chars, clean))
    ]


def sentence_spans(text: str, punkt: PunktSentenceTokenizer, max_chars: int, clean: bool = True) -> list[Span]:
    """split_sentences as plain tuples, for indexing: making a Sentence of each sentence of the archive costs
    about 4 us a sentence, a fifth of what finding it costs."""
    found: list[Span] = []
    paragraph = 0
    for number, block in enumerate(blocks(text)):
        kind = block.kind if clean else SentenceKind.BODY
        start = block.start + (drop_cap_length(text, block.start) if number == 0 and clean else 0)
        spans = _merge(text, [(start + s, start + e) for s, e in punkt.span_tokenize(text[start : block.end])])
        for span_start, span_end in spans:
            for piece_start, piece_end in _clauses(text, span_start, span_end, max_chars):
                found.append((piece_start, piece_end, paragraph, kind))
        if kind is SentenceKind.BODY:
            paragraph += 1
    return found


def _merge(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Undo splits inside one sentence: before a lower-case word or a lone closing quote, and inside a
    quotation that runs over several sentences, so the quotation keeps its attribution ("..., he said.")."""
    merged: list[tuple[int, int]] = []
    joined = 0  # sentences joined into the last one because a quotation was open
    for start, end in spans:
        piece = text[start:end]
        continues = piece[0].islower() or piece.strip(_CLOSERS + " ") == "" or piece[0] in ",;:"
        quoting = bool(merged) and joined < MAX_QUOTED_SENTENCES and _open_quote(text[merged[-1][0] : merged[-1][1]])
        if merged and (continues or quoting):
            merged[-1] = (merged[-1][0], end)
            joined += 1 if quoting and not continues else 0
        else:
            merged.append((start, end))
            joined = 0
    return merged


def _open_quote(sentence: str) -> bool:
    """Whether a quotation opened in `sentence` is still open at its end."""
    if "“" in sentence or "”" in sentence:
        return sentence.count("“") > sentence.count("”")
    return sentence.count('"') % 2 == 1


def _clauses(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Split an overlong sentence at clause boundaries (; : ,) into pieces of at most `max_chars`."""
    while end - start > max_chars:
        cut = None
        for match in _CLAUSE.finditer(text, start + max_chars // 4, start + max_chars):
            cut = match.start() + 1
        if cut is None:  # no clause boundary: cut at the last space
            space = text.rfind(" ", start + 1, start + max_chars)
            cut = space if space > start else start + max_chars
        yield start, cut
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield start, end
