"""Evidence for ranking a candidate sentence: term coverage, proximity, answer-type cues and more."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

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


# The frame of a question ("how many", "how much") asks for a kind of answer; it is not a search term.
_FRAME = re.compile(r"\bhow (?:many|much)\b", re.IGNORECASE)
# A capitalised word not at the start of the question: a name the answer is likely to repeat verbatim.
_NAME = re.compile(r"(?<=\s)[A-Z][\w'-]*")
_NUMBER = re.compile(r"\d[\d,.]*")


def read_question(text: str) -> Question:
    """Tokenize a question and read what kind of answer it expects."""
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


def char_grams(surface: Sequence[str]) -> frozenset[str]:
    """Character 4-grams of the content words, with word boundaries marked."""
    grams: set[str] = set()
    for word in surface:
        if word in STOPWORDS:
            continue
        padded = f" {word} "
        grams.update(padded[i : i + 4] for i in range(max(1, len(padded) - 3)))
    return frozenset(grams)


# About 8 kB each: enough for every candidate of a burst of questions without holding a whole archive's worth.
@lru_cache(maxsize=8192)
def _sentence_grams(text: str) -> frozenset[str]:
    """A candidate sentence's character 4-grams; sentences come back as candidates question after question."""
    return char_grams(words(text))


@lru_cache(maxsize=8192)
def _sentence_words(text: str) -> frozenset[str]:
    """A candidate sentence's surface words, lower case (for the question's names and numbers)."""
    return frozenset(words(text))


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
    present = set(sentence_terms)
    matched = [term for term in question.unique if term in present]
    total_weight = sum(weights_of_terms[term] for term in question.unique) or 1.0
    answer_type = _answer_type(question, text)
    surface = _sentence_words(text) if question.names or question.numbers else frozenset()
    question_pairs = set(pairwise(question.terms))
    # Only a sentence holding a question term can share a pair with it.
    shared = question_pairs.intersection(pairwise(sentence_terms)) if matched else set()
    values = {
        "sentence_bm25": bm25[0],
        "paragraph_bm25": bm25[1],
        "article_bm25": bm25[2],
        "sentence_bm25_raw": raw[0],
        "paragraph_bm25_raw": raw[1],
        "article_bm25_raw": raw[2],
        "sentence_rank": 1.0 / (1 + rank),
        "char_ngrams": _overlap(question.grams, _sentence_grams(text)),
        "coverage": len(matched) / len(question.unique) if question.unique else 0.0,
        "idf_coverage": sum(weights_of_terms[term] for term in matched) / total_weight,
        "bigrams": len(shared) / len(question_pairs) if question_pairs else 0.0,
        "idf_bigrams": (
            _pair_weight(shared, weights_of_terms) / (_pair_weight(question_pairs, weights_of_terms) or 1.0)
            if shared
            else 0.0
        ),
        "phrase": _phrase(question.terms, sentence_terms) if shared else 0.0,
        "proximity": _proximity(matched, sentence_terms),
        "names": _overlap(question.names, surface),
        "numbers": _overlap(question.numbers, surface),
        "answer_type": answer_type,
        # Each kind of question weighs its cue on its own: a date is strong evidence for "when", a capitalised
        # name weak evidence for "who" (news sentences are full of names).
        **{f"answer_{kind}": answer_type * (question.expects == kind) for kind in ANSWER_KINDS},
        "novelty": len(present - set(question.unique)) / len(present) if present else 0.0,
        "length": min(1.0, len(sentence_terms) / 20),
        "position": 1.0 / (1 + position),
        # Filled in by the answerer (retrieval/context.py; embeddings only when the index has them).
        **dict.fromkeys(CONTEXT_FEATURES, 0.0),
    }
    return {name: values[name] for name in FEATURES}


def _overlap(wanted: frozenset[str], found: frozenset[str]) -> float:
    return len(wanted & found) / len(wanted) if wanted else 0.0


def _pair_weight(pairs: set[tuple[str, str]], weights: Mapping[str, float]) -> float:
    """Term pairs weighing the idf of their two terms: "super bowl" counts, "year first" little."""
    return sum(weights.get(a, 0.0) + weights.get(b, 0.0) for a, b in pairs)


def _phrase(question_terms: Sequence[str], sentence_terms: Sequence[str]) -> float:
    """The longest run of the question's terms the sentence repeats in order, as a share of the question."""
    places: dict[str, list[int]] = {}
    for j, term in enumerate(sentence_terms):
        places.setdefault(term, []).append(j)
    best, previous = 0, dict[int, int]()
    for term in question_terms:
        # Run length ending at each place of `term`: one more than the run ending just before it.
        current = {j: previous.get(j - 1, 0) + 1 for j in places.get(term, ())}
        best = max(best, *current.values()) if current else best
        previous = current
    return best / len(question_terms) if best >= 2 else 0.0


def _proximity(matched: Sequence[str], sentence_terms: Sequence[str]) -> float:
    """How tightly the matched terms sit together: distinct matches over the shortest window holding them."""
    wanted = set(matched)
    if len(wanted) < 2:
        return 0.0
    counts: dict[str, int] = {}
    best = len(sentence_terms) + 1
    left = 0
    for right, term in enumerate(sentence_terms):
        if term in wanted:
            counts[term] = counts.get(term, 0) + 1
        while len(counts) == len(wanted):
            best = min(best, right - left + 1)
            gone = sentence_terms[left]
            if gone in counts:
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
            left += 1
    return len(wanted) / best if best <= len(sentence_terms) else 0.0


def _answer_type(question: Question, text: str) -> float:
    """1 when the sentence holds the kind of thing asked for (a date for "when"), beyond the question's words."""
    if question.expects is None:
        return 0.0
    return float(any(not cue <= question.surface for cue in _cue_words(question.expects, text)))


@lru_cache(maxsize=32_768)
def _cue_words(kind: str, text: str) -> tuple[frozenset[str], ...]:
    """The words of each answer-type cue in a sentence, in order ("in March 2022" -> {"march"}, {"2022"})."""
    return tuple(frozenset(words(match.group())) for match in _CUES[kind].finditer(text))
