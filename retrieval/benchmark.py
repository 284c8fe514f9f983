"""The benchmark core: engines and full answers at 10k/100k/1M sentences, measured beside plain rank-bm25."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.bench_worker import PLAIN, memory
from retrieval.models import Article
from retrieval.parameters import IndexParameters, RankingParameters

log = logging.getLogger(__name__)

REFERENCE = "rank-bm25"
LEVELS = ("engine", "answer")
Docs = list[list[list[str]]]  # per article: the terms of each body sentence


class BenchError(Exception):
    """The benchmark cannot run as asked (no corpus, a worker failed, ...)."""


@dataclass(frozen=True)
class _Sample:
    """The articles of one size: (article, copy) pairs over the real articles and their sentence terms."""

    size: int
    articles: Sequence[Article]
    docs: Docs
    chosen: list[tuple[int, int]]

    @property
    def copies(self) -> int:
        """How many times the real articles appear (1: no repetition)."""
        return max(copy for _, copy in self.chosen) + 1


@dataclass(frozen=True)
class BenchPlan:
    """What to measure, on which corpora, and where to write the temporary corpora and indexes."""

    corpora: tuple[Path, ...]
    workdir: Path
    index: IndexParameters
    ranking: RankingParameters
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    engines: tuple[str, ...] = (PLAIN, REFERENCE, "bm25s")
    levels: tuple[str, ...] = LEVELS
    questions: int = 200
    reference_questions: int = 10  # rank-bm25 is asked only this many questions from `sample_from` on
    sample_from: int = 1_000_000
    k: int = 10  # documents retrieved per question at the engine level, as in the anchors


@dataclass(frozen=True)
class Measurement:
    """One engine at one size, at one level: the engine over sentence terms, or the whole answering path."""

    level: str
    size: int
    sentences: int  # indexed (body) sentences
    copies: int  # how many times the real articles were repeated to reach the size
    engine: str
    build_s: float
    build_peak_mib: float
    disk_mib: float
    cold_start_s: float  # process start to the first result, index load included
    serve_rss_mib: float
    latencies_ms: tuple[float, ...]  # per question, in question order
    retrieval_ms: tuple[float, ...] = ()  # answer level: the sentence engine's search for each question
    sampled: bool = False  # only the first few questions were asked (rank-bm25 at large sizes)


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` quantile (nearest rank) of a sample; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def speedup(reference: Measurement | None, fast: Measurement, retrieval: bool = False) -> float | None:
    """The reference's median over this engine's median on the same questions (the first n both answered)."""
    if reference is None:
        return None
    ref = reference.retrieval_ms if retrieval else reference.latencies_ms
    own = fast.retrieval_ms if retrieval else fast.latencies_ms
    n = min(len(ref), len(own))
    return statistics.median(ref[:n]) / statistics.median(own[:n]) if n else None


def run_benchmark(plan: BenchPlan, report: Callable[[Measurement], None]) -> list[Measurement]:
    """Measure every level, size and engine of the plan; `report` sees each measurement as it is made."""
    from retrieval.corpus import load_corpus

    articles = [a for path in plan.corpora for a in load_corpus(path).articles]
    log.info("splitting and tokenizing %d articles once", len(articles))
    docs = _body_terms(articles)
    plan.workdir.mkdir(parents=True, exist_ok=True)
    found: list[Measurement] = []
    for size in plan.sizes:
        sample = _Sample(size, articles, docs, _choose(docs, size))
        titles = [title for i, copy in sample.chosen if copy == 0 and (title := articles[i].title)]
        questions = random.Random(size).sample(titles, min(plan.questions, len(titles)))
        for level in plan.levels:
            for engine in plan.engines:
                if engine == PLAIN and level != "engine":
                    continue
                sampled = engine in (PLAIN, REFERENCE) and size >= plan.sample_from
                asked = questions[: plan.reference_questions] if sampled else questions
                measure = _engine_level if level == "engine" else _answer_level
                found.append(dataclasses.replace(measure(plan, sample, engine, asked), sampled=sampled))
                report(found[-1])
    return found


def _body_terms(articles: Sequence[Article]) -> Docs:
    """The terms of every body sentence, per article, split as the index splits them."""
    from retrieval.models import SentenceKind
    from retrieval.sentences import split_sentences, train_punkt
    from retrieval.tokenization import terms

    punkt = train_punkt(article.text for article in articles)
    body = SentenceKind.BODY
    return [
        [terms(s.text) for s in split_sentences(article, n, punkt, 400, 0) if s.kind is body]
        for n, article in enumerate(articles)
    ]


def _choose(docs: Docs, size: int) -> list[tuple[int, int]]:
    """(article, copy) pairs in corpus order, repeating the corpus under new ids until `size` sentences."""
    if not any(docs):
        raise BenchError("the corpora hold no body sentences")
    chosen: list[tuple[int, int]] = []
    total, copy = 0, 0
    while total < size:
        for number, sentences in enumerate(docs):
            if total >= size:
                break
            chosen.append((number, copy))
            total += len(sentences)
        copy += 1
    return chosen


def _engine_level(plan: BenchPlan, sample: _Sample, engine: str, questions: list[str]) -> Measurement:
    """Build the sentence engine in a forked child (for its peak memory), then serve it in a fresh process."""
    from retrieval.tokenization import terms

    sentences = [s for number, _ in sample.chosen for s in sample.docs[number]]
    directory = plan.workdir / f"engine-{sample.size}-{engine}"
    _clear(directory)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_build_engine, args=(engine, sentences, plan.index, directory, send))
    child.start()
    built: dict[str, float] = receive.recv()
    child.join()
    job = {"kind": "engine", "engine": engine, "dir": str(directory), "k": plan.k}
    served = _serve(job | {"queries": [terms(q) for q in questions]}, plan.workdir)
    return Measurement(
        **_common(sample, engine, directory, served), sentences=len(sentences), level="engine",
        build_s=built["seconds"], build_peak_mib=built["peak_mib"],
    )  # fmt: skip


def _build_engine(engine: str, sentences: list[list[str]], params: IndexParameters, directory: Path, send: Any) -> None:
    """In the forked child: build and save; report the time, and the memory added to the inherited terms."""
    from retrieval.engine import engine_class

    Path("/proc/self/clear_refs").write_text("5")  # resets the peak to the memory inherited from the parent
    before = memory()["VmRSS"]
    began = time.perf_counter()
    directory.mkdir(parents=True)
    if engine == PLAIN:
        import pickle

        from rank_bm25 import BM25Okapi

        with (directory / "bm25okapi.pickle").open("wb") as handle:  # rank-bm25 has no format of its own
            pickle.dump(BM25Okapi(sentences), handle, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        engine_class(engine).build(sentences, params.k1, params.b).save(directory)
    send.send({"seconds": time.perf_counter() - began, "peak_mib": memory()["VmHWM"] - before})


def _answer_level(plan: BenchPlan, sample: _Sample, engine: str, questions: list[str]) -> Measurement:
    """Write the corpus, index it like `verbatim index`, answer like a cold `verbatim ask`: each a process."""
    corpus = plan.workdir / f"corpus-{sample.size}.jsonl"
    if not corpus.exists():
        _write_corpus(corpus, sample)
    index_dir = plan.workdir / f"index-{sample.size}-{engine}"
    _clear(index_dir)
    params = dataclasses.replace(plan.index, engine=engine)
    job = {"corpus": str(corpus), "index_dir": str(index_dir), "index": dataclasses.asdict(params)}
    job["ranking"] = dataclasses.asdict(plan.ranking)
    built = _serve(job | {"kind": "index"}, plan.workdir)
    stamps = {path: path.stat().st_mtime_ns for path in index_dir.rglob("CURRENT")}
    served = _serve(job | {"kind": "answer", "questions": questions, "k": plan.ranking.candidates}, plan.workdir)
    if not stamps or any(path.stat().st_mtime_ns != stamp for path, stamp in stamps.items()):
        raise BenchError(f"the index in {index_dir} was rebuilt when it should have been loaded")
    return Measurement(
        **_common(sample, engine, index_dir, served), sentences=built["sentences"], level="answer",
        build_s=built["seconds"], build_peak_mib=built["peak_mib"],
        retrieval_ms=tuple(served["retrieval_ms"]),
    )  # fmt: skip


def _common(sample: _Sample, engine: str, directory: Path, served: dict[str, Any]) -> dict[str, Any]:
    """The fields both levels measure the same way."""
    return {
        "size": sample.size, "copies": sample.copies, "engine": engine, "disk_mib": _disk_mib(directory),
        "cold_start_s": served["cold_start_s"], "serve_rss_mib": served["rss_mib"],
        "latencies_ms": tuple(served["latencies_ms"]),
    }  # fmt: skip


def _write_corpus(path: Path, sample: _Sample) -> None:
    """JSON lines of the chosen articles; a copy gets a new id and a final heading, so it is no duplicate."""
    with path.open("w", encoding="utf-8") as handle:
        for number, copy in sample.chosen:
            article = sample.articles[number]
            ident = article.id.rpartition("#")[2] + (f"~copy{copy}" if copy else "")
            text = article.text + (f"\n\nBenchmark copy {copy}" if copy else "")  # a heading: never a quote
            date = article.date.isoformat() if article.date else None
            record = {"id": ident, "title": article.title, "date": date, "text": text}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _serve(job: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run one job in a fresh Python process; the cold start is wall time until its first result."""
    job_file = workdir / "job.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    began = time.perf_counter()
    command = [sys.executable, "-m", "retrieval.bench_worker", str(job_file)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        output = process.stdout
        first = output.readline() if output else ""
        ready = time.perf_counter() - began
        rest = output.read() if output else ""
        code = process.wait()
    if code != 0 or not first.strip():
        raise BenchError(f"the {job['kind']} worker failed (exit code {code}); see its messages above")
    result: dict[str, Any] = json.loads(rest or first)
    return result | {"cold_start_s": ready}


def _clear(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


def _disk_mib(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20
