"""The reference engine on its own: its scores are rank-bm25's own, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.rank_bm25_engine import RankBM25Engine


def _corpus(seed: int) -> tuple[list[list[str]], list[list[str]]]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(60)]
    weights = 1.0 / np.arange(1, len(words) + 1)
    docs = [list(rng.choice(words, size=int(rng.integers(1, 15)), p=weights / weights.sum())) for _ in range(400)]
    queries = [[*rng.choice(words, size=int(rng.integers(1, 6))).tolist(), "unknown"] for _ in range(60)]
    queries += [["w0", "w0", "w1"], ["unknown"], ["w59"]]
    return docs, queries


@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (0.3, 0.9), (0.9, 1.0)])
def test_scores_are_rank_bm25s_batch_scores_bit_for_bit(k1: float, b: float) -> None:
    docs, queries = _corpus(3)
    engine = RankBM25Engine.build(docs, k1, b)
    model = engine._model
    assert model is not None
    ids = [5, 0, 399, 17, 17, 250]
    for query in queries:
        assert engine.score(query, ids) == model.get_batch_scores(query, ids)  # exactly, not approximately
        found = engine.search(query, 10)
        full = model.get_scores(query)
        ranked = sorted((d for d in range(len(docs)) if full[d] > 0), key=lambda d: (-full[d], d))[:10]
        assert [doc for doc, _ in found] == ranked
        assert [score for _, score in found] == full[ranked].tolist()


def test_score_rejects_ids_outside_the_corpus() -> None:
    docs, _ = _corpus(4)
    engine = RankBM25Engine.build(docs, 1.2, 0.75)
    with pytest.raises(IndexError):
        engine.score(["w1"], [len(docs)])
    assert engine.score(["w1"], []) == []


def test_an_empty_document_scores_zero_even_when_b_is_one() -> None:
    # rank-bm25's own formula gives 0 / 0 there: b = 1 normalises by a length of 0.
    engine = RankBM25Engine.build([["drone", "iran"], [], ["iran"]], 1.2, 1.0)
    assert engine.score(["drone", "iran"], [1]) == [0.0]
    assert [doc for doc, _ in engine.search(["drone", "iran"], 3)] == [0, 2]
