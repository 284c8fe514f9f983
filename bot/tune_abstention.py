"""The abstention step of `verbatim tune`: fit the abstention model, choose its threshold and the confidence cuts.

Training questions: the seeds tune split (its unanswerable questions are few) and SQuAD questions made
unanswerable by leaving their text out of the corpus. Each SQuAD article becomes a small corpus of its own (the
size of the seeds) without every `HELD_EVERY`-th paragraph: questions on the kept paragraphs are answerable,
those on the left-out ones ask about something next to what the corpus says, and questions of another article
are off-topic."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.abstention import ABSTENTION_FEATURES, BIAS, AbstentionCases, cross_validated, fit_model, probabilities
from retrieval.answerer import Answerer
from retrieval.evaluation import Expectation
from retrieval.models import Article
from retrieval.parameters import IndexParameters, RankingParameters
from retrieval.squad import SquadSet, sample
from retrieval.squad import expectations as squad_expectations
from retrieval.tuning import (
    FOLDS,
    HIGH_PRECISION,
    MEDIUM_PRECISION,
    abstention_rows,
    deal,
    joint_threshold,
    precision_cut,
    title_folds,
)

HELD_EVERY = 4  # every 4th paragraph of a SQuAD article is left out of its corpus
PER_ARTICLE = {"answerable": 40, "next to the corpus": 25, "off-topic": 10}  # questions sampled per article
# (articles, or None for the seeds corpus; index name; index parameters; ranking) -> an answerer
OpenAnswerer = Callable[[Sequence[Article] | None, str, IndexParameters, RankingParameters], Answerer]


@dataclass(frozen=True)
class AbstentionChoice:
    """What `verbatim tune` writes for abstention."""

    semantic: dict[str, float]  # the model with sentence embeddings
    lexical: dict[str, float]  # without (its bias shifted so that the same threshold applies)
    threshold: float
    evidence_floor: float
    confidence_high: float  # the chance of being right from which a quote is labelled high
    confidence_medium: float
    lexical_confidence_high: float  # the same with the lexical models
    lexical_confidence_medium: float
    report: tuple[str, ...]  # what the models do, for the person tuning


@dataclass(frozen=True)
class _Labelled:
    cases: AbstentionCases
    kind: tuple[str, ...]  # "seeds", or a SQuAD kind of PER_ARTICLE
    top_chance: np.ndarray  # per case: the ranker's softmax probability of the top quote
    top_right: np.ndarray  # per case: the top quote is right
    skipped: dict[str, tuple[int, int]]  # per kind: (answerable, unanswerable) abstained before the model


def tune_abstention(
    open_answerer: OpenAnswerer,
    params: IndexParameters,
    ranking: RankingParameters,
    seeds: Sequence[Expectation],
    squad: SquadSet | None,
    fold_adapters: Sequence[str] = (),
) -> AbstentionChoice:
    """Fit both abstention models on the tuning questions, choose the threshold, and report what they do."""
    tables: dict[bool, dict[str, float]] = {}
    cuts: dict[bool, float] = {}
    report: list[str] = []
    floor = 0.0
    labels: dict[bool, tuple[float, float]] = {}
    for lexical in (False, True):
        index = dataclasses.replace(params, semantic=not lexical)
        labelled = _collect(open_answerer, index, ranking, seeds, squad, "-lexical" if lexical else "", fold_adapters)
        cases = labelled.cases
        sources = [np.array(labelled.kind) == "seeds", np.array(labelled.kind) != "seeds"]
        sources = [chosen for chosen in sources if chosen.any()]
        coverage = cases.rows[:, ABSTENTION_FEATURES.index("top_idf_coverage")]
        if not lexical:
            # The floor on the top quote's coverage catches what the model misses among the weakest quotes. Each
            # source sets its own and the lowest wins: the floor spends little of the budget the model uses better.
            floor = min(_cut(coverage, cases.answerable, [(chosen, 0)], labelled) for chosen in sources)
        below = coverage < floor
        tables[lexical] = fit_model(cases, lexical)
        held_out = cross_validated(cases, lexical)
        # Each source must keep its wrong abstentions (the floor's included) within the limit.
        spent = [(chosen & ~below, int(np.sum(chosen & below & cases.answerable))) for chosen in sources]
        cuts[lexical] = _cut(held_out, cases.answerable, spent, labelled)
        name = "lexical" if lexical else "with sentence embeddings"
        fitted = probabilities(tables[lexical], cases.rows)
        report += _report(name, tables[lexical], labelled, fitted, held_out, cuts[lexical], below)
        # What the answerer multiplies by: the lexical model's probability shifted to the shared threshold.
        answered = _shifted(held_out, cuts[False], cuts[lexical])
        labels[lexical], lines = _confidence_cuts(labelled, answered, (held_out >= cuts[lexical]) & ~below, name)
        report += lines
    threshold = cuts[False]
    lexical_table = dict(tables[True])
    lexical_table[BIAS] = round(lexical_table[BIAS] + _logit(threshold) - _logit(cuts[True]), 6)
    report.append(f"\nevidence floor {floor} (abstain when the top quote carries less of the question's idf weight)")
    return AbstentionChoice(
        tables[False], lexical_table, threshold, floor, *labels[False], *labels[True], tuple(report)
    )


def _shifted(probabilities: np.ndarray, threshold: float, own: float) -> np.ndarray:
    """Probabilities whose threshold `own` moves to `threshold` (the bias shift written for the lexical model)."""
    if threshold == own:
        return probabilities
    p = np.clip(probabilities, 1e-12, 1 - 1e-12)
    z = np.log(p / (1 - p)) + _logit(threshold) - _logit(own)
    return 1.0 / (1.0 + np.exp(-z))


def _confidence_cuts(
    labelled: _Labelled, answered: np.ndarray, shown: np.ndarray, name: str
) -> tuple[tuple[float, float], list[str]]:
    """The chances (P(answered), cross-validated, times the top quote's softmax probability with its
    near-duplicates') from which a quote is labelled high and medium, from the questions answered under
    cross-validation: of the top quotes in each band, at least HIGH_PRECISION and MEDIUM_PRECISION were right.
    And what each label then holds."""
    chance = (answered * labelled.top_chance)[shown]
    right = labelled.top_right[shown]
    high = precision_cut(chance, right, HIGH_PRECISION)
    medium = precision_cut(chance, right, MEDIUM_PRECISION, below=high)
    lines = [
        f"\nConfidence, {name} (chance of being right = P(answered), CV, × the top quote's softmax probability with "
        f"its near-duplicates'): high from {high:.4f} (≥ {HIGH_PRECISION:.0%} right), "
        f"medium from {medium:.4f} (≥ {MEDIUM_PRECISION:.0%} right)",
        f"{'top quotes shown':<34} {'high':>14} {'medium':>14} {'low':>14}",
    ]
    kinds = np.array(labelled.kind)[shown]
    for group, chosen in (
        ("seeds tune", kinds == "seeds"),
        ("SQuAD", kinds != "seeds"),
        ("all", np.ones(len(kinds), dtype=bool)),
    ):
        cells = []
        for low, high_end in ((high, np.inf), (medium, high), (-np.inf, medium)):
            held = chosen & (chance >= low) & (chance < high_end)
            cells.append(f"{int(right[held].sum())}/{int(held.sum())} right" if held.any() else "–")
        lines.append(f"{group:<34} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14}")
    return (round(high, 4), round(medium, 4)), lines


def _cut(
    scores: np.ndarray, answerable: np.ndarray, sources: Sequence[tuple[np.ndarray, int]], labelled: _Labelled
) -> float:
    """The threshold on `scores` for the questions of each source (a mask and the answerable questions it already
    abstained on), counting those abstained on before the model; the strictest source caps it."""
    kinds = np.array(labelled.kind)
    groups: list[tuple[Sequence[float], int]] = []
    for chosen, spent in sources:
        before = sum(labelled.skipped.get(kind, (0, 0))[0] for kind in set(kinds[chosen]))
        groups.append((scores[chosen & answerable].tolist(), spent + before))
    asked = np.logical_or.reduce([chosen for chosen, _ in sources])
    return joint_threshold(groups, scores[asked & ~answerable].tolist())


def with_fold_adapter(params: IndexParameters, fold_adapters: Sequence[str], fold: int) -> IndexParameters:
    """The parameters with the adapter trained without `fold` (as they are without fold adapters or embeddings):
    a fold's questions then meet a model that never saw them."""
    if not fold_adapters or not params.semantic:
        return params
    return dataclasses.replace(params, semantic_adapter=fold_adapters[fold])


def _collect(
    open_answerer: OpenAnswerer,
    params: IndexParameters,
    ranking: RankingParameters,
    seeds: Sequence[Expectation],
    squad: SquadSet | None,
    suffix: str,
    fold_adapters: Sequence[str] = (),
) -> _Labelled:
    """Abstention rows of the seeds questions and of the SQuAD leave-out corpora (a seeds fold's or an article's
    with the fold adapter trained without its fold when there are fold adapters)."""
    parts: list[tuple[str, int, str, Answerer, list[Expectation]]] = []
    seeds_answerers: dict[IndexParameters, Answerer] = {}  # one index for every fold when no fold adapter applies
    for part, chosen in enumerate(deal(seeds, FOLDS)):  # the ranking fit's folds, and tools/finetune.py's
        own = with_fold_adapter(params, fold_adapters, part)
        if own not in seeds_answerers:
            name = f"seeds-every-fold{suffix}" if own == params else f"seeds-fold-{part}{suffix}"
            seeds_answerers[own] = open_answerer(None, name, own, ranking)
        parts.append(("seeds", part, "seeds", seeds_answerers[own], chosen))
    if squad is not None:
        titles = sorted({a.title or "" for a in squad.articles})
        fold_of = title_folds(titles)  # the ranking fit's folds, and tools/finetune.py's
        by_title = {t: [a for a in squad.articles if a.title == t] for t in titles}
        asked: dict[str, list[Expectation]] = {}
        for found in squad_expectations(squad.questions):
            asked.setdefault(next(iter(found.sources)), []).append(found)
        for number, title in enumerate(titles):
            held = {a.source for i, a in enumerate(by_title[title]) if i % HELD_EVERY == 0}
            kept = [a for a in by_title[title] if a.source not in held]
            other = titles[(number + 1) % len(titles)]
            questions = {
                "answerable": [e for a in kept for e in asked.get(a.source, [])],
                "next to the corpus": [e for s in sorted(held) for e in asked.get(s, [])],
                "off-topic": [e for a in by_title[other] for e in asked.get(a.source, [])],
            }
            slug = "".join(c if c.isalnum() else "-" for c in title) + suffix
            own = with_fold_adapter(params, fold_adapters, fold_of[title])
            answerer = open_answerer(kept, f"abstention/{slug}", own, ranking)
            for kind, found_questions in questions.items():
                chosen = sample(found_questions, PER_ARTICLE[kind])
                if kind != "answerable":
                    chosen = [dataclasses.replace(e, unanswerable=True) for e in chosen]
                parts.append(("squad", fold_of[title], kind, answerer, chosen))
    rows, answerable, source, fold, kinds, chances, rights = [], [], [], [], [], [], []
    skipped: dict[str, tuple[int, int]] = {}
    for name, part_fold, kind, answerer, chosen_questions in parts:
        found_rows = abstention_rows(answerer, chosen_questions)
        rows.append(found_rows.rows)
        answerable.append(found_rows.answerable)
        chances.append(found_rows.top_chance)
        rights.append(found_rows.top_right)
        count = len(found_rows.rows)
        source += [name] * count
        kinds += [kind] * count
        fold.append(np.full(count, part_fold))  # a seeds part is one fold; an article's questions stay in one
        before = skipped.get(kind, (0, 0))
        skipped[kind] = (before[0] + found_rows.skipped_answerable, before[1] + found_rows.skipped_unanswerable)
    cases = AbstentionCases(
        np.vstack(rows), np.concatenate(answerable), tuple(source), np.concatenate(fold).astype(np.int64)
    )
    return _Labelled(cases, tuple(kinds), np.concatenate(chances), np.concatenate(rights), skipped)


def _report(
    name: str,
    table: dict[str, float],
    labelled: _Labelled,
    fitted: np.ndarray,
    held_out: np.ndarray,
    threshold: float,
    below: np.ndarray,
) -> list[str]:
    """The model, and what it abstains on with `threshold`: fitted on everything, and cross-validated."""
    lines = [f"\nAbstention model, {name} (P(answered) = sigmoid(bias + Σ weight · feature)):"]
    lines += [f"  {feature:<20} {table[feature]:+.4f}" for feature in (*ABSTENTION_FEATURES, BIAS)]
    lines.append(f"threshold {threshold} (abstain below it; CV: each question scored by a model fitted without it)")
    lines.append(f"{'questions':<34} {'abstained (fitted)':>20} {'abstained (CV)':>16}")
    kinds = np.array(labelled.kind)
    for kind in dict.fromkeys([*labelled.kind, *labelled.skipped]):  # a kind may be all skipped
        for answerable in (True, False):
            chosen = (kinds == kind) & (labelled.cases.answerable == answerable)
            before = labelled.skipped.get(kind, (0, 0))[0 if answerable else 1]
            total = int(chosen.sum()) + before
            if not total:
                continue
            label = f"{'seeds tune' if kind == 'seeds' else 'SQuAD ' + kind}, {'answerable' if answerable else 'not'}"
            fit_count = int(np.sum((fitted[chosen] < threshold) | below[chosen])) + before
            cv_count = int(np.sum((held_out[chosen] < threshold) | below[chosen])) + before
            lines.append(f"{label:<34} {_share(fit_count, total):>20} {_share(cv_count, total):>16}")
    return lines


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({count / total:.0%})"


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))
