"""One tokenizer for articles and questions: normalise, split, fold case, drop stopwords, stem."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

from nltk.stem.snowball import EnglishStemmer

# nltk's English stopword list (nltk_data/corpora/stopwords/english), embedded because nltk's data downloader is
# unavailable offline. Negations ("not", "no", "nor") are kept as stopwords like nltk does; question words
# are stopwords for the index but still read by the answer-type cues.
STOPWORDS: frozenset[str] = frozenset(
    """a about above after again against ain all am an and any are aren aren't as at be because been before
    being below between both but by can couldn couldn't d did didn didn't do does doesn doesn't doing don don't
    down during each few for from further had hadn hadn't has hasn hasn't have haven haven't having he he'd
    he'll he's her here hers herself him himself his how i i'd i'll i'm i've if in into is isn isn't it it'd
    it'll it's its itself just ll m ma me mightn mightn't more most mustn mustn't my myself needn needn't no nor
    not now o of off on once only or other our ours ourselves out over own re s same shan shan't she she'd
    she'll she's should should've shouldn shouldn't so some such t than that that'll the their theirs them
    themselves then there these they they'd they'll they're they've this those through to too under until up
    ve very was wasn wasn't we we'd we'll we're we've were weren weren't what when where which while who whom
    why will with won won't wouldn wouldn't y you you'd you'll you're you've your yours yourself yourselves
    also would could may might must shall""".split()
)

# Typographic variants folded to ASCII before anything else, so “Iran’s” and "Iran's" are one word.
_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u00a0": " ",
    }
)

# A dotted acronym ("u.s."), a number with thousands separators or decimals ("1,000", "2.5"), or a word with
# inner hyphens or apostrophes ("Shahed-136", "Iran's"). \w covers every script, so non-Latin questions still get
# tokens. That is (?:[^\W\d_]\.){2,}|\d+(?:[.,]\d+)+|[^\W_]+(?:['-][^\W_]+)* with the first character of a match
# taken out in front (a lookbehind tells letter from digit): the regex engine then skips quickly to where one starts.
_WORD = re.compile(r"[^\W_](?:(?<=[^\W\d_])\.(?:[^\W\d_]\.)+|(?<=\d)\d*(?:[.,]\d+)+|[^\W_]*(?:['-][^\W_]+)*)")
# Upper-case acronyms that fold into a stopword ("US" -> "us") stay terms when written in capitals.
_KEEP_UPPER = frozenset({"us", "it", "who"})
_UPPER_KEPT = re.compile("|".join(word.upper() for word in sorted(_KEEP_UPPER)))
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")


@dataclass(frozen=True)
class Token:
    """A word of the original text: its index term and where it stands."""

    term: str
    start: int
    end: int


def normalise(text: str) -> str:
    """Fold typographic quotes, dashes, compatibility forms and case; keeps offsets: len(result) == len(text)."""
    folded = text.translate(_TRANSLATE)
    if folded.isascii():
        return folded.lower()
    # NFKC and lower() may change lengths ("ﬁ", "İ"): apply them per character only where the length holds.
    return "".join(_fold(c) for c in folded)


def _fold(char: str) -> str:
    lowered = unicodedata.normalize("NFKC", char).lower()
    return lowered if len(lowered) == 1 else char


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _STEMMER.stem(word)


_STEMMER = EnglishStemmer()


def _terms(word: str) -> Iterator[str]:
    """Index terms of one surface word (already lower-case and normalised)."""
    if word.endswith(".") and "." in word[:-1]:  # dotted acronym: "u.s." -> "us", never a stopword
        yield word.replace(".", "")
        return
    if word[0].isdigit():
        yield word.replace(",", "") if _THOUSANDS.match(word) else word
        return
    if word.endswith("'s"):
        word = word[:-2]
    word = word.rstrip("'")
    if "-" in word:
        parts = [part for part in word.split("-") if part and part not in STOPWORDS]
        # The whole compound ("shahed-136") is a rare, precise term; its parts match looser wording.
        yield "".join(parts) if len(parts) > 1 else (parts[0] if parts else word)
        for part in parts if len(parts) > 1 else ():
            yield from _terms(part)
        return
    if word in STOPWORDS or ("'" in word and word.split("'")[0] in STOPWORDS):
        return
    yield _stem(word)


def tokens(text: str) -> list[Token]:
    """Index terms of `text` with the character span of the word each comes from."""
    found: list[Token] = []
    for match in _WORD.finditer(normalise(text)):
        word = match.group()
        if word in _KEEP_UPPER and text[match.start() : match.end()].isupper():
            found.append(Token(word, match.start(), match.end()))
            continue
        for term in _terms(word):
            found.append(Token(term, match.start(), match.end()))
    return found


def terms(text: str) -> list[str]:
    """Index terms of `text`, in order, repeats kept (what BM25 counts)."""
    found = _WORD.findall(normalise(text))
    # "US" vs "us": only the spans tell, unless the text is ASCII without the capitals (the usual case).
    if not _KEEP_UPPER.isdisjoint(found) and not (text.isascii() and not _UPPER_KEPT.search(text)):
        return [token.term for token in tokens(text)]
    # The same as tokens() without the spans: indexing a million sentences spends most of its time here.
    return list(chain.from_iterable(map(_WORD_TERMS.__getitem__, found)))


class _TermsOfWords(dict[str, tuple[str, ...]]):
    """Surface word -> its index terms, each worked out once; emptied when full to bound its memory."""

    def __missing__(self, word: str) -> tuple[str, ...]:
        if len(self) >= _REMEMBERED_WORDS:
            self.clear()
        found = self[word] = tuple(_terms(word))
        return found


_REMEMBERED_WORDS = 500_000
_WORD_TERMS = _TermsOfWords()  # read through dict lookups in C: a cache decorator costs as much as the rest


def words(text: str) -> list[str]:
    """Lower-case normalised surface words, stopwords included (for answer-type cues and bigrams)."""
    return _WORD.findall(normalise(text))
