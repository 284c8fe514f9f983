"""The bm25s engine on its own: scores, ties, edge cases, persistence and damaged files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import pytest

from retrieval.bm25s_engine import BM25sEngine
from retrieval.engine import EngineError, engine_class
from retrieval.rank_bm25_engine import RankBM25Engine
from retrieval.term_arrays import TermArrays
from retrieval.tokenization import terms
from tests.conftest import SHARED

REUTERS = SHARED / "corpora" / "reuters21578.jsonl.gz"

DOCS = [
    ["drone", "iran", "russia", "sanction"],
    ["eu", "sanction", "iran", "drone", "drone"],
    ["nato", "stoltenberg", "brussel", "meet"],
    ["drone", "attack", "kyiv"],
    [],
    ["iran", "deni", "drone", "suppli", "russia", "moscow"],
    ["drone", "strike", "power", "plant"],
    ["drone", "factori", "tehran"],
    ["grain", "export", "odesa"],
    ["un", "secur", "council", "meet"],
]


def _saved(engine: BM25sEngine, tmp_path: Path) -> Path:
    directory = tmp_path / "engine"
    directory.mkdir(parents=True)
    engine.save(directory)
    return directory


def test_engine_class_names_bm25s() -> None:
    assert engine_class("bm25s") is BM25sEngine
    assert BM25sEngine.name == "bm25s"


@pytest.mark.parametrize("k1, b", [(1.2, 0.75), (0.3, 0.5), (2.0, 0.0), (0.5, 0.9)])
def test_scores_equal_rank_bm25(k1: float, b: float) -> None:
    fast, reference = BM25sEngine.build(DOCS, k1, b), RankBM25Engine.build(DOCS, k1, b)
    ids = list(range(len(DOCS)))
    for query in (["drone"], ["iran", "drone"], ["sanction", "sanction", "eu"], ["nato", "unknown"]):
        assert fast.score(query, ids) == pytest.approx(reference.score(query, ids), rel=1e-12, abs=1e-12)
        found, expected = fast.search(query, 3), reference.search(query, 3)
        assert [doc for doc, _ in found] == [doc for doc, _ in expected]
        assert [score for _, score in found] == pytest.approx([score for _, score in expected], rel=1e-12)


def test_search_orders_by_score_then_lower_id() -> None:
    docs = [["a", "x"], ["b", "y"], ["a", "x"], ["a", "x"], ["c", "z"], ["d", "w"], ["e"], ["f"]]
    engine = BM25sEngine.build(docs, 1.2, 0.75)
    found = engine.search(["a"], 2)
    assert [doc for doc, _ in found] == [0, 2]  # three equal scores: the two lowest ids
    assert found[0][1] == found[1][1] > 0


def test_search_finds_only_documents_holding_a_term() -> None:
    # "drone" is in more than half the documents: Lucene's idf still gives it weight (Okapi's would not).
    engine = BM25sEngine.build(DOCS, 1.2, 0.75)
    assert sorted(doc for doc, _ in engine.search(["drone"], 10)) == [0, 1, 3, 5, 6, 7]
    assert all(score > 0 for _, score in engine.search(["drone"], 10))
    assert engine.score(["drone"], [2, 4]) == [0.0, 0.0]
    expected = RankBM25Engine.build(DOCS, 1.2, 0.75).search(["iran", "kyiv"], 10)
    assert [doc for doc, _ in engine.search(["iran", "kyiv"], 10)] == [doc for doc, _ in expected]
    assert len(engine.search(["iran", "kyiv"], 2)) == 2


@pytest.mark.parametrize("query", [[], ["unknown"], ["", "nothing"]])
def test_query_without_known_terms_finds_nothing(query: list[str]) -> None:
    engine = BM25sEngine.build(DOCS, 1.2, 0.75)
    assert engine.search(query, 5) == []
    assert engine.score(query, [0, 2]) == [0.0, 0.0]


def test_k_zero_and_no_ids() -> None:
    engine = BM25sEngine.build(DOCS, 1.2, 0.75)
    assert engine.search(["iran"], 0) == []
    assert engine.score(["iran"], []) == []


@pytest.mark.parametrize("ids", [[len(DOCS)], [-1], [0, 99]])
def test_score_rejects_unknown_ids(ids: list[int]) -> None:
    with pytest.raises(IndexError):
        BM25sEngine.build(DOCS, 1.2, 0.75).score(["iran"], ids)


@pytest.mark.parametrize("docs", [[], [[], []]])
def test_empty_corpus_finds_nothing_and_round_trips(docs: list[list[str]], tmp_path: Path) -> None:
    engine = BM25sEngine.build(docs, 1.2, 0.75)
    assert len(engine) == len(docs)
    assert engine.search(["iran"], 3) == []
    loaded = BM25sEngine.load(_saved(engine, tmp_path))
    assert len(loaded) == len(docs)
    assert loaded.score(["iran"], list(range(len(docs)))) == [0.0] * len(docs)


def test_save_load_round_trip(tmp_path: Path) -> None:
    engine = BM25sEngine.build(DOCS, 0.9, 0.4)
    loaded = BM25sEngine.load(_saved(engine, tmp_path))
    assert len(loaded) == len(DOCS)
    for query in (["iran"], ["nato", "meet"], ["russia", "moscow", "drone"]):
        assert loaded.search(query, 10) == engine.search(query, 10)
        assert loaded.score(query, [5, 0, 3]) == engine.score(query, [5, 0, 3])


def test_same_corpus_gives_same_files(tmp_path: Path) -> None:
    first = _saved(BM25sEngine.build(DOCS, 1.2, 0.75), tmp_path / "a")
    second = _saved(BM25sEngine.build(DOCS, 1.2, 0.75), tmp_path / "b")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert all((first / name).read_bytes() == (second / name).read_bytes() for name in names)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00not what it was\xff")


def _shorter_indptr(path: Path) -> None:
    np.save(path, np.load(path)[:-1])


def _other_size(path: Path) -> None:
    meta = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(meta | {"size": meta["size"] + 1}), encoding="utf-8")


@pytest.mark.parametrize(
    "name, damage",
    [
        ("data.csc.index.npy", _truncate),
        ("indices.csc.index.npy", _garbage),
        ("indptr.csc.index.npy", _shorter_indptr),
        ("vocab.index.json", _garbage),
        ("params.index.json", _truncate),
        ("bm25s_engine.json", _garbage),
        ("bm25s_engine.json", _other_size),
        ("vocab.index.json", Path.unlink),
        ("bm25s_engine.json", Path.unlink),
    ],
)
def test_damaged_file_raises_engine_error(name: str, damage: object, tmp_path: Path) -> None:
    directory = _saved(BM25sEngine.build(DOCS, 1.2, 0.75), tmp_path)
    assert callable(damage)
    damage(directory / name)
    with pytest.raises(EngineError):
        BM25sEngine.load(directory)


@pytest.mark.parametrize("k1, b", [(0.0, 0.75), (1.2, 1.0), (0.0, 1.0)])
def test_extreme_parameters_give_finite_scores(k1: float, b: float) -> None:
    # rank-bm25 divides 0 by 0 here (k1 = 0, or b = 1 with an empty document); bm25s only scores postings.
    engine = BM25sEngine.build(DOCS, k1, b)
    scores = engine.score(["iran", "kyiv"], list(range(len(DOCS))))
    assert all(np.isfinite(scores)) and max(scores) > 0


def test_from_terms_equals_build() -> None:
    vocabulary = ["unused", *dict.fromkeys(term for doc in DOCS for term in doc)]
    ids = [vocabulary.index(term) for doc in DOCS for term in doc]
    documents = TermArrays(vocabulary, np.array(ids, dtype=np.int32), np.cumsum([0, *map(len, DOCS)]))
    engine, built = BM25sEngine.from_terms(documents, 1.2, 0.75), BM25sEngine.build(DOCS, 1.2, 0.75)
    for query in (["iran"], ["nato", "meet", "unused"], ["drone", "kyiv"]):
        assert engine.search(query, 10) == built.search(query, 10)
        assert engine.score(query, [0, 4, 5]) == built.score(query, [0, 4, 5])


def test_from_terms_rejects_a_repeated_term() -> None:
    with pytest.raises(EngineError):
        BM25sEngine.from_terms(TermArrays(["iran", "iran"], np.array([0, 1]), np.array([0, 2])), 1.2, 0.75)


def _bm25s_own_index(docs: list[list[str]], k1: float, b: float) -> bm25s.BM25:
    """bm25s building its matrix itself, document by document (what BM25sEngine computes all at once)."""
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(term, len(vocab)) for term in doc] for doc in docs]
    model = bm25s.BM25(
        k1=k1, b=b, method="atire", idf_method="lucene", dtype="float64", backend="numpy", csc_backend="numpy"
    )
    model.index((ids, vocab), create_empty_token=False, show_progress=False)
    return model


def _assert_same_matrix(docs: list[list[str]], k1: float, b: float) -> None:
    own = _bm25s_own_index(docs, k1, b)
    ours = BM25sEngine.build(docs, k1, b)._model
    assert ours is not None and ours.vocab_dict == own.vocab_dict
    for key in ("data", "indices", "indptr"):
        assert ours.scores[key].dtype == own.scores[key].dtype
        assert np.array_equal(ours.scores[key], own.scores[key]), key  # bit for bit, not approximately
    assert ours.scores["num_docs"] == own.scores["num_docs"]


@pytest.mark.parametrize("k1, b", [(1.2, 0.75), (0.3, 0.9), (0.0, 1.0)])
def test_score_matrix_is_bm25s_own_bit_for_bit(k1: float, b: float) -> None:
    _assert_same_matrix([*DOCS, ["drone"] * 7, []], k1, b)


@pytest.mark.shared
def test_score_matrix_is_bm25s_own_on_reuters_sentences() -> None:
    if not REUTERS.exists():
        pytest.skip(f"needs the shared corpora: {REUTERS} is absent")
    with gzip.open(REUTERS, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line, _ in zip(handle, range(800), strict=False)]
    docs = [terms(part) for text in texts for part in text.split(". ")]
    _assert_same_matrix(docs, 0.3, 0.9)


def test_score_of_chosen_documents_equals_the_full_score_array() -> None:
    engine = BM25sEngine.build(DOCS, 0.9, 0.4)
    for query in (["drone", "iran", "drone"], ["meet", "nato"], ["odesa"]):
        full = engine._scores(query)
        assert full is not None
        chosen = [9, 0, 5, 5, 3, 8]
        assert engine.score(query, chosen) == full[chosen].tolist()  # exactly: the same sums in the same order


def test_search_from_many_threads_equals_search_from_one() -> None:
    # The bot answers in several threads at once; each must sum in its own buffer, left zeroed afterwards.
    from concurrent.futures import ThreadPoolExecutor

    docs = [terms(f"drone {i % 7} iran {i % 11} nato talks {i % 13} sanctions") for i in range(3000)]
    engine = BM25sEngine.build(docs, 0.9, 0.4)
    queries = [terms(f"drone {i % 7} sanctions {i % 13} iran {i % 11}") for i in range(200)]
    alone = [engine.search(query, 10) for query in queries]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda query: engine.search(query, 10), queries * 3))
    assert together == alone * 3
    assert [engine.search(query, 10) for query in queries] == alone
    full = engine._scores(queries[0])
    assert full is not None
    best = sorted(range(len(full)), key=lambda d: (-full[d], d))[:10]
    assert [doc for doc, _ in alone[0]] == best and [s for _, s in alone[0]] == full[best].tolist()


def _best_by_full_scores(engine: BM25sEngine, query: list[str], k: int) -> list[tuple[int, float]]:
    """The k best documents from bm25s' scores of every document, ties by lower id: what `search` must return."""
    full = engine._scores(query)
    if full is None:
        return []
    ranked = sorted((doc for doc in range(len(full)) if full[doc] > 0), key=lambda doc: (-full[doc], doc))
    return [(doc, float(full[doc])) for doc in ranked[:k]]


def test_search_equals_the_full_scores_with_and_without_skipping_the_common_term() -> None:
    # A Zipf-like vocabulary: "common" in most documents, a few mid-frequency words, many rare ones. `search`
    # skips reading back the common term's postings when the others prove it cannot reach the k best; both
    # ways must give bm25s' exact top k, and the buffer must be all zeros afterwards (both ways of clearing it).
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(400)]
    weights = 1.0 / np.arange(1, len(words) + 1)
    docs = []
    for _ in range(5000):
        doc = list(rng.choice(words, size=int(rng.integers(3, 12)), p=weights / weights.sum()))
        docs.append((["common"] if rng.random() < 0.8 else []) + doc)
    engine = BM25sEngine.build(docs, 0.9, 0.4)
    queries = [["common", *rng.choice(words, size=int(rng.integers(1, 5))).tolist()] for _ in range(150)]
    queries += [["common", "common", "w300"], ["w1", "common", "w0"], ["common"], ["w399", "w398"]]
    read_back, skipped = engine._read_back, []

    def spy(terms_: list[int], postings: dict[int, np.ndarray], buffer: np.ndarray, k: int) -> Any:
        found = read_back(terms_, postings, buffer, k)
        skipped.append(len(found[0]) < sum(len(held) for held in postings.values()))
        return found

    engine._read_back = spy  # type: ignore[method-assign,assignment]
    for query in queries:
        for k in (1, 10, 100):
            assert engine.search(query, k) == _best_by_full_scores(engine, query, k), (query, k)
            assert not engine._buffer().any()
    assert 100 < sum(skipped) < len(skipped)  # both paths ran
