"""Tests for retrieval/baseline.py: naive sentences, rank-bm25 scores, answers shaped like the product's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval.baseline import BaselineAnswerer, best_first, naive_sentences, word_tokens
from retrieval.corpus import load_corpus
from retrieval.models import Article

ROOT = Path(__file__).parent.parent
QUESTIONS = [
    "Who did Stoltenberg meet in Brussels?",
    "how many Iranian individuals were sanctioned",
    "What did Peskov say?",
    "drones drones Russia",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        (
            "Headline without stop\n\nBody sentence. Next one.",
            ["Headline without stop", "Body sentence.", "Next one."],
        ),
        ("The U.S. Army came. Then J. Smith left.", ["The U.S. Army came.", "Then J. Smith left."]),
        ("“It is true.” Peskov said so.", ["“It is true.”", "Peskov said so."]),
        ("It cost 2.5 million. It rose to 3.", ["It cost 2.5 million.", "It rose to 3."]),
        ("a lower-case start. no split here", ["a lower-case start. no split here"]),
        ("   \n\n  ", []),
    ],
)
def test_naive_sentences(text: str, expected: list[str]) -> None:
    assert [s.text for s in naive_sentences(text)] == expected


def test_every_seed_sentence_is_at_its_offsets() -> None:
    for number, article in enumerate(load_corpus(ROOT / "seeds").articles):
        sentences = naive_sentences(article.text, number)
        assert sentences
        for position, sentence in enumerate(sentences):
            assert article.text[sentence.start : sentence.end] == sentence.text
            assert sentence.text == sentence.text.strip() and sentence.position == position
            assert sentence.article == number


def test_word_tokens_are_lowercase_words_with_stopwords_kept() -> None:
    assert word_tokens("The U.S. sent 1,000 drones; Iran’s reply") == [
        "the",
        "u",
        "s",
        "sent",
        "1",
        "000",
        "drones",
        "iran",
        "s",
        "reply",
    ]


@pytest.mark.parametrize("question", QUESTIONS)
def test_scores_equal_rank_bm25(question: str) -> None:
    articles = load_corpus(ROOT / "seeds").articles
    baseline = BaselineAnswerer(articles)
    sentences = [s for n, a in enumerate(articles) for s in naive_sentences(a.text, n)]
    model = BM25Okapi([word_tokens(s.text) for s in sentences])
    assert len(baseline) == len(sentences)
    np.testing.assert_array_equal(baseline.scores(question), model.get_scores(word_tokens(question)))


def test_answer_is_best_first_verbatim_undated_and_never_abstains() -> None:
    articles = load_corpus(ROOT / "seeds").articles
    baseline = BaselineAnswerer(articles)
    texts = {a.id: a.text for a in articles}
    answer = baseline.answer("Who did Stoltenberg meet in Brussels?", top_k=5)
    assert not answer.abstained and len(answer.quotes) == 5
    scores = [q.score for q in answer.quotes]
    assert scores == sorted(scores, reverse=True)
    for quote in answer.quotes:
        assert texts[quote.article_id][quote.start : quote.end] == quote.text
        assert quote.date is None and quote.also_in == ()
    assert "Kristersson" in " ".join(q.text for q in answer.quotes)


def test_neighbours_stay_inside_the_article() -> None:
    articles = [Article("a", "a", "First. Second."), Article("b", "b", "Third here. Fourth.")]
    answer = BaselineAnswerer(articles).answer("third", top_k=1)
    assert answer.quotes[0].text == "Third here."
    assert (answer.quotes[0].context_before, answer.quotes[0].context_after) == ("", "Fourth.")


def test_unknown_words_empty_corpus_and_zero_top_k() -> None:
    baseline = BaselineAnswerer([Article("a", "a", "Drones were sent. Missiles too.")])
    assert baseline.answer("zebra giraffe", top_k=3).quotes == ()
    assert baseline.answer("drones", top_k=0).quotes == ()
    empty = BaselineAnswerer([])
    assert len(empty) == 0 and empty.answer("drones", top_k=3).quotes == ()
    blank = BaselineAnswerer([Article("b", "b", "... !!!")])
    assert blank.answer("drones", top_k=3).quotes == ()


@pytest.mark.parametrize("count", [0, 1, 3, 7, 50, 60])
def test_best_first_is_the_head_of_a_stable_argsort(count: int) -> None:
    scores = np.random.default_rng(count).integers(0, 6, 50).astype(float)  # many ties
    assert best_first(scores, count).tolist() == np.argsort(-scores, kind="stable")[:count].tolist()
