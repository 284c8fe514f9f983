"""The `--ablate` variants: each switches off its component and nothing else."""

from __future__ import annotations

import dataclasses

from bot.ablations import ablations
from bot.settings import Settings
from retrieval.answerer import Answerer
from retrieval.features import read_question
from tests.conftest import SEEDS

# The shipped abstention model abstains on it (its evidence is above the idf-coverage floor).
NEAR_TOPIC = "What is the weather in Brussels tomorrow?"  # shares "Brussels" with the articles


def test_without_abstention_nothing_with_words_is_refused(settings: Settings, answerer: Answerer) -> None:
    assert answerer.answer(NEAR_TOPIC).abstained
    variant = ablations(settings)["abstention"](SEEDS, settings.index_dir, None)
    answer = variant.answer(NEAR_TOPIC, 3)
    assert not answer.abstained and answer.quotes


def test_without_ranking_both_weight_tables_rank_by_sentence_bm25(settings: Settings) -> None:
    lexical = dataclasses.replace(settings, index=dataclasses.replace(settings.index, semantic=False))
    variant = ablations(lexical)["ranking"](SEEDS, settings.index_dir, None)
    assert variant.scorer is None  # the path of archives without embeddings
    question = read_question("How many Iranian individuals did the EU sanction?")
    ranked = variant.rank(question)
    by_bm25 = variant.index.sentences.search(list(question.terms), len(ranked))
    positive = [c.sentence for c in ranked if c.score > 0]
    assert positive == [int(variant.index.body[doc]) for doc, _ in by_bm25][: len(positive)]


def test_without_paragraphs_only_the_sentences_found_themselves_are_candidates(
    settings: Settings, answerer: Answerer
) -> None:
    variant = ablations(settings)["paragraphs"](SEEDS, settings.index_dir, None)
    question = read_question("Who said this kind of information is not always true?")
    assert len(variant.candidates(question).sentences) < len(answerer.candidates(question).sentences)


def test_without_fine_tuning_the_packaged_model_scores(settings: Settings, answerer: Answerer) -> None:
    variant = ablations(settings)["fine-tuning"](SEEDS, settings.index_dir, None)
    assert answerer.scorer is not None and variant.scorer is not None
    assert "+minilm-tuned.safetensors@" in answerer.scorer.version
    assert variant.scorer.version == answerer.scorer.version.split("+")[0]
    # Its own index, embedded by the plain model: the same sentence is another vector.
    assert not (variant.index.embeddings[0] == answerer.index.embeddings[0]).all()
