"""`verbatim eval`: answer a question set or SQuAD with the product and the baseline, then report."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

from bot.report import (
    ReportError,
    RunReport,
    changes,
    check_comparable,
    load_results,
    render_text,
    results,
    write_report,
)
from bot.settings import Settings
from retrieval.answerer import Answerer
from retrieval.baseline import BaselineAnswerer
from retrieval.corpus import CorpusError, load_corpus
from retrieval.evaluation import Answering, Evaluation, Expectation, by_kind, evaluate, expectation, summarise
from retrieval.models import Article
from retrieval.questions import SPLITS, Question, QuestionSetError, check_within_sentences, load_questions
from retrieval.squad import SquadError, expectations, load_squad, sample

log = logging.getLogger(__name__)

# Builds an answerer from (corpus path, index directory, in-memory articles or None to read the corpus).
AnswererFactory = Callable[[Path, Path, Sequence[Article] | None], Answering]


class EvalError(Exception):
    """The evaluation cannot run as asked (no question set, unknown ablation, ...)."""


@dataclass(frozen=True)
class Benchmark:
    """The questions to ask, what a right answer is for each, and the corpus they are asked over."""

    title: str
    kind: str  # "questions" or "squad"
    corpus: Path
    articles: tuple[Article, ...]
    cases: tuple[Expectation, ...]
    in_memory: bool  # the product answers over `articles` rather than reading `corpus`
    details: dict[str, str] = field(default_factory=dict)
    questions: tuple[Question, ...] = ()  # a question set's questions (none for SQuAD)
    source: Path | None = None  # the question set's file


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `verbatim eval`."""
    parser.add_argument(
        "questions",
        nargs="?",
        type=Path,
        metavar="QUESTIONS",
        help="question set (JSON lines, see tests/questions)",
    )
    parser.add_argument("--corpus", type=Path, metavar="DIR", help="articles the questions are about (default: seeds/)")
    parser.add_argument("--index-dir", type=Path, help="where the product's index is kept (default: .verbatim-index/)")
    parser.add_argument("--engine", choices=("auto", "rank-bm25", "bm25s"), help="BM25 engine (default: auto)")
    parser.add_argument("--squad", type=Path, metavar="FILE", help="ReQA-style benchmark on a SQuAD v1.1 file")
    parser.add_argument("--split", choices=SPLITS, help="only the questions of this split")
    parser.add_argument("--limit", type=int, metavar="N", help="an evenly spaced sample of N questions")
    parser.add_argument(
        "--ablate",
        action="append",
        default=[],
        metavar="NAME",
        help="also run without a component (repeatable; 'all' for every one)",
    )
    parser.add_argument("--compare", type=Path, metavar="OLD.json", help="show changes since an earlier results.json")
    parser.add_argument("--report", type=Path, metavar="DIR", help="write summary.md, charts and results.json here")
    parser.add_argument("--json", action="store_true", help="print every number as JSON instead of tables")


def run_eval(
    args: argparse.Namespace,
    settings: Settings,
    *,
    write: Callable[[str], object] | None = None,
    product: AnswererFactory | None = None,
    ablations: Mapping[str, AnswererFactory] | None = None,
) -> int:
    """Evaluate the product, the baseline and any ablations on one benchmark; print and report the numbers."""
    write = write or sys.stdout.write
    try:
        started = time.perf_counter()
        old = load_results(args.compare) if args.compare else None
        systems = _systems(args.ablate, product or product_factory(settings), ablations or {})
        benchmark = load_benchmark(args, settings)
        if old is not None:
            check_comparable(old, benchmark.title, benchmark.details, args.compare)
        evaluations: list[Evaluation] = []
        details = dict(benchmark.details)
        with tempfile.TemporaryDirectory(prefix="verbatim-eval-") as scratch:
            for number, (name, factory) in enumerate(systems):
                index_dir = settings.index_dir if number == 0 else Path(scratch) / name.replace(" ", "-")
                evaluation, timing = _run_system(name, factory, benchmark, index_dir)
                evaluations.append(evaluation)
                details[f"{name} time"] = timing
        details["wall time"] = f"{time.perf_counter() - started:.1f} s"
        run = RunReport(benchmark.title, benchmark.kind, tuple(evaluations), details)
        if args.report:
            write_report(args.report, run, old)
        if args.json:
            numbers = results(run) | ({"changes": changes(old, run)} if old is not None else {})
            write(json.dumps(numbers, ensure_ascii=False) + "\n")
        else:
            write(render_text(run, old))
    except (EvalError, QuestionSetError, SquadError, ReportError, CorpusError) as error:
        sys.stderr.write(f"verbatim: error: {error}\n")
        return 2
    return 0


# Questions answered one at a time for the latency percentiles (all of a smaller set).
LATENCY_SAMPLE = 200


def product_factory(settings: Settings) -> AnswererFactory:
    """The product as configured: the answerer `verbatim ask` uses, with the settings' parameters."""

    def build(corpus: Path, index_dir: Path, articles: Sequence[Article] | None) -> Answering:
        from retrieval.pipeline import open_answerer

        return open_answerer(
            corpus,
            index_dir,
            settings.index,
            settings.ranking,
            max_question_chars=settings.max_question_chars,
            articles=articles,
        )

    return build


def baseline_factory(corpus: Path, index_dir: Path, articles: Sequence[Article] | None) -> Answering:
    """The plain rank-bm25 baseline over the same articles (it keeps no index on disk)."""
    return BaselineAnswerer(articles if articles is not None else load_corpus(corpus).articles)


def load_benchmark(args: argparse.Namespace, settings: Settings) -> Benchmark:
    """The question set over its corpus, or a SQuAD file as its own corpus, as the arguments ask."""
    if args.limit is not None and args.limit < 1:
        raise EvalError(f"--limit must be at least 1, got {args.limit}")
    if (args.questions is None) == (args.squad is None):
        raise EvalError("give either a question set (QUESTIONS) or --squad FILE")
    run_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if args.squad is not None:
        if args.split:
            raise EvalError("--split applies to question sets, not to --squad")
        squad = load_squad(args.squad)
        chosen = sample(squad.questions, args.limit)
        details = {"squad": str(args.squad), "questions": f"{len(chosen)} of {len(squad.questions)}"}
        details |= {"articles (paragraphs)": str(len(squad.articles)), "run at": run_at}
        cases = tuple(expectations(chosen))
        title = f"SQuAD {args.squad.name}" + _sampled(args.limit, len(chosen), len(squad.questions))
        return Benchmark(title, "squad", args.squad, squad.articles, cases, True, details)
    corpus_path: Path = args.corpus or settings.corpus
    corpus = load_corpus(corpus_path)
    questions = load_questions(args.questions, {a.source: a.text for a in corpus.articles})
    if args.split:
        questions = [q for q in questions if q.split == args.split]
    asked = sample(questions, args.limit)
    title = (
        args.questions.name
        + (f" ({args.split})" if args.split else "")
        + _sampled(args.limit, len(asked), len(questions))
    )
    details = {
        "question set": str(args.questions),
        "split": args.split or "all",
        "questions": str(len(asked)),
    }
    details |= {"corpus": str(corpus_path), "articles": str(len(corpus.articles)), "run at": run_at}
    cases = tuple(expectation(q) for q in asked)
    return Benchmark(
        title, "questions", corpus_path, corpus.articles, cases, False, details, tuple(asked), args.questions
    )


def _sampled(limit: int | None, count: int, total: int) -> str:
    """How a title names a sample (`--limit` below the questions there are): runs of different samples are not
    compared."""
    return f", a sample of {count}" if limit is not None and limit < total else ""


def _systems(
    names: Sequence[str], product: AnswererFactory, ablations: Mapping[str, AnswererFactory]
) -> list[tuple[str, AnswererFactory]]:
    """Product first (the report compares everything with it), then the baseline, then ablations."""
    wanted = list(ablations) if "all" in names else list(dict.fromkeys(names))
    unknown = [name for name in wanted if name not in ablations]
    if unknown:
        known = ", ".join(ablations) or "none available"
        raise EvalError(f"unknown ablation {unknown[0]!r} (known: {known})")
    systems = [("product", product), ("baseline", baseline_factory)]
    return systems + [(f"without {name}", ablations[name]) for name in wanted]


def _run_system(name: str, factory: AnswererFactory, benchmark: Benchmark, index_dir: Path) -> tuple[Evaluation, str]:
    """Build one system once, answer every question with it, and say how long each part took."""
    began = time.perf_counter()
    answerer = factory(benchmark.corpus, index_dir, benchmark.articles if benchmark.in_memory else None)
    if name == "product" and benchmark.questions and isinstance(answerer, Answerer):
        cited = {item.source for question in benchmark.questions for item in question.evidence}
        check_within_sentences(benchmark.questions, _body_sentences(answerer, cited), benchmark.source or Path())
    built = time.perf_counter()
    count = len(benchmark.cases)
    timing = f"built in {built - began:.1f} s"
    dates = _dates(benchmark.articles)
    prepared = 0.0
    if isinstance(answerer, Answerer) and answerer.scorer is not None:
        # An evenly spaced sample is answered first, one at a time as users ask, embedding included: the latency
        # percentiles. The rest are embedded in one batch, far cheaper than one by one, and leave them.
        answerer.scorer.forget()  # the systems before this one share the model and asked the same questions
        chosen = set(sample(range(count), LATENCY_SAMPLE))
        timed = [case for n, case in enumerate(benchmark.cases) if n in chosen]
        batched = [case for n, case in enumerate(benchmark.cases) if n not in chosen]
        first = evaluate(name, answerer, timed, dates).outcomes
        started = time.perf_counter()
        answerer.prepare([case.question for case in batched])
        prepared = time.perf_counter() - started
        rest = evaluate(name, answerer, batched, dates, untimed=frozenset(c.id for c in batched)).outcomes
        lists = {True: iter(first), False: iter(rest)}
        outcomes = [next(lists[n in chosen]) for n in range(count)]  # back in the benchmark's order
        evaluation = Evaluation(name, summarise(outcomes), by_kind(outcomes), tuple(outcomes))
        if batched:
            timing += f", embedded {len(batched)} questions in one batch in {prepared:.1f} s"
    else:
        evaluation = evaluate(name, answerer, benchmark.cases, dates)
    answered = time.perf_counter()
    timing += f", answered {count} questions in {answered - built - prepared:.1f} s"
    log.info("%s: %s", name, timing)
    return evaluation, timing


def _body_sentences(answerer: Answerer, sources: set[str]) -> dict[str, list[str]]:
    """The body sentences (what can be quoted) of the articles named in `sources`, by source: each article is read
    once, whatever the size of the archive."""
    index = answerer.index
    body = np.asarray(index.body)
    article_of = np.asarray(index.columns["article"])[body]
    starts = np.asarray(index.columns["start"])[body].tolist()
    ends = np.asarray(index.columns["end"])[body].tolist()
    found: dict[str, list[str]] = {}
    bounds = [0, *(np.flatnonzero(np.diff(article_of)) + 1).tolist(), len(body)]  # body docs run article by article
    for lo, hi in pairwise(bounds):
        if lo == hi:
            continue
        article = index.articles[int(article_of[lo])]
        if article.source in sources:
            found[article.source] = [article.text[a:b] for a, b in zip(starts[lo:hi], ends[lo:hi], strict=True)]
    return found


def _dates(articles: Sequence[Article]) -> dict[str, dt.date | None]:
    """Each source's date as the corpus gives it (manifest, front matter, dateline): what quotes must show."""
    return {article.source: article.date for article in articles}
