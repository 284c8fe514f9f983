"""Whether the articles answer a question at all: a small logistic model over the evidence of the best quotes.

No single signal separates answerable from unanswerable questions (an off-topic question can share words with
a sentence; a paraphrase can share none), so the model combines several, each comparable across corpora
(shares and cosines, never raw BM25). Its weights and its threshold are fitted by `verbatim tune`."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from retrieval.features import Question, features, idf
from retrieval.index import SentenceIndex
from retrieval.tokenization import terms

# What the model reads about a question and its best candidates, in this order.
ABSTENTION_FEATURES: tuple[str, ...] = (
    "top_idf_coverage",  # idf-weighted share of the question the top quote holds
    "top_coverage",  # share of the question's distinct terms the top quote holds
    "top_char_ngrams",  # share of the question's character 4-grams in the top quote ("Iranian" ~ "Iran")
    "top_bigrams",  # share of the question's term pairs the top quote holds in order
    "type_missing",  # 1 when the question asks for a date, number, person, place or reason the top quote lacks
    "best_idf_coverage",  # the best idf coverage among the first quotes
    "specificity",  # idf of the rarest question term the top quote holds, over the idf of a term never seen
    "unseen_share",  # idf-weighted share of the question made of terms no sentence of the corpus uses
    "unseen_names",  # share of the question's names (capitalised words) no sentence of the corpus uses
    "top_semantic",  # cosine of question and top quote embeddings (0 without embeddings)
    "best_semantic",  # the best cosine among every candidate
    "top_maxsim",  # how closely the top quote's words, read in context, match the question's (0 without)
    "best_maxsim",  # the best of that among the first quotes
)
# Features that need sentence embeddings; the lexical model (indexes without them) does without.
SEMANTIC_FEATURES = frozenset({"top_semantic", "best_semantic", "top_maxsim", "best_maxsim"})
BIAS = "bias"
L2 = 1.0  # ridge on standardised features: the seeds give few unanswerable questions to learn from
_FIRST = 5  # quotes the "best_" features look at: a reader sees these
# Beyond the ranker's reading of a question (features.py), wordings that ask for a specific kind of answer: a
# sentence on the topic without one does not answer ("What is the range of the missiles in kilometres?").
_ALSO_ASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "number",
        re.compile(
            r"\b(?:what|which) (?:is|was|are|were) the (?:range|distance|number|cost|price|size|population|age"
            r"|toll|death toll|total|value)\b|\bin (?:kilomet(?:er|re)s|km|miles|met(?:er|re)s|percent|dollars"
            r"|euros|pounds|tons|tonnes)\b|\bhow (?:old|fast|high|wide|deep|heavy|often)\b"
        ),
    ),
    ("person", re.compile(r"\bnames?\b")),
)
# A capitalised word inside the question (not its first word): a name, which users rarely paraphrase.
_NAME = re.compile(r"(?<=[\s\"'(“‘])[A-Z][\w'’.-]*")


class Ranked(Protocol):
    """A ranked candidate as the answerer holds it."""

    @property
    def sentence(self) -> int: ...  # sentence id

    @property
    def evidence(self) -> float: ...  # idf coverage


class AbstentionError(ValueError):
    """Abstention model weights that cannot be used; the message names the wrong value."""


@dataclass(frozen=True)
class AbstentionModel:
    """P(the articles answer) = sigmoid(bias + Σ weight · feature); abstain below `threshold`."""

    weights: Mapping[str, float]
    bias: float
    threshold: float

    @classmethod
    def from_table(cls, table: Mapping[str, float], threshold: float) -> AbstentionModel:
        """The model from a settings table of feature = weight plus "bias"; an empty table never abstains."""
        unknown = sorted(set(table) - set(ABSTENTION_FEATURES) - {BIAS})
        if unknown:
            raise AbstentionError(
                f"unknown abstention feature '{unknown[0]}' (known: {', '.join((*ABSTENTION_FEATURES, BIAS))})"
            )
        for name, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise AbstentionError(f"abstention weight {name} must be a finite number, got {value!r}")
        if not 0 <= threshold < 1:
            raise AbstentionError(f"abstention threshold must be at least 0 and below 1, got {threshold}")
        weights = {name: float(table.get(name, 0.0)) for name in ABSTENTION_FEATURES}
        return cls(weights, float(table.get(BIAS, 0.0)), threshold)

    def probability(self, values: Mapping[str, float]) -> float:
        """How likely the articles answer, given the evidence `values`."""
        z = self.bias + sum(weight * values[name] for name, weight in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def abstains(self, values: Mapping[str, float]) -> bool:
        """True when the evidence is too weak to answer."""
        return self.probability(values) < self.threshold


def evidence(
    question: Question,
    ranked: Sequence[Ranked],
    index: SentenceIndex,
    question_vector: np.ndarray | None,
    question_pieces: np.ndarray | None = None,
) -> dict[str, float]:
    """The abstention features of a question whose candidates are `ranked` (best first, at least one);
    `question_pieces`: its content pieces projected as the index's token vectors are (TokenProjection)."""
    total = index.stats.sentences
    weight_of = {term: idf(index.doc_freq, total, term) for term in question.unique}
    mass = sum(weight_of.values()) or 1.0
    ceiling = idf({}, total, "")  # the weight of a term no sentence holds: the most any term can weigh
    unseen = [term for term in question.unique if index.doc_freq.get(term, 0) == 0]
    top = ranked[0]
    top_doc = int(np.searchsorted(index.body, top.sentence))
    top_terms = index.sentence_terms[top_doc]
    sentence = index.sentence(top.sentence)
    asks = _asks(question)
    # The ranker's own measures of the top quote; its BM25 inputs are irrelevant here (and corpus-dependent).
    typed = dataclasses.replace(question, expects=asks)
    seen = features(typed, sentence.text, top_terms, sentence.position, (0.0, 0.0, 0.0), weight_of)
    names = [found for found in (terms(word) for word in _NAME.findall(question.text)) if found]
    values = {
        "top_idf_coverage": top.evidence,
        "top_coverage": seen["coverage"],
        "top_char_ngrams": seen["char_ngrams"],
        "top_bigrams": seen["bigrams"],
        "type_missing": float(asks is not None and not seen["answer_type"]),
        "best_idf_coverage": max(candidate.evidence for candidate in ranked[:_FIRST]),
        "unseen_share": sum(weight_of[term] for term in unseen) / mass,
        # A quote sharing only words common in the corpus ("NATO" in a NATO corpus) is likely beside the point.
        "specificity": max((weight_of[t] for t in set(top_terms) & set(question.unique)), default=0.0) / ceiling,
        # A name is unseen when none of its terms is ("Russia-Iran" holds "russia": seen).
        "unseen_names": sum(_unseen(index, name) for name in names) / len(names) if names else 0.0,
        "top_semantic": 0.0,
        "best_semantic": 0.0,
        "top_maxsim": 0.0,
        "best_maxsim": 0.0,
    }
    if question_vector is not None and index.embeddings is not None:
        docs = np.searchsorted(index.body, [candidate.sentence for candidate in ranked])
        cosines = np.asarray(index.embeddings[np.sort(docs)]) @ question_vector
        values["top_semantic"] = float(np.asarray(index.embeddings[top_doc]) @ question_vector)
        values["best_semantic"] = float(cosines.max())
    if question_pieces is not None and index.token_vectors is not None:
        first = np.searchsorted(index.body, [candidate.sentence for candidate in ranked[:_FIRST]])
        matched = index.token_vectors.maxsim(question_pieces, first.tolist())
        values["top_maxsim"], values["best_maxsim"] = float(matched[0]), float(matched.max())
    return values


def _asks(question: Question) -> str | None:
    """The kind of answer the question asks for: the ranker's reading, else a wording of `_ALSO_ASKS`."""
    if question.expects is not None:
        return question.expects
    lowered = question.text.lower()
    return next((kind for kind, pattern in _ALSO_ASKS if pattern.search(lowered)), None)


def _unseen(index: SentenceIndex, name_terms: Sequence[str]) -> bool:
    return all(index.doc_freq.get(term, 0) == 0 for term in name_terms)


@dataclass(frozen=True)
class AbstentionCases:
    """Tuning questions as abstention features, whether the articles answer them, and where they come from."""

    rows: np.ndarray  # one row per question, columns ABSTENTION_FEATURES
    answerable: np.ndarray  # bool per question
    source: tuple[str, ...]  # "seeds" or "squad": each source weighs the same in the fit
    fold: np.ndarray  # cross-validation fold per question


def fit_model(cases: AbstentionCases, lexical: bool = False, l2: float = L2) -> dict[str, float]:
    """The abstention model's weights (and "bias") fitted on `cases`; `lexical` leaves the semantic features out."""
    used = [i for i, name in enumerate(ABSTENTION_FEATURES) if not (lexical and name in SEMANTIC_FEATURES)]
    weights, bias = fit_logistic(cases.rows[:, used], cases.answerable.astype(float), _balance(cases), l2)
    table = dict.fromkeys(ABSTENTION_FEATURES, 0.0)
    table.update({ABSTENTION_FEATURES[i]: round(float(w), 6) for i, w in zip(used, weights, strict=True)})
    return table | {BIAS: round(bias, 6)}


def probabilities(table: Mapping[str, float], rows: np.ndarray) -> np.ndarray:
    """P(the articles answer) for each row of features under the model `table`."""
    weights = np.array([table.get(name, 0.0) for name in ABSTENTION_FEATURES])
    return 1.0 / (1.0 + np.exp(-np.clip(rows @ weights + table.get(BIAS, 0.0), -50, 50)))


def cross_validated(cases: AbstentionCases, lexical: bool = False, l2: float = L2) -> np.ndarray:
    """Each question's probability under a model fitted without its fold."""
    found = np.zeros(len(cases.rows))
    for fold in np.unique(cases.fold):
        held = cases.fold == fold
        training = AbstentionCases(
            cases.rows[~held],
            cases.answerable[~held],
            tuple(s for s, h in zip(cases.source, held, strict=True) if not h),
            cases.fold[~held],
        )
        found[held] = probabilities(fit_model(training, lexical, l2), cases.rows[held])
    return found


def _balance(cases: AbstentionCases) -> np.ndarray:
    """Sample weights: every source weighs the same, and within it answerable and unanswerable questions do."""
    weights = np.zeros(len(cases.rows))
    source = np.array(cases.source)
    names = np.unique(source)
    for name in names:
        for answerable in (True, False):
            chosen = (source == name) & (cases.answerable == answerable)
            if chosen.any():
                weights[chosen] = 1.0 / (chosen.sum() * len(names))
    return weights


def fit_logistic(
    rows: np.ndarray, answered: np.ndarray, sample_weight: np.ndarray, l2: float = 1.0, steps: int = 50
) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by Newton's method, on standardised columns folded back to
    raw ones. Returns (weights, bias); a constant column gets weight 0."""
    mean = rows.mean(axis=0) if len(rows) else np.zeros(rows.shape[1])
    scale = rows.std(axis=0) if len(rows) else np.ones(rows.shape[1])
    live = scale > 1e-9
    z = np.zeros_like(rows, dtype=float)
    z[:, live] = (rows[:, live] - mean[live]) / scale[live]
    x = np.hstack([z, np.ones((len(z), 1))])
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    sample = sample_weight / sample_weight.sum() * len(sample_weight)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -50, 50)))
        gradient = x.T @ (sample * (p - answered)) + penalty * w
        hessian = (x * (sample * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    weights = np.zeros(rows.shape[1])
    weights[live] = w[:-1][live] / scale[live]
    bias = float(w[-1] - np.sum(weights * mean))
    return weights, bias
