"""The ranking features of one candidate sentence (retrieval/features.py)."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.features import feature_matrix, features, read_question
from retrieval.parameters import ANSWER_KINDS, FEATURES
from retrieval.tokenization import terms


def _values(question: str, sentence: str) -> dict[str, float]:
    parsed = read_question(question)
    weights = {term: 1.0 for term in parsed.unique} | {"super": 3.0, "bowl": 3.0}
    return features(parsed, sentence, terms(sentence), 0, (1.0, 1.0, 1.0), weights)


def test_every_feature_is_computed_in_order() -> None:
    assert list(_values("Who won the Super Bowl?", "Denver won the Super Bowl.")) == list(FEATURES)


def test_question_names_and_numbers_are_read() -> None:
    question = read_question("Which team did the Denver Broncos beat in 2015 and on 7 February?")
    assert question.names == {"denver", "broncos", "february"}  # not "which": the first word is not a name
    assert question.numbers == {"2015", "7"}


def test_names_and_numbers_count_what_the_sentence_repeats() -> None:
    values = _values("Did the Denver Broncos win in 2015?", "The Broncos won the title in 2015.")
    assert values["names"] == pytest.approx(0.5)  # "broncos" of "denver", "broncos"
    assert values["numbers"] == 1.0
    assert _values("Did they win in 2015?", "They won in 2016.")["numbers"] == 0.0


def test_phrase_is_the_longest_run_of_question_terms_in_order() -> None:
    question = "When did the Super Bowl halftime show start?"  # terms: super bowl halftim show start
    assert _values(question, "The Super Bowl halftime show was long.")["phrase"] == pytest.approx(4 / 5)
    assert _values(question, "The show at halftime of the Bowl was super.")["phrase"] == 0.0  # no two in order
    assert _values(question, "Nothing here.")["phrase"] == 0.0


def test_idf_bigrams_weigh_pairs_by_their_terms() -> None:
    question = "Where was the Super Bowl game played?"  # pairs: super-bowl (6), bowl-game (4), game-play (2)
    values = _values(question, "The Super Bowl was in Santa Clara.")
    assert values["bigrams"] == pytest.approx(1 / 3)
    assert values["idf_bigrams"] == pytest.approx(6 / 12)
    assert _values(question, "The game played was long.")["idf_bigrams"] == pytest.approx(2 / 12)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The Broncos beat the Panthers.", 1.0),  # broncos beat panther: three in a window of three
        ("The Broncos, it is said, beat the Panthers.", 3 / 4),  # "said" sits between them
        ("Broncos fans and Broncos players saw the Panthers beat.", 3 / 5),  # from the closer "Broncos"
        ("The Panthers lost.", 0.0),  # one term: nothing to be close to
    ],
)
def test_proximity_is_the_matched_terms_over_the_shortest_window_holding_them(sentence: str, expected: float) -> None:
    assert _values("Did the Broncos beat the Panthers?", sentence)["proximity"] == pytest.approx(expected)


def test_novelty_is_the_share_of_the_sentence_terms_the_question_lacks() -> None:
    assert _values("Did the Broncos win?", "The Broncos won the title.")["novelty"] == pytest.approx(1 / 2)
    assert _values("Did the Broncos win?", "Broncos win.")["novelty"] == 0.0


@pytest.mark.parametrize(
    ("question", "sentence", "kind"),
    [
        ("When did Denver win?", "Denver won in February 2016.", "date"),
        ("How many points did Denver score?", "Denver scored 24 points.", "number"),
        ("Who coached Denver?", "Denver was coached by Gary Kubiak.", "person"),
    ],
)
def test_answer_type_is_also_split_by_the_kind_asked_for(question: str, sentence: str, kind: str) -> None:
    values = _values(question, sentence)
    assert values["answer_type"] == 1.0
    assert {k: values[f"answer_{k}"] for k in ANSWER_KINDS} == {k: float(k == kind) for k in ANSWER_KINDS}


def test_context_features_are_left_for_the_answerer() -> None:
    values = _values("Who won the Super Bowl?", "Denver won the Super Bowl.")
    assert values["semantic"] == values["neighbour_coverage"] == values["in_article_rank_bm25"] == 0.0


def test_the_matrix_of_many_candidates_holds_the_features_of_each() -> None:
    question = read_question("When did the Denver Broncos win Super Bowl 50 in Santa Clara?")
    weights = {term: 1.0 + len(term) / 10 for term in question.unique}
    sentences = [
        "The Denver Broncos won Super Bowl 50 in February 2016.",
        "Nothing here.",
        "Santa Clara, Denver and the Broncos: Denver won.",
        "",
    ]
    found = [terms(sentence) for sentence in sentences]
    bm25 = np.array([[1.0, 0.5, 0.2], [0.1, 0.0, 0.3], [0.4, 0.4, 1.0], [0.0, 0.0, 0.0]])
    raw = bm25 * 7.3
    positions, ranks = [0, 3, 1, 9], [0, 2, 1, 3]
    matrix = feature_matrix(question, sentences, found, positions, bm25, weights, raw, ranks)
    assert matrix.shape == (len(sentences), len(FEATURES))
    for row, sentence in enumerate(sentences):
        scores = (tuple(bm25[row].tolist()), tuple(raw[row].tolist()))
        one = features(question, sentence, found[row], positions[row], scores[0], weights, scores[1], ranks[row])
        assert matrix[row].tolist() == list(one.values())  # the same numbers, to the last bit


def test_a_matrix_of_no_candidates_is_empty() -> None:
    question = read_question("Who won?")
    empty = np.zeros((0, 3))
    assert feature_matrix(question, [], [], [], empty, {}, empty, []).shape == (0, len(FEATURES))
