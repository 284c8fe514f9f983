"""What a candidate's article adds to it (retrieval/context.py), and that the answerer fills those features in."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.answerer import Answerer
from retrieval.context import context_features, read_articles, semantic_features, within_article
from retrieval.features import read_question
from retrieval.index import SentenceIndex
from retrieval.parameters import FEATURES, IndexParameters, RankingParameters
from retrieval.pipeline import open_answerer

FIRST = "The bridge opened in 1932. It was designed by Anna Berg. Thousands walked across it that spring."
SECOND = "A new museum opened in 1990. The museum holds paintings."


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> SentenceIndex:
    root = tmp_path_factory.mktemp("context")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "bridge.txt").write_text(FIRST, encoding="utf-8")
    (corpus / "museum.txt").write_text(SECOND, encoding="utf-8")
    params = IndexParameters(engine="rank-bm25", semantic=False)
    return open_answerer(corpus, root / "index", params, RankingParameters()).index


def _doc(index: SentenceIndex, text: str) -> int:
    found = [doc for doc, sentence in enumerate(index.body.tolist()) if index.sentence(sentence).text == text]
    assert found, text
    return found[0]


def test_neighbour_coverage_is_what_the_neighbours_add(index: SentenceIndex) -> None:
    question = read_question("Who designed the bridge that opened in 1932?")  # design bridg open 1932
    weights = dict.fromkeys(question.unique, 1.0)
    designed = _doc(index, "It was designed by Anna Berg.")
    museum = _doc(index, "A new museum opened in 1990.")
    docs = [designed, museum]
    values = context_features(index, read_articles(index, docs), docs, question.unique, weights, None)
    # "designed by" holds one of the four terms, the sentence before it the other three; the museum sentence's
    # neighbour holds none of them.
    assert values["neighbour_coverage"].tolist() == pytest.approx([0.75, 0.0])
    assert values["article_semantic"].tolist() == [0.0, 0.0]  # no embeddings


def test_semantic_context_reads_the_article_centroid_and_the_closer_neighbour(index: SentenceIndex) -> None:
    vectors = np.zeros((len(index.body), 2), dtype=np.float32)
    texts = ("The bridge opened in 1932.", "It was designed by Anna Berg.", "Thousands walked across it that spring.")
    opened, designed, walked = (_doc(index, text) for text in texts)
    vectors[[opened, designed, walked]] = [[1, 0], [0, 1], [0, 1]]
    saved, index.embeddings = index.embeddings, vectors  # the index is shared by the module: restore it after
    try:
        docs = [designed]
        spans = read_articles(index, docs)
        values = context_features(index, spans, docs, ("bridg",), {"bridg": 1.0}, np.array([1.0, 0.0], np.float32))
    finally:
        index.embeddings = saved
    centre = np.array([1.0, 2.0]) / np.sqrt(5.0)
    assert values["article_semantic"][0] == pytest.approx(centre[0])
    assert values["neighbour_semantic"][0] == pytest.approx(1.0)  # "opened" before it points the question's way


def test_neighbours_stop_at_the_article_edges(index: SentenceIndex) -> None:
    texts = ("The bridge opened in 1932.", "It was designed by Anna Berg.", "Thousands walked across it that spring.")
    opened, designed, walked = (_doc(index, text) for text in texts)
    museum = _doc(index, "A new museum opened in 1990.")
    vectors = np.zeros((len(index.body), 2), dtype=np.float32)
    vectors[[opened, designed, walked]] = [[1, 0], [0.6, 0.8], [0, 1]]
    saved, index.embeddings = index.embeddings, vectors
    try:
        docs = [walked, opened, museum, designed]
        spans = read_articles(index, docs)
        values = context_features(index, spans, docs, ("bridg",), {"bridg": 1.0}, np.array([1.0, 0.0], np.float32))
    finally:
        index.embeddings = saved
    # The first and last sentences have one neighbour each; the museum's neighbour points nowhere.
    assert values["neighbour_semantic"].tolist() == pytest.approx([0.6, 0.6, 0.0, 1.0])
    assert values["article_semantic"][0] == values["article_semantic"][1] == values["article_semantic"][3]
    assert values["article_semantic"][2] == 0.0


def test_the_candidates_and_neighbours_terms_are_the_sentences_index_terms(index: SentenceIndex) -> None:
    docs = [_doc(index, "It was designed by Anna Berg."), _doc(index, "The museum holds paintings.")]
    spans = read_articles(index, docs)
    near = {
        n
        for doc, lo, hi in zip(docs, spans.first, spans.last, strict=True)
        for n in (doc - 1, doc, doc + 1)
        if lo <= n < hi
    }
    assert docs[0] - 1 in near  # the designer's sentence has a neighbour before it in its article
    assert spans.terms == {doc: tuple(index.sentence_terms[doc]) for doc in sorted(near)}
    assert spans.every.tolist() == sorted(
        {n for lo, hi in zip(spans.first, spans.last, strict=True) for n in range(lo, hi)}
    )


def test_semantic_rank_and_ranks_within_each_article() -> None:
    cosines = np.array([0.2, 0.9, 0.5, 0.9])
    assert semantic_features(cosines)["semantic_rank"].tolist() == pytest.approx([1 / 4, 1, 1 / 3, 1 / 2])
    rank, gap = within_article(np.array([0.2, 0.9, 0.5, 0.7]), [7, 7, 3, 3])
    assert rank.tolist() == pytest.approx([1 / 2, 1, 1 / 2, 1])
    assert gap.tolist() == pytest.approx([-0.7, 0.0, -0.2, 0.0])


def test_the_answerer_fills_in_the_article_features(index: SentenceIndex) -> None:
    answerer = Answerer(index, RankingParameters())
    found = answerer.candidates(read_question("Who designed the bridge that opened in 1932?"))
    rows = dict(zip(found.sentences, found.features, strict=True))
    designed = int(index.body[_doc(index, "It was designed by Anna Berg.")])
    row = rows[designed]
    assert row[FEATURES.index("neighbour_coverage")] == pytest.approx(0.75, abs=0.1)
    assert row[FEATURES.index("in_article_rank_bm25")] < 1.0  # "opened in 1932" matches more words
    assert row[FEATURES.index("semantic")] == 0.0  # no embeddings in this index


def test_an_empty_candidate_list_has_empty_features(index: SentenceIndex) -> None:
    values = context_features(index, read_articles(index, []), [], ("bridg",), {"bridg": 1.0}, None)
    assert all(len(v) == 0 for v in values.values())
    assert [len(v) for v in within_article(np.zeros(0), [])] == [0, 0]
