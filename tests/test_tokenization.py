"""The one tokenizer for articles and questions."""

from __future__ import annotations

import re

import pytest

from retrieval.cleaning import unglue
from retrieval.tokenization import _WORD, normalise, terms, tokens


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


# The word pattern as it reads before its first character is taken out in front (for speed).
_PLAIN_WORD = re.compile(r"(?:[^\W\d_]\.){2,}|\d+(?:[.,]\d+)+|[^\W_]+(?:['-][^\W_]+)*")


@pytest.mark.parametrize(
    "text",
    [
        "u.s. u.s.a. a.m. e.g a. b.c",
        "1,000.50 2.5 3. ,4 5,a 1,2,3 x1.5 1.5x 12-13 ١٢٣.٤ ²5.1",
        "Shahed-136 Iran's rock'n'roll -dash- ' - __init__ a_b",
        "İstanbul café naïve e\u0301 中文.字 Что-то ½.5",
    ],
)
def test_word_pattern_finds_what_its_plain_form_finds(text: str) -> None:
    assert [m.span() for m in _WORD.finditer(text)] == [m.span() for m in _PLAIN_WORD.finditer(text)]
    assert [m.span() for m in _WORD.finditer(text.lower())] == [m.span() for m in _PLAIN_WORD.finditer(text.lower())]
