"""Evidence for ranking a candidate sentence: term coverage, proximity, answer-type cues and more."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np

from retrieval.parameters import ANSWER_KINDS, CONTEXT_FEATURES, FEATURES
from retrieval.tokenization import STOPWORDS, terms, words

# What a question asks for, read from its wording; first match wins.
_EXPECTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "number",
        re.compile(r"\bhow (?:many|much|large|big|far|long)\b|\bwhat (?:number|percentage|amount|share)\b"),
    ),
    ("date", re.compile(r"\bwhen\b|\bwhat (?:date|day|year|month|time)\b|\bsince when\b|\bhow long ago\b")),
    ("reason", re.compile(r"\bwhy\b|\bwhat (?:reason|caused|led)\b|\bfor what reason\b")),
    ("place", re.compile(r"\bwhere\b|\b(?:which|what) (?:city|country|place|region|town|village)\b")),
    (
        "person",
        re.compile(
            r"\bwho(?:m|se)?\b|\b(?:which|what) (?:person|official|spokesman|spokesperson|minister|leader"
            r"|ambassador|president|politician|country|countries|organisation|organization|company|companies)\b"
        ),
    ),
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundreds?"
    r"|thousands?|millions?|billions?|dozens?|half|several|double|twice"
)
_MONTHS = r"january|february|march|april|may|june|july|august|september|october|november|december"
_CUES: dict[str, re.Pattern[str]] = {
    "number": re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE),
    "date": re.compile(
        rf"\b(?:{_MONTHS}|(?:mon|tues|wednes|thurs|fri|satur|sun)day|today|yesterday|tomorrow|ago|tonight"
        r"|(?:last|next|this) (?:week|month|year|spring|summer|autumn|fall|winter)|(?:19|20)\d\d|mid-\w+)\b",
        re.IGNORECASE,
    ),
    "reason": re.compile(
        r"\b(?:because|since|due to|in order to|so that|as a result|in an attempt|in response|aim(?:s|ed)? to"
        r"|to prevent|to force|for (?:these|this) reasons?|after)\b",
        re.IGNORECASE,
    ),
    "place": re.compile(r"\b(?:in|at|from|near|into|towards|to) (?:the )?[A-Z][a-z]+"),
    "person": re.compile(
        r"(?<!^)\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b|\b(?:spokesman|spokesperson|minister|secretary|president"
        r"|ambassador|chief|head|chancellor|official|presidency)\b"
    ),
}


@dataclass(frozen=True)
class Question:
    """A question as the ranker reads it."""

    text: str
    terms: tuple[str, ...]  # index terms in order, repeats kept
    unique: tuple[str, ...]
    expects: str | None  # "number", "date", "reason", "place", "person" or None
    surface: frozenset[str]  # the question's own words, lower case
    grams: frozenset[str]  # character 4-grams of its content words (catch "Iranian" ~ "Iran", typos)
    names: frozenset[str] = frozenset()  # its capitalised words after the first, lower case ("Kursk")
    numbers: frozenset[str] = frozenset()  # the numbers it names ("1973", "12")


# Unicode's other symbols (emoji, ©), modifier symbols (skin tones) and private-use characters.
_SYMBOL_CATEGORIES = frozenset({"So", "Sk", "Co"})
# The frame of a question ("how many", "how much") asks for a kind of answer; it is not a search term.
_FRAME = re.compile(r"\bhow (?:many|much)\b", re.IGNORECASE)
# A capitalised word not at the start of the question: a name the answer is likely to repeat verbatim.
_NAME = re.compile(r"(?<=\s)[A-Z][\w'-]*")
_NUMBER = re.compile(r"\d[\d,.]*")


def read_question(text: str) -> Question:
    """Tokenize a question (`without_symbols`) and read what kind of answer it expects."""
    text = without_symbols(text)
    question_terms = tuple(terms(_FRAME.sub("how", text)))
    lowered = text.lower()
    expects = next((kind for kind, pattern in _EXPECTS if pattern.search(lowered)), None)
    surface = words(text)
    names = frozenset(word for name in _NAME.findall(text) for word in words(name)) - STOPWORDS
    numbers = frozenset(word for number in _NUMBER.findall(text) for word in words(number.rstrip(".,")))
    return Question(
        text,
        question_terms,
        tuple(dict.fromkeys(question_terms)),
        expects,
        frozenset(surface),
        char_grams(surface),
        names,
        numbers,
    )


def without_symbols(text: str) -> str:
    """The question with emoji and other symbols set aside: they carry no words to search for, and the embedding
    model would read them as unknown words."""
    return " ".join("".join(" " if unicodedata.category(c) in _SYMBOL_CATEGORIES else c for c in text).split())


def char_grams(surface: Sequence[str]) -> frozenset[str]:
    """Character 4-grams of the content words, with word boundaries marked."""
    padded = [f" {word} " for word in surface if word not in STOPWORDS]
    return frozenset(word[i : i + 4] for word in padded for i in range(max(1, len(word) - 3)))


def idf(doc_freq: Mapping[str, int], total: int, term: str) -> float:
    """Robertson idf, kept positive; a term the corpus never uses weighs the most."""
    df = doc_freq.get(term, 0)
    return math.log(1 + (total - df + 0.5) / (df + 0.5))


def features(
    question: Question,
    text: str,
    sentence_terms: Sequence[str],
    position: int,
    bm25: tuple[float, float, float],
    weights_of_terms: Mapping[str, float],
    raw: tuple[float, float, float] = (0.0, 0.0, 0.0),
    rank: int = 0,
) -> dict[str, float]:
    """The feature vector of one candidate: `bm25` holds sentence, paragraph and article scores scaled to 0..1
    (divided by the best candidate's), `raw` the same unscaled, `rank` the sentence's BM25 rank (0 = best)."""
    total_weight = sum(weights_of_terms[term] for term in question.unique) or 1.0
    found = _lexical(question, weights_of_terms, total_weight, text, _wording(text, tuple(sentence_terms)))
    lexical = dict(zip(_LEXICAL, found, strict=True))
    answer_type = lexical["answer_type"]
    values = {
        "sentence_bm25": bm25[0],
        "paragraph_bm25": bm25[1],
        "article_bm25": bm25[2],
        "sentence_bm25_raw": raw[0],
        "paragraph_bm25_raw": raw[1],
        "article_bm25_raw": raw[2],
        "sentence_rank": 1.0 / (1 + rank),
        **lexical,
        # Each kind of question weighs its cue on its own: a date is strong evidence for "when", a capitalised
        # name weak evidence for "who" (news sentences are full of names).
        **{name: answer_type * (question.expects == kind) for kind, name in _ANSWER_NAMES.items()},
        "length": min(1.0, len(sentence_terms) / 20),
        "position": 1.0 / (1 + position),
        # Filled in by the answerer (retrieval/context.py; embeddings only when the index has them).
        **_CONTEXT_ZEROS,
    }
    return {name: values[name] for name in FEATURES}


_ANSWER_NAMES = {kind: f"answer_{kind}" for kind in ANSWER_KINDS}
_CONTEXT_ZEROS = dict.fromkeys(CONTEXT_FEATURES, 0.0)


def feature_matrix(
    question: Question,
    texts: Sequence[str],
    sentence_terms: Sequence[Sequence[str]],
    positions: Sequence[int],
    bm25: np.ndarray,
    weights_of_terms: Mapping[str, float],
    raw: np.ndarray,
    ranks: Sequence[int],
) -> np.ndarray:
    """`features` of every candidate of a question at once, one row each (columns follow FEATURES): `bm25` and
    `raw` hold a row of three scores per candidate. The same numbers, without a dictionary per candidate."""
    matrix = np.zeros((len(texts), len(FEATURES)))
    if not len(texts):
        return matrix
    total_weight = sum(weights_of_terms[term] for term in question.unique) or 1.0
    matrix[:, _LEXICAL_COLUMNS] = [
        _lexical(question, weights_of_terms, total_weight, text, _wording(text, tuple(found)))
        for text, found in zip(texts, sentence_terms, strict=True)
    ]
    matrix[:, _BM25_COLUMNS] = bm25
    matrix[:, _RAW_COLUMNS] = raw
    matrix[:, FEATURES.index("sentence_rank")] = 1.0 / (1 + np.asarray(ranks, dtype=np.int64))
    lengths = np.array([len(found) for found in sentence_terms], dtype=np.int64)
    matrix[:, FEATURES.index("length")] = np.minimum(1.0, lengths / 20)
    matrix[:, FEATURES.index("position")] = 1.0 / (1 + np.asarray(positions, dtype=np.int64))
    if question.expects in ANSWER_KINDS:
        answer_type = matrix[:, FEATURES.index("answer_type")]
        matrix[:, FEATURES.index(f"answer_{question.expects}")] = answer_type
    return matrix


# Asked once per candidate of the same question.
@lru_cache(maxsize=1024)
def _pairs(question_terms: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    return frozenset(pairwise(question_terms))


@dataclass(frozen=True)
class _Wording:
    """What the features read of a candidate sentence whatever the question, worked out once per sentence."""

    terms: tuple[str, ...]
    present: frozenset[str]  # its distinct terms
    pairs: tuple[tuple[str, str], ...]  # consecutive terms, in order
    places: dict[str, tuple[int, ...]]  # where each term stands
    grams: frozenset[str]  # character 4-grams of its content words
    surface: frozenset[str]  # its words, lower case (for the question's names and numbers)


# Sentences come back as candidates question after question (every sentence of a retrieved paragraph joins them).
# About 10 kB each: enough for every candidate of a burst of questions without holding a whole archive's worth.
@lru_cache(maxsize=8192)
def _wording(text: str, sentence_terms: tuple[str, ...]) -> _Wording:
    places: dict[str, list[int]] = {}
    for j, term in enumerate(sentence_terms):
        places.setdefault(term, []).append(j)
    surface = words(text)
    return _Wording(
        sentence_terms,
        frozenset(sentence_terms),
        tuple(pairwise(sentence_terms)),
        {term: tuple(spots) for term, spots in places.items()},
        char_grams(surface),
        frozenset(surface),
    )


# The features read from the wording of the question and the sentence, in the order `_lexical` returns them.
_LEXICAL = (
    "char_ngrams",
    "coverage",
    "idf_coverage",
    "bigrams",
    "idf_bigrams",
    "phrase",
    "proximity",
    "names",
    "numbers",
    "answer_type",
    "novelty",
)
_LEXICAL_COLUMNS = [FEATURES.index(name) for name in _LEXICAL]
_BM25_COLUMNS = [FEATURES.index(name) for name in ("sentence_bm25", "paragraph_bm25", "article_bm25")]
_RAW_COLUMNS = [FEATURES.index(f"{name}_raw") for name in ("sentence_bm25", "paragraph_bm25", "article_bm25")]


def _lexical(
    question: Question, weights: Mapping[str, float], total_weight: float, text: str, wording: _Wording
) -> tuple[float, ...]:
    """The `_LEXICAL` features of one candidate; `total_weight` is the weight of the question's distinct terms."""
    present, unique = wording.present, question.unique
    matched = [term for term in unique if term in present]
    pairs = _pairs(question.terms)
    # Only a sentence holding a question term can share a pair with it.
    shared = pairs.intersection(wording.pairs) if matched else frozenset()
    return (
        _overlap(question.grams, wording.grams),
        len(matched) / len(unique) if unique else 0.0,
        sum(weights[term] for term in matched) / total_weight,
        len(shared) / len(pairs) if pairs else 0.0,
        _pair_weight(shared, weights) / (_pair_weight(pairs, weights) or 1.0) if shared else 0.0,
        _phrase(question.terms, wording.places) if shared else 0.0,
        _proximity(matched, wording),
        _overlap(question.names, wording.surface),
        _overlap(question.numbers, wording.surface),
        _answer_type(question, text),
        # The share of the sentence's distinct terms the question lacks (`matched` are the ones it has).
        (len(present) - len(matched)) / len(present) if present else 0.0,
    )


def _overlap(wanted: frozenset[str], found: frozenset[str]) -> float:
    return len(wanted & found) / len(wanted) if wanted else 0.0


def _pair_weight(pairs: frozenset[tuple[str, str]], weights: Mapping[str, float]) -> float:
    """Term pairs weighing the idf of their two terms: "super bowl" counts, "year first" little."""
    return sum(weights.get(a, 0.0) + weights.get(b, 0.0) for a, b in pairs)


def _phrase(question_terms: Sequence[str], places: Mapping[str, Sequence[int]]) -> float:
    """The longest run of the question's terms the sentence (where its terms stand) repeats in order, as a share
    of the question."""
    best, previous = 0, dict[int, int]()
    for term in question_terms:
        # Run length ending at each place of `term`: one more than the run ending just before it.
        current = {j: previous.get(j - 1, 0) + 1 for j in places.get(term, ())}
        best = max(best, *current.values()) if current else best
        previous = current
    return best / len(question_terms) if best >= 2 else 0.0


def _proximity(matched: Sequence[str], wording: _Wording) -> float:
    """How tightly the matched terms sit together: distinct matches over the shortest window holding them."""
    wanted = set(matched)
    if len(wanted) < 2:
        return 0.0
    # The shortest window begins and ends at matched terms: slide over their places only.
    spots = sorted(j for term in wanted for j in wording.places[term])
    sentence_terms = wording.terms
    counts: dict[str, int] = {}
    best = len(sentence_terms) + 1
    left = 0
    for right in spots:
        term = sentence_terms[right]
        counts[term] = counts.get(term, 0) + 1
        while len(counts) == len(wanted):
            best = min(best, right - spots[left] + 1)
            gone = sentence_terms[spots[left]]
            counts[gone] -= 1
            if not counts[gone]:
                del counts[gone]
            left += 1
    return len(wanted) / best if best <= len(sentence_terms) else 0.0


def _answer_type(question: Question, text: str) -> float:
    """1 when the sentence holds the kind of thing asked for (a date for "when"), beyond the question's words."""
    if question.expects is not None:
        for cue in _cue_words(question.expects, text):
            if not cue <= question.surface:
                return 1.0
    return 0.0


@lru_cache(maxsize=32_768)
def _cue_words(kind: str, text: str) -> tuple[frozenset[str], ...]:
    """The words of each answer-type cue in a sentence, in order ("in March 2022" -> {"march"}, {"2022"})."""
    return tuple(frozenset(words(match.group())) for match in _CUES[kind].finditer(text))
