"""Answers must not depend on the engine: bm25s and rank-bm25 agree on the seeds and 10k Reuters sentences."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.settings import load_settings
from retrieval.bm25s_engine import BM25sEngine
from retrieval.corpus import load_corpus
from retrieval.parameters import IndexParameters
from retrieval.pipeline import open_answerer
from retrieval.rank_bm25_engine import RankBM25Engine
from retrieval.tokenization import terms

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_QUESTIONS = ROOT / "tests" / "questions" / "seeds.jsonl"
REUTERS = ROOT.parent / "shared" / "corpora" / "reuters21578.jsonl.gz"
# A plain splitter is enough: both engines index the same sentences (the real one is retrieval/sentences.py).
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n\s*\n")
REL = 1e-9  # float64 sums of the same terms; measured differences stay below 1e-15


def _sentences(texts: Sequence[str]) -> Iterator[str]:
    for text in texts:
        yield from (part.strip() for part in SENTENCE_END.split(text) if part.strip())


def _seed_questions() -> list[str]:
    lines = SEED_QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def _assert_same_rankings(docs: list[list[str]], queries: list[list[str]], k1: float, b: float) -> None:
    """Identical ordered top-10 (ids) with equal scores, and equal scores of chosen documents."""
    fast, reference = BM25sEngine.build(docs, k1, b), RankBM25Engine.build(docs, k1, b)
    chosen = list(range(0, len(docs), max(1, len(docs) // 300)))
    different = []
    for query in queries:
        found, expected = fast.search(query, 10), reference.search(query, 10)
        if [doc for doc, _ in found] != [doc for doc, _ in expected]:
            different.append((query, found, expected))
            continue
        np.testing.assert_allclose([s for _, s in found], [s for _, s in expected], rtol=REL)
        np.testing.assert_allclose(fast.score(query, chosen), reference.score(query, chosen), rtol=REL, atol=1e-12)
    assert not different, f"{len(different)} of {len(queries)} top-10 lists differ, first: {different[0]}"


@pytest.mark.parametrize("k1, b", [(1.2, 0.75), (0.3, 0.5)])
def test_same_top10_on_seed_sentences(k1: float, b: float) -> None:
    texts = [path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt"))]
    docs = [terms(sentence) for sentence in _sentences(texts)]
    queries = [query for query in map(terms, _seed_questions()) if query]
    assert len(docs) > 50 and len(queries) > 90
    _assert_same_rankings(docs, queries, k1, b)


def test_same_answers_on_seeds(tmp_path: Path) -> None:
    articles = load_corpus(SEEDS).articles
    ranking = load_settings(env={}).ranking  # the shipped weights: paragraph and article scores count too
    answers = {}
    for engine in ("rank-bm25", "bm25s"):
        # Embeddings do not depend on the BM25 engine; computing them twice would cost ~12 s.
        params = IndexParameters(engine=engine, k1=0.9, b=0.6, semantic=False)
        answerer = open_answerer(SEEDS, tmp_path / engine, params, ranking, articles=articles)
        assert answerer.index.stats.engine == engine
        answers[engine] = [answerer.answer(question, top_k=3) for question in _seed_questions()]
    assert answers["bm25s"] == answers["rank-bm25"]


@pytest.fixture(scope="module")
def reuters_10k() -> tuple[list[list[str]], list[list[str]]]:
    """The first 10,000 sentences of Reuters-21578, tokenized, and 200 titles of the first 2,000 articles."""
    if not REUTERS.exists():
        pytest.skip(f"needs the shared corpora: {REUTERS} is absent")
    sentences: list[str] = []
    titles: list[str] = []
    with gzip.open(REUTERS, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            titles.append(record.get("title") or "")
            if len(sentences) < 10_000:
                sentences.extend(_sentences([record["text"]]))
            elif len(titles) >= 2_100:
                break
    docs = [terms(sentence) for sentence in sentences[:10_000]]
    # Every 10th title: questions on indexed articles and on a few unseen ones.
    queries = [query for query in map(terms, titles[::10]) if query][:200]
    assert len(docs) == 10_000 and len(queries) == 200
    return docs, queries


@pytest.mark.shared
def test_same_top10_on_10k_reuters_sentences(reuters_10k: tuple[list[list[str]], list[list[str]]]) -> None:
    docs, queries = reuters_10k
    _assert_same_rankings(docs, queries, 0.3, 0.9)  # tuned values (config/tuned.toml); the seeds test varies them


@pytest.mark.shared
def test_round_trip_keeps_rankings(reuters_10k: tuple[list[list[str]], list[list[str]]], tmp_path: Path) -> None:
    docs, queries = reuters_10k
    engine = BM25sEngine.build(docs, 1.2, 0.75)
    engine.save(tmp_path)
    loaded = BM25sEngine.load(tmp_path)
    assert len(loaded) == len(docs)
    for query in queries[:50]:
        assert loaded.search(query, 10) == engine.search(query, 10)
