"""The one tokenizer for articles and questions."""

from __future__ import annotations

import pytest

from retrieval.cleaning import unglue
from retrieval.tokenization import normalise, terms, tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Iran’s drones", ["iran", "drone"]),
        ("Iran's drones", ["iran", "drone"]),
        ("the Shahed-136", ["shahed136", "shahe", "136"]),
        ("more than 1,000 square kilometers", ["1000", "squar", "kilomet"]),
        ("2.5 pct", ["2.5", "pct"]),
        ("What is it?", []),
        ("U.S. officials", ["us", "offici"]),
        ("“Quoted” – text", ["quot", "text"]),
    ],
)
def test_terms(text: str, expected: list[str]) -> None:
    assert terms(text) == expected


def test_questions_and_articles_share_the_tokenizer() -> None:
    assert terms("Who supplies the DRONES?") == terms("supplying drones")


def test_token_spans_point_into_the_original_text() -> None:
    text = "İstanbul and ﬁne Iran’s “drones”"
    for token in tokens(text):
        assert text[token.start : token.end].strip()
    assert len(normalise(text)) == len(text)


def test_other_scripts_and_emoji() -> None:
    assert terms("Что сказал Кремль?") != []
    assert terms("🙂🙂") == []


@pytest.mark.parametrize(
    ("glued", "fixed"),
    [
        ("Jens Stoltenbergsaid this", "Jens Stoltenberg said this"),
        ("Ulf Kristerssonat NATO", "Ulf Kristersson at NATO"),
        ("Spainamong others", "Spain among others"),
        ("Vladimir Putinwhich has", "Vladimir Putin which has"),
        ("near Kyivthen launched", "near Kyiv then launched"),
        ("Washington and Boston", "Washington and Boston"),
    ],
)
def test_glued_words_are_repaired_for_the_index(glued: str, fixed: str) -> None:
    assert unglue(glued, {"Kristersson", "Stoltenberg", "Putin", "Kyiv"}) == fixed
