"""Soft matching of words: the word table, its reuse, and the soft coverage of a sentence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from retrieval.semantic import SemanticScorer, SemanticUnavailable
from retrieval.word_vectors import WordVectors, content_words, soft_coverage, word_weights

# Three orthogonal meanings; "drones" and "uavs" share one, "sanctions" and "punishment" another.
_MEANING = {"drones": 0, "uavs": 0, "sanctions": 1, "punishment": 1, "weather": 2, "brussels": 2}


def _embed(texts: Sequence[str], calls: list[str] | None = None) -> np.ndarray:
    if calls is not None:
        calls.extend(texts)
    return np.eye(3, dtype=np.float32)[[_MEANING[text] for text in texts]]


def test_content_words_are_distinct_lower_case_and_carry_content() -> None:
    assert content_words("The EU's sanctions, the EU and 2022: Shahed-136 drones") == [
        "eu's",
        "sanctions",
        "eu",
        "shahed-136",
        "drones",
    ]
    assert content_words("Is it 12?") == []


def test_soft_coverage_rewards_synonyms_and_weighs_rare_words_more() -> None:
    table = WordVectors.build(["Drones and sanctions.", "The weather."], _embed)
    assert table.vocabulary == ["drones", "sanctions", "weather"]
    question = _embed(["uavs", "punishment"])
    sentences = [table.rows(found) for found in (["drones", "sanctions"], ["drones"], ["weather"], [])]
    found = soft_coverage(question, np.array([1.0, 3.0]), table, sentences)
    assert found.tolist() == pytest.approx([1.0, 0.25, 0.0, 0.0])


def test_word_weights_follow_idf_and_unknown_words_weigh_most() -> None:
    weights = word_weights(["drones", "said", "zeppelins"], {"drone": 3, "said": 90}, 100)
    assert weights[1] < weights[0] < weights[2]


def test_an_update_embeds_only_new_words_and_the_table_survives_saving(tmp_path: Path) -> None:
    first = WordVectors.build(["Drones."], _embed)
    calls: list[str] = []
    second = WordVectors.build(["Drones and sanctions.", "Brussels"], lambda t: _embed(t, calls), first)
    assert calls == ["brussels", "sanctions"]
    assert np.array_equal(second.vectors, _embed(second.vocabulary))
    second.save(tmp_path)
    loaded = WordVectors.load(tmp_path)
    assert loaded is not None and loaded.vocabulary == second.vocabulary
    assert np.array_equal(loaded.vectors, second.vectors)
    assert WordVectors.load(tmp_path / "nothing") is None


def test_minilm_brings_a_paraphrase_closer_than_an_unrelated_sentence() -> None:
    try:
        scorer = SemanticScorer.load()
    except SemanticUnavailable as error:
        pytest.fail(f"the embedding model is part of the install: {error}")
    sanctions = "The EU approved sanctions against five Iranian individuals over the drones."
    unrelated = "Stoltenberg received the Swedish Prime Minister in Brussels."
    table = WordVectors.build([sanctions, unrelated], scorer.embed)
    asked = content_words("What punishment was handed out over the UAVs?")
    sentences = [table.rows(content_words(text)) for text in (sanctions, unrelated)]
    found = soft_coverage(scorer.embed(asked), np.ones(len(asked)), table, sentences)
    assert found[0] > found[1] + 0.1
