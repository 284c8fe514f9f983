"""The benchmark's measuring process: builds an index, or loads an engine or an index and times questions.

`retrieval.benchmark` starts it fresh for every measurement (`python -m retrieval.bench_worker JOB.json`), so
that start-up, memory and the first answer are what a new `verbatim ask` would see."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from retrieval.parameters import IndexParameters, RankingParameters

# What the speed targets compare against: rank-bm25 as its README uses it, BM25Okapi.get_scores over every sentence
# and the best k of them. Engine level only: it is no engine of the product (ours scores only term holders).
PLAIN = "plain rank-bm25"


def memory() -> dict[str, float]:
    """This process's resident and peak resident memory in MiB (Linux)."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def _timed(action: Callable[[Any], object], items: Sequence[Any]) -> list[float]:
    """Milliseconds of `action` on each item."""
    found = []
    for item in items:
        began = time.perf_counter()
        action(item)
        found.append((time.perf_counter() - began) * 1000)
    return found


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _worker(job: dict[str, Any]) -> None:
    """Inside a fresh process: build an index, or load an engine or an index and time questions."""
    corpus, index_dir = Path(job.get("corpus", ".")), Path(job.get("index_dir", "."))
    if job["kind"] == "index":
        from retrieval.pipeline import load_or_build

        began = time.perf_counter()
        built = load_or_build(corpus, index_dir, IndexParameters(**job["index"]))
        seconds = time.perf_counter() - began
        _emit({"seconds": seconds, "peak_mib": memory()["VmHWM"], "sentences": built.stats.sentences})
    elif job["kind"] == "engine":
        search = _plain_search(Path(job["dir"])) if job["engine"] == PLAIN else _engine_search(job)
        queries, k = job["queries"], job["k"]
        _emit({"first_ms": _timed(lambda query: search(query, k), queries[:1])})
        latencies = _timed(lambda query: search(query, k), queries)
        _emit({"latencies_ms": latencies, "rss_mib": memory()["VmRSS"]})
    else:
        from retrieval.pipeline import open_answerer
        from retrieval.tokenization import terms

        ranking = RankingParameters(**job["ranking"])
        answerer = open_answerer(corpus, index_dir, IndexParameters(**job["index"]), ranking)
        questions, k = job["questions"], job["k"]
        _emit({"first_ms": _timed(answerer.answer, questions[:1])})
        latencies = _timed(answerer.answer, questions)
        retrieval = _timed(lambda question: answerer.index.sentences.search(terms(question), k), questions)
        _emit({"latencies_ms": latencies, "retrieval_ms": retrieval, "rss_mib": memory()["VmRSS"]})


Search = Callable[[list[str], int], object]


def _engine_search(job: dict[str, Any]) -> Search:
    from retrieval.engine import engine_class

    return engine_class(job["engine"]).load(Path(job["dir"])).search


def _plain_search(directory: Path) -> Search:
    """Plain rank-bm25: every sentence scored in Python, then the best k."""
    import pickle

    import numpy as np

    with (directory / "bm25okapi.pickle").open("rb") as handle:
        model = pickle.load(handle)

    def search(query: list[str], k: int) -> object:
        scores = model.get_scores(query)
        best = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        return best[np.argsort(-scores[best], kind="stable")]

    return search


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="bench worker: %(levelname)s: %(message)s")
    _worker(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
