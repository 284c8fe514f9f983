"""The `--ablate` variants: each switches off its component and nothing else."""

from __future__ import annotations

from bot.ablations import ablations
from bot.settings import Settings
from retrieval.answerer import Answerer
from tests.conftest import SEEDS

# The shipped abstention model abstains on it (its evidence is above the idf-coverage floor).
NEAR_TOPIC = "What is the weather in Brussels tomorrow?"  # shares "Brussels" with the articles


def test_without_abstention_nothing_with_words_is_refused(settings: Settings, answerer: Answerer) -> None:
    assert answerer.answer(NEAR_TOPIC).abstained
    variant = ablations(settings)["abstention"](SEEDS, settings.index_dir, None)
    answer = variant.answer(NEAR_TOPIC, 3)
    assert not answer.abstained and answer.quotes
