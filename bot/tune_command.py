"""`verbatim tune`: choose k1, b, ranking weights and the abstention model on tuning data only."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bot.settings import TUNED, Settings, SettingsError
from bot.tune_abstention import AbstentionChoice, tune_abstention, with_fold_adapter
from retrieval.answerer import Answerer
from retrieval.corpus import load_corpus
from retrieval.evaluation import Expectation, expectation
from retrieval.models import Article
from retrieval.parameters import EMBEDDING_FEATURES, FEATURES, IndexParameters, RankingParameters
from retrieval.pipeline import open_answerer
from retrieval.questions import load_questions
from retrieval.squad import expectations as squad_expectations
from retrieval.squad import load_squad, sample
from retrieval.tuning import (
    FOLDS,
    CaseSet,
    collect,
    deal,
    fit_softmax,
    fit_weights,
    quality,
    sweep_bm25,
    title_folds,
)

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
K1_GRID = (0.3, 0.6, 0.9, 1.2, 1.5)
B_GRID = (0.3, 0.5, 0.75, 0.9)
# The share of the seeds' questions in the softmax fit's loss, SQuAD's being the rest: 0.5 weighs both sources the
# same, although SQuAD has ninety times the questions. The cross-validated choice picks one.
SEEDS_SHARES = (0.5, 0.3, 0.1)


def add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `verbatim tune`."""
    parser.add_argument(
        "--questions",
        type=Path,
        default=ROOT / "tests" / "questions" / "seeds.jsonl",
        help="seeds question set",
    )
    parser.add_argument("--corpus", type=Path, default=ROOT / "seeds", help="corpus of the question set")
    parser.add_argument(
        "--squad",
        type=Path,
        default=ROOT.parent / "shared" / "squad" / "squad-dev-tune.json",
        help="SQuAD tuning half",
    )
    parser.add_argument(
        "--fold-adapters",
        type=Path,
        help="directory of fold-0..3.safetensors, the model adapters each trained without one fold of the tuning "
        "questions (made by `make adapters`; default: <index_dir>/adapters); needed when index.semantic_adapter is set",
    )
    parser.add_argument("--sweep-sample", type=int, default=1000, help="SQuAD questions used for the k1/b sweep")
    parser.add_argument("--output", type=Path, help=f"where to write the choice (default: config/{TUNED})")
    parser.add_argument("--dry-run", action="store_true", help="print the choice without writing it")
    parser.add_argument(
        "--abstention-only",
        action="store_true",
        help="keep k1, b and the ranking weights in use; fit only the abstention models (minutes, not half an hour)",
    )


def run_tune(args: argparse.Namespace, settings: Settings) -> int:
    """Sweep, fit, choose, and write config/tuned.toml; only the tune split and the SQuAD tuning half are used."""
    began = time.perf_counter()
    adapters = _fold_adapters(args, settings)  # before any work: without them there is nothing honest to do
    corpus = load_corpus(args.corpus)
    questions = load_questions(args.questions, {a.source: a.text for a in corpus.articles})
    seeds = [expectation(q) for q in questions if q.split == "tune"]
    squad = load_squad(args.squad) if args.squad.exists() else None
    if squad is None:
        log.warning("%s not found: tuning on the seeds question set alone", args.squad)
    squad_all = squad_expectations(squad.questions) if squad else []
    squad_sample = sample(squad_all, args.sweep_sample)
    work = settings.index_dir / "tuning"

    def answerer(params: IndexParameters, ranking: RankingParameters, on_squad: bool, fold: int = 0) -> Answerer:
        own = with_fold_adapter(params, adapters, fold)
        if on_squad and squad is not None:
            return open_answerer(Path("squad"), work / f"fold-{fold}", own, ranking, articles=squad.articles)
        return open_answerer(args.corpus, work / f"seeds-fold-{fold}" if own != params else work, own, ranking)

    ranking = settings.ranking
    if args.abstention_only:
        chosen = dataclasses.replace(settings.index, engine="rank-bm25", semantic=True)
        weights, lexical = dict(ranking.weights), dict(ranking.lexical_weights)
        print(f"kept: k1={chosen.k1} b={chosen.b} and the ranking weights in use")
    else:
        chosen, weights, lexical = _fit_ranking(settings, seeds, squad_all, squad_sample, answerer)
    fitted = dataclasses.replace(ranking, weights=weights, lexical_weights=lexical, abstain_threshold=0.0)

    def abstention_answerer(
        articles: Sequence[Article] | None, name: str, params: IndexParameters, ranking: RankingParameters
    ) -> Answerer:
        if articles is None:
            return open_answerer(args.corpus, work / name if params.semantic_adapter else work, params, ranking)
        return open_answerer(Path("squad"), work / name, params, ranking, articles=articles)

    abstention = tune_abstention(abstention_answerer, chosen, fitted, seeds, squad, adapters)
    print("\n".join(abstention.report))
    text = _toml(chosen, weights, lexical, abstention, _sources(args, squad is not None, seeds, squad_all))
    if args.dry_run:
        print("\n" + text)
    else:
        output = args.output or (settings_dir(args) / TUNED)
        output.write_text(text, encoding="utf-8")
        print(f"\nwrote {output} in {time.perf_counter() - began:.0f} s")
    return 0


def _fit_ranking(
    settings: Settings,
    seeds: list[Expectation],
    squad_all: list[Expectation],
    squad_sample: list[Expectation],
    answerer: Callable[[IndexParameters, RankingParameters, bool, int], Answerer],
) -> tuple[IndexParameters, dict[str, float], dict[str, float]]:
    """The BM25 sweep and the ranking fits: the chosen index parameters and both weight tables."""
    base = dataclasses.replace(settings.index, engine="rank-bm25", semantic=False)  # the sweep is lexical
    ranking = settings.ranking
    squad = bool(squad_all)
    print("BM25 sweep (sentence BM25 alone; P@1 / MRR@5)")
    print(f"{'setting':<16} {'seeds tune':>16} {'SQuAD tune':>16}")
    grid = [(k1, b) for k1 in K1_GRID for b in B_GRID]
    seed_rows = sweep_bm25(answerer(base, ranking, False, 0), seeds, grid)
    squad_rows = sweep_bm25(answerer(base, ranking, True, 0), squad_sample, grid) if squad else seed_rows
    scores = []
    for seed_row, squad_row, (k1, b) in zip(seed_rows, squad_rows, grid, strict=True):
        print(
            f"{seed_row.setting:<16} {_pair(seed_row.p_at_1, seed_row.mrr_at_5):>16} "
            f"{_pair(squad_row.p_at_1, squad_row.mrr_at_5):>16}"
        )
        scores.append(((seed_row.mrr_at_5 + squad_row.mrr_at_5) / 2, k1, b))
    _, k1, b = max(scores)
    chosen = dataclasses.replace(base, k1=k1, b=b, semantic=True)
    print(f"chosen: k1={k1} b={b}")

    start = dict.fromkeys(FEATURES, 0.0) | {"sentence_bm25": 1.0}
    plain = dataclasses.replace(ranking, weights=start)
    seed_folds = [collect(answerer(chosen, plain, False, i), part) for i, part in enumerate(deal(seeds, FOLDS))]
    folds: list[CaseSet] = []
    if squad:
        folds = [collect(answerer(chosen, plain, True, i), part) for i, part in enumerate(_folds(squad_all, FOLDS))]
    weights = _fit_and_report(seed_folds, folds, start)
    print("\nWithout sentence embeddings (indexes over semantic_max_sentences, or the model missing):")
    lexical = _fit_and_report([_lexical(f) for f in seed_folds], [_lexical(f) for f in folds], start)
    return chosen, weights, lexical


def _fold_adapters(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The fold adapters when the model in use is fine-tuned ([] when it is not): that model learned the SQuAD
    tuning half and the seeds' tune split, so scoring their questions with it would flatter the embedding
    features the fit weighs."""
    if not settings.index.semantic_adapter or not settings.index.semantic:
        return []
    directory = args.fold_adapters or settings.index_dir / "adapters"
    files = [directory / f"fold-{fold}.safetensors" for fold in range(FOLDS)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise SettingsError(
            f"index.semantic_adapter is set, and the fold adapters {', '.join(missing)} are not in {directory}: "
            "make them with `make adapters` (or pass --fold-adapters DIR, or tune the packaged model with "
            "VERBATIM_INDEX_SEMANTIC_ADAPTER='')"
        )
    print(f"the seeds' and SQuAD's folds are scored with the adapters in {directory}, each trained without its fold")
    return [str(f) for f in files]


def _folds(expectations: list[Expectation], count: int) -> list[list[Expectation]]:
    """SQuAD questions in `count` folds by article title, so no title is in two folds."""

    def title(expectation: Expectation) -> str:
        return next(iter(expectation.sources)).rsplit(":", 1)[0]  # source "squad:<title>:<paragraph>"

    fold_of = title_folds((title(e) for e in expectations), count)
    return [[e for e in expectations if fold_of[title(e)] == i] for i in range(count)]


def _fit_and_report(seed_folds: list[CaseSet], folds: list[CaseSet], start: dict[str, float]) -> dict[str, float]:
    """Fit the reranker on all tuning data, by coordinate ascent and by the softmax fit at each share of the
    seeds in its loss, and keep the fit with the better MRR@5 under cross-validation, the mean of the seeds' (4
    folds of their questions) and SQuAD's (4 folds by article): scores on the data a fit has seen favour the fit
    that learns it by heart, and the seeds are news questions the way users ask them."""
    squad = _merge(folds) if folds else None
    seed_cases = _merge(seed_folds)
    fits: dict[str, Fit] = {"BM25 only": lambda seeds, squad_cases: start}
    for share in SEEDS_SHARES if folds else (1.0,):  # without SQuAD the seeds are all there is
        fits["softmax" + (f", seeds {share:.0%}" if folds else "")] = functools.partial(_softmax, share=share)
    fits["coordinate ascent"] = lambda seeds, squad_cases: fit_weights(_sets(seeds, squad_cases), start)[0]
    print("\nRanking weights (P@1 / MRR@5 on the tuning data they were fitted on, and cross-validated)")
    print(f"{'fit':<22} {'seeds tune':>16} {'SQuAD tune':>16} {'seeds 4-fold CV':>18} {'SQuAD 4-fold CV':>18}")
    best_name, best_score, chosen = "", -1.0, start
    for name, fit in fits.items():
        fitted = fit(seed_cases, squad)
        seed_q = quality(seed_cases, _vector(fitted))
        squad_q = quality(squad, _vector(fitted)) if squad else (0.0, 0.0)
        seed_cv = _cross_validate(functools.partial(_on_seeds, fit, squad), seed_folds)
        squad_cv = _cross_validate(functools.partial(fit, seed_cases), folds) if folds else None
        row = f"{name:<22} {_pair(*seed_q):>16} {_pair(*squad_q):>16} {_pair(*seed_cv):>18}"
        print(row + (f" {_pair(*squad_cv):>18}" if squad_cv else ""))
        score = (seed_cv[1] + squad_cv[1]) / 2 if squad_cv else seed_cv[1]
        if name != "BM25 only" and score > best_score:
            best_name, best_score, chosen = name, score, fitted
    print(f"chosen: {best_name} (best mean cross-validated MRR@5)")
    for name in FEATURES:
        print(f"  {name:<20} {chosen[name]:+.4f}")
    return chosen


# A fit: (seeds cases, SQuAD cases or None) -> weights.
Fit = Callable[[CaseSet, CaseSet | None], dict[str, float]]


def _softmax(seeds: CaseSet, squad: CaseSet | None, share: float) -> dict[str, float]:
    """The softmax fit with the seeds' questions weighing `share` of the loss and SQuAD's the rest."""
    return fit_softmax(_sets(seeds, squad), shares=[share, 1 - share] if squad else None)


def _on_seeds(fit: Fit, squad: CaseSet | None, seeds: CaseSet) -> dict[str, float]:
    return fit(seeds, squad)


def _sets(seeds: CaseSet, squad: CaseSet | None) -> list[CaseSet]:
    return [seeds, *([squad] if squad else [])]


def _cross_validate(fit: Callable[[CaseSet], dict[str, float]], folds: list[CaseSet]) -> tuple[float, float]:
    """Mean P@1 and MRR@5 on each fold of the weights `fit` makes from the other folds."""
    scores = [
        quality(folds[held], _vector(fit(_merge([f for i, f in enumerate(folds) if i != held]))))
        for held in range(len(folds))
    ]
    return float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores]))


def _merge(parts: list[CaseSet]) -> CaseSet:
    """One case set holding the questions of several."""
    offsets = np.cumsum([0, *(len(p.features) for p in parts[:-1])])
    return CaseSet(
        features=np.vstack([p.features for p in parts]),
        relevant=np.concatenate([p.relevant for p in parts]),
        starts=np.concatenate([p.starts + o for p, o in zip(parts, offsets, strict=True)]).astype(np.int64),
        questions=sum(p.questions for p in parts),
    )


def settings_dir(args: argparse.Namespace) -> Path:
    """The directory of the settings file in use."""
    return args.config.parent if args.config else ROOT / "config"


def _vector(weights: dict[str, float]) -> np.ndarray:
    return np.array([weights[name] for name in FEATURES])


def _pair(p1: float, mrr: float) -> str:
    return f"{p1:.3f} / {mrr:.3f}"


def _sources(args: argparse.Namespace, with_squad: bool, seeds: list[Expectation], squad: list[Expectation]) -> str:
    used = f"{len(seeds)} tune-split questions of {args.questions.name}"
    return used + (f" and {len(squad)} questions of {args.squad.name}" if with_squad else "")


def _lexical(cases: CaseSet) -> CaseSet:
    """The same cases without the features that need sentence embeddings."""
    features = cases.features.copy()
    features[:, [FEATURES.index(name) for name in EMBEDDING_FEATURES]] = 0.0
    return dataclasses.replace(cases, features=features)


def _toml(
    params: IndexParameters,
    weights: dict[str, float],
    lexical: dict[str, float],
    abstention: AbstentionChoice,
    sources: str,
) -> str:
    lines = [
        "# Written by `verbatim tune` from " + sources + ".",
        "# Do not edit by hand: re-run `verbatim tune`. Values in verbatim.toml override these.",
        "",
        "[index]",
        f"k1 = {params.k1}",
        f"b = {params.b}",
        "",
        "[ranking]",
        f"abstain_threshold = {abstention.threshold}",
        f"evidence_floor = {abstention.evidence_floor}",
        f"confidence_high = {abstention.confidence_high}",
        f"confidence_medium = {abstention.confidence_medium}",
        f"lexical_confidence_high = {abstention.lexical_confidence_high}",
        f"lexical_confidence_medium = {abstention.lexical_confidence_medium}",
        "",
        "[ranking.abstention]",
        *(f"{name} = {value}" for name, value in abstention.semantic.items()),
        "",
        "[ranking.lexical_abstention]",
        *(f"{name} = {value}" for name, value in abstention.lexical.items()),
        "",
        "[ranking.weights]",
        *(f"{name} = {round(value, 6)}" for name, value in weights.items()),
        "",
        "[ranking.lexical_weights]",
        *(f"{name} = {round(value, 6)}" for name, value in lexical.items()),
        "",
    ]
    return "\n".join(lines)
