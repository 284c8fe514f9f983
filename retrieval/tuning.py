"""Choosing parameters by measurement on tuning data: BM25 k1 and b, ranking weights, abstention threshold,
confidence cuts."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from retrieval.abstention import ABSTENTION_FEATURES
from retrieval.answerer import Answerer, QuestionError, quote_chances
from retrieval.evaluation import Expectation
from retrieval.features import read_question
from retrieval.models import Confidence, Quote
from retrieval.parameters import FEATURES
from retrieval.rank_bm25_engine import RankBM25Engine
from retrieval.tokenization import terms

log = logging.getLogger(__name__)

GRID = (-1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
ROUNDS = 3
MAX_WRONGLY_ABSTAINED = 0.05
FOLDS = 4  # the cross-validation folds of `verbatim tune`, and the fold adapters tools/finetune.py trains
# What the confidence labels promise, measured on the tuning questions: the share of right top quotes.
HIGH_PRECISION = 0.9
MEDIUM_PRECISION = 0.6


@dataclass(frozen=True)
class CaseSet:
    """The candidates of many questions stacked in one matrix, for fast re-scoring under new weights."""

    features: np.ndarray  # one row per candidate
    relevant: np.ndarray  # bool per candidate
    starts: np.ndarray  # first row of each question (questions without candidates have none)
    questions: int  # answerable questions, the denominator of every metric


T = TypeVar("T")


def deal(items: Sequence[T], count: int = FOLDS) -> list[list[T]]:
    """`items` in `count` folds by position (item n goes to fold n % count): how the seeds questions are folded,
    by `verbatim tune` and by tools/finetune.py, which trains each fold's adapter without its fold."""
    return [list(items[fold::count]) for fold in range(count)]


def title_folds(titles: Iterable[str], count: int = FOLDS) -> dict[str, int]:
    """Each SQuAD article title's fold (titles sorted, fold = position % count), so no title is in two folds: how
    `verbatim tune` folds SQuAD's questions and tools/finetune.py its training pairs."""
    return {title: i % count for i, title in enumerate(sorted(set(titles)))}


@dataclass(frozen=True)
class SweepRow:
    """One point of a parameter sweep and what it scored."""

    setting: str
    p_at_1: float
    mrr_at_5: float


def collect(answerer: Answerer, expectations: Sequence[Expectation]) -> CaseSet:
    """Candidates and their relevance for every answerable question."""
    blocks: list[np.ndarray] = []
    relevant: list[np.ndarray] = []
    answerable = [e for e in expectations if not e.unanswerable]
    for expectation in answerable:
        try:
            question = read_question(answerer.clean_question(expectation.question))
        except QuestionError:
            continue
        if not question.unique:
            continue
        found = answerer.candidates(question)
        if not found.sentences:
            continue
        blocks.append(found.features)
        relevant.append(np.array([expectation.is_right(_as_quote(answerer, s)) for s in found.sentences]))
    sizes = [len(block) for block in blocks]
    return CaseSet(
        features=np.vstack(blocks) if blocks else np.zeros((0, len(FEATURES))),
        relevant=np.concatenate(relevant) if relevant else np.zeros(0, dtype=bool),
        starts=np.cumsum([0, *sizes[:-1]]).astype(np.int64),
        questions=len(answerable),
    )


def ranks(cases: CaseSet, weights: np.ndarray) -> np.ndarray:
    """Rank of the first relevant candidate per question with candidates (0 when none is relevant)."""
    return _ranks(cases, cases.features @ weights)


def _ranks(cases: CaseSet, scores: np.ndarray) -> np.ndarray:
    if not len(cases.starts):
        return np.zeros(0, dtype=np.int64)
    # Every question has at least one row, so per-question reductions are plain reduceat (ufunc.at is slow).
    question_of = np.repeat(np.arange(len(cases.starts)), np.diff(np.append(cases.starts, len(scores))))
    best_relevant = np.maximum.reduceat(np.where(cases.relevant, scores, -np.inf), cases.starts)
    above = scores > best_relevant[question_of]
    result = 1 + np.add.reduceat(above.astype(np.int64), cases.starts)
    result[np.isneginf(best_relevant)] = 0
    return result


def quality(cases: CaseSet, weights: np.ndarray) -> tuple[float, float]:
    """P@1 and MRR@5 over every answerable question (a question without candidates counts as a miss)."""
    return _quality(cases, cases.features @ weights)


def _quality(cases: CaseSet, scores: np.ndarray) -> tuple[float, float]:
    found = _ranks(cases, scores)
    if not cases.questions:
        return 0.0, 0.0
    p_at_1 = float(np.sum(found == 1)) / cases.questions
    reciprocal = np.where((found >= 1) & (found <= 5), 1.0 / np.maximum(found, 1), 0.0)
    return p_at_1, float(reciprocal.sum()) / cases.questions


def fit_weights(case_sets: Sequence[CaseSet], start: dict[str, float]) -> tuple[dict[str, float], float]:
    """Coordinate ascent on the mean MRR@5 (ties: P@1) of the case sets, one feature at a time."""
    weights = np.array([start.get(name, 0.0) for name in FEATURES])
    # Scores are kept and moved along one feature column per trial: far cheaper than a product per trial.
    scores = [cases.features @ weights for cases in case_sets]

    def objective(trial_scores: Sequence[np.ndarray]) -> float:
        scored = [_quality(cases, found) for cases, found in zip(case_sets, trial_scores, strict=True)]
        return float(np.mean([mrr + 0.01 * p1 for p1, mrr in scored]))

    best = objective(scores)
    for _ in range(ROUNDS):
        improved = False
        for i in range(len(FEATURES)):
            for value in GRID:
                trial = weights.copy()
                trial[i] = value
                if not trial.any():
                    continue
                step = value - weights[i]
                moved = [found + step * cases.features[:, i] for cases, found in zip(case_sets, scores, strict=True)]
                score = objective(moved)
                if score > best + 1e-9:
                    best, weights, improved = score, trial, True
                    scores = [cases.features @ weights for cases in case_sets]  # no rounding drift over steps
        if not improved:
            break
    return {name: float(w) for name, w in zip(FEATURES, weights, strict=True)}, best


def fit_softmax(
    case_sets: Sequence[CaseSet], l2: float = 1e-3, steps: int = 50, shares: Sequence[float] | None = None
) -> dict[str, float]:
    """A linear listwise (softmax) reranker: maximise the probability of the right candidates, each case set
    weighing its share of `shares` (the same by default), with an L2 penalty; features are standardised while
    fitting and folded back after.

    Newton steps with a backtracking line search: the loss is smooth and has a few dozen weights, so a handful
    of steps reach the optimum that hundreds of gradient steps only approach."""
    stacked = np.vstack([cases.features for cases in case_sets if len(cases.features)])
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0) + 1e-9
    given = [1.0] * len(case_sets) if shares is None else list(shares)
    if len(given) != len(case_sets) or min(given) < 0 or sum(given) <= 0:
        raise ValueError(f"shares must be one non-negative number per case set, not all zero; got {given}")
    prepared = [
        (*_segments(cases, mean, scale), share)
        for cases, share in zip(case_sets, given, strict=True)
        if len(cases.features) and share > 0
    ]
    weights = np.zeros(len(FEATURES))
    loss, gradient, hessian = _softmax_loss(prepared, weights, l2)
    for _ in range(steps):
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while True:
            trial = weights - size * step
            new_loss, new_gradient, new_hessian = _softmax_loss(prepared, trial, l2)
            if new_loss <= loss - 1e-4 * size * float(gradient @ step) or size < 1e-4:
                break
            size /= 2
        converged = loss - new_loss < 1e-8
        weights, loss, gradient, hessian = trial, new_loss, new_gradient, new_hessian
        if converged:
            break
    return {name: float(w) for name, w in zip(FEATURES, weights / scale, strict=True)}


def _segments(cases: CaseSet, mean: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised rows of the questions that have a right candidate, their starts and relevance."""
    ends = np.append(cases.starts[1:], len(cases.features))
    keep = [i for i, (a, b) in enumerate(zip(cases.starts, ends, strict=True)) if cases.relevant[a:b].any()]
    rows = np.concatenate([np.arange(cases.starts[i], ends[i]) for i in keep]) if keep else np.zeros(0, int)
    sizes = [ends[i] - cases.starts[i] for i in keep]
    starts = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
    return (cases.features[rows] - mean) / scale, starts, cases.relevant[rows].astype(float)


def _softmax_loss(
    prepared: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, float]], weights: np.ndarray, l2: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """The mean negative log-probability of the right candidates per question (case sets weighing their share),
    with its gradient and a positive definite Hessian: the covariance of the features under the model (exact
    when a question has one right candidate) plus the L2 term."""
    loss = l2 * float(weights @ weights)
    gradient = 2 * l2 * weights
    hessian = 2 * l2 * np.eye(len(weights))
    used = [part for part in prepared if len(part[1])]
    total = sum(part[3] for part in used) or 1.0
    for z, starts, right, weight in used:
        scores = z @ weights
        question = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(scores))))
        # Both sums shifted by their own maximum: far-off trial weights must not underflow the right ones to 0.
        top_all = np.maximum.reduceat(scores, starts)
        top_right = np.maximum.reduceat(np.where(right > 0, scores, -np.inf), starts)
        exp_all = np.exp(scores - top_all[question])
        exp_right = np.where(right > 0, np.exp(np.minimum(scores - top_right[question], 0.0)), 0.0)
        all_mass, right_mass = np.add.reduceat(exp_all, starts), np.add.reduceat(exp_right, starts)
        p_all = exp_all / all_mass[question]
        p_right = exp_right / right_mass[question]
        share = weight / (total * len(starts))
        log_all, log_right = top_all + np.log(all_mass), top_right + np.log(right_mass)
        loss += float(np.sum(log_all - log_right)) * share
        gradient += z.T @ (p_all - p_right) * share
        weighted = z * p_all[:, None]
        means = np.add.reduceat(weighted, starts)
        hessian += (weighted.T @ z - means.T @ means) * share
    return loss, gradient, hessian


def choose_threshold(answerable: Sequence[float], unanswerable: Sequence[float], spent: int = 0) -> float:
    """The threshold on a score (abstaining below it) that abstains on most unanswerable questions while wrongly
    abstaining on at most 5 % of the answerable ones, `spent` of which were abstained on before any threshold."""
    return joint_threshold([(answerable, spent)], unanswerable)


def joint_threshold(groups: Sequence[tuple[Sequence[float], int]], unanswerable: Sequence[float]) -> float:
    """One threshold for several groups of answerable questions, each given as (scores, spent): it abstains on
    most unanswerable questions while every group stays within 5 % wrongly abstained. The strictest group caps
    the threshold; the unanswerable questions of every group are caught under that cap."""
    ceilings: list[float] = []
    for scores, spent in groups:
        ranked = np.sort(np.asarray(scores, dtype=float))
        allowed = int(np.floor(MAX_WRONGLY_ABSTAINED * (len(ranked) + spent))) - spent
        if allowed < 0:
            return 0.0
        # Abstaining below t wrongly drops the answerable questions scoring below t.
        ceilings.append(float(ranked[allowed]) if allowed < len(ranked) else math.inf)
    everything = np.sort(np.array([score for scores, _ in groups for score in scores], dtype=float))
    if not len(everything):
        return 0.0
    ceiling = min(ceilings)  # the highest t keeping every group's wrong abstentions within the limit
    if math.isinf(ceiling):
        return 1.0
    caught = [e for e in unanswerable if e < ceiling]
    if not caught:
        return round(float(everything[0]) / 2, 4)  # nothing to gain: stay below every answerable question
    # Midway between the last unanswerable question caught and the next answerable one, which is kept.
    highest = max(caught)
    kept = float(everything[everything > highest][0])
    rounded = round((highest + kept) / 2, 4)
    return rounded if highest < rounded <= kept else (highest + kept) / 2  # rounding must not drop `kept`


def precision_cut(chances: Sequence[float], right: Sequence[bool], precision: float, below: float = math.inf) -> float:
    """The lowest chance c such that, of the quotes with a chance from c up to (not including) `below`, at least
    `precision` are right (`below`, or 1.0, when no such c exists): the cut of a confidence label that must hold
    that promise within its own band."""
    values = np.asarray(chances, dtype=float)
    hits = np.asarray(right, dtype=bool)
    band = values < below
    values, hits = values[band], hits[band]
    if not len(values):
        return min(below, 1.0)
    order = np.argsort(-values, kind="stable")
    values, hits = values[order], hits[order]
    shares = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    # A cut can only fall where the chance changes: ties are all in or all out.
    last = np.flatnonzero(np.append(values[1:] != values[:-1], True))
    holding = last[shares[last] >= precision]
    return float(values[holding[-1]]) if len(holding) else min(below, 1.0)


@dataclass(frozen=True)
class AbstentionRows:
    """The abstention features of the questions the model decides on, and how many it never sees."""

    rows: np.ndarray  # one row per question, columns ABSTENTION_FEATURES
    answerable: np.ndarray  # bool per row
    top_chance: np.ndarray  # per row: the top quote's softmax probability, its near-duplicates' included
    top_right: np.ndarray  # per row: the top candidate is a right quote (never for an unanswerable question)
    skipped_answerable: int  # abstained before the model (no searchable word, no candidate)
    skipped_unanswerable: int


def abstention_rows(answerer: Answerer, expectations: Sequence[Expectation]) -> AbstentionRows:
    """Abstention features of every question with candidates. An unanswerable question whose short answer is
    in one of the first quotes is left out: made by removing its paragraph, another one may still answer it."""
    rows: list[list[float]] = []
    answerable: list[bool] = []
    top_chance: list[float] = []
    top_right: list[bool] = []
    skipped = {True: 0, False: 0}
    for expectation in expectations:
        try:
            question = read_question(answerer.clean_question(expectation.question))
        except QuestionError:
            continue
        ranked = answerer.rank(question) if question.unique else []
        if not ranked:
            skipped[not expectation.unanswerable] += 1
            continue
        if expectation.unanswerable and expectation.answers:
            shown = [answerer.index.sentence(c.sentence).text.lower() for c in ranked[:3]]
            if any(answer.lower() in text for answer in expectation.answers for text in shown):
                continue
        values = answerer.evidence(question, ranked)
        rows.append([values[name] for name in ABSTENTION_FEATURES])
        answerable.append(not expectation.unanswerable)
        claims = answerer.claims(ranked, 1, quote_chances([c.score for c in ranked], 1.0))  # the top quote's
        top_chance.append(claims[0].chance if claims else 0.0)
        top_right.append(
            bool(claims)
            and not expectation.unanswerable
            and expectation.is_right(_as_quote(answerer, claims[0].candidate.sentence))
        )
    return AbstentionRows(
        np.array(rows, dtype=float).reshape(len(rows), len(ABSTENTION_FEATURES)),
        np.array(answerable, dtype=bool),
        np.array(top_chance, dtype=float),
        np.array(top_right, dtype=bool),
        skipped[True],
        skipped[False],
    )


def sweep_bm25(
    answerer: Answerer, expectations: Sequence[Expectation], grid: Sequence[tuple[float, float]]
) -> list[SweepRow]:
    """P@1 and MRR@5 of sentence BM25 alone for each (k1, b), on the answerer's own sentences and tokens."""
    index = answerer.index
    docs = [index.sentence_terms[doc] for doc in range(len(index.body))]  # stored at build: no re-tokenizing
    queries = [(e, terms(e.question)) for e in expectations if not e.unanswerable]
    rows = []
    for k1, b in grid:
        engine = RankBM25Engine.build(docs, k1, b)
        found = []
        for expectation, query in queries:
            hits = engine.search(query, 5)
            rank = next(
                (r for r, (doc, _) in enumerate(hits, 1) if expectation.is_right(_as_quote(answerer, index.body[doc]))),
                0,
            )
            found.append(rank)
        ranked = np.array(found)
        p1 = float(np.mean(ranked == 1)) if len(ranked) else 0.0
        mrr = float(np.mean(np.where(ranked > 0, 1.0 / np.maximum(ranked, 1), 0.0))) if len(ranked) else 0.0
        rows.append(SweepRow(f"k1={k1} b={b}", p1, mrr))
        log.info("k1=%s b=%s: P@1 %.3f MRR@5 %.3f", k1, b, p1, mrr)
    return rows


def _as_quote(answerer: Answerer, sentence_id: int) -> Quote:
    """A bare quote for a candidate sentence, enough for a relevance judge."""
    sentence = answerer.index.sentence(int(sentence_id))
    article = answerer.index.articles[sentence.article]
    return Quote(
        text=sentence.text,
        source=article.source,
        date=article.date,
        title=article.title,
        score=0.0,
        confidence=Confidence.LOW,
        context_before="",
        context_after="",
        article_id=article.id,
        start=sentence.start,
        end=sentence.end,
    )
