"""Sentence splitting: offsets, quotations, abbreviations, and the seed articles' defects."""

from __future__ import annotations

import pytest
from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTrainer

from retrieval.corpus import load_corpus
from retrieval.models import Article, Sentence, SentenceKind
from retrieval.sentences import ABBREVIATIONS, sentence_tokenizer, split_sentences, train_punkt, training_texts
from tests.conftest import SEEDS

SEED_ARTICLES = load_corpus(SEEDS).articles
PARAMS = train_punkt(a.text for a in SEED_ARTICLES)


def _split(text: str, max_chars: int = 400) -> list[Sentence]:
    return split_sentences(Article("t", "t", text), 0, PARAMS, max_chars, 0)


def _seed_sentences() -> list[tuple[Article, Sentence]]:
    return [(a, s) for i, a in enumerate(SEED_ARTICLES) for s in split_sentences(a, i, PARAMS, 400, 0)]


def test_every_seed_sentence_is_the_article_text_at_its_offsets() -> None:
    pairs = _seed_sentences()
    assert len(pairs) > 90
    for article, sentence in pairs:
        assert article.text[sentence.start : sentence.end] == sentence.text
        assert sentence.text == sentence.text.strip()


def test_quotation_keeps_its_attribution() -> None:
    texts = [s.text for _, s in _seed_sentences()]
    assert any(
        t.startswith("“This kind of information is not always true,” Kremlin spokesman Dmitry Peskov") for t in texts
    )
    # A quotation running over two sentences stays with "he said".
    assert any(
        t.startswith("“We call on Iran not to provide neither drones nor missiles. And any supplies")
        and t.endswith("he said.")
        for t in texts
    )


@pytest.mark.parametrize(
    "text",
    [
        "The U.S. Gen. Smith arrived on Jan. 5 with aides.",
        "Prices rose 2.5 pct to 1,000.50 dlrs in the quarter.",
        "Mr. Smith met Dr. Jones at St. Paul's.",
        "John F. Kennedy was there.",
    ],
)
def test_abbreviations_and_decimals_do_not_split(text: str) -> None:
    assert [s.text for s in _split(text)] == [text]


def test_plain_sentences_split() -> None:
    assert [s.text for s in _split("Iran denies it. Russia says nothing. Kyiv disagrees!")] == [
        "Iran denies it.",
        "Russia says nothing.",
        "Kyiv disagrees!",
    ]


def test_drop_cap_artefact_is_left_out_of_the_quote() -> None:
    article = next(a for a in SEED_ARTICLES if a.source.startswith("004"))
    first = split_sentences(article, 0, PARAMS, 400, 0)[0]
    assert article.text.startswith("DThe")
    assert first.text.startswith("The United States and Great Britain") and first.start == 1


def test_seed_defects_are_classified() -> None:
    kinds = {s.text: s.kind for _, s in _seed_sentences()}
    assert kinds["To see in video"] is SentenceKind.BOILERPLATE
    assert kinds["source site-40"] is SentenceKind.BOILERPLATE
    assert kinds["(With information from EFE)"] is SentenceKind.BOILERPLATE
    assert kinds["This is how you live a Russian bombing in kyiv"] is not SentenceKind.BODY
    assert kinds["Drones to Russia, EU ok to sanctions against Iran"] is SentenceKind.HEADING
    assert kinds["'Every indication' Iran is giving Russia drones: NATO chief"] is SentenceKind.HEADING
    captions = [t for t, k in kinds.items() if k is SentenceKind.CAPTION]
    assert any("REUTERS / Vladyslav Musiienko" in t for t in captions)
    assert any(t.startswith("date 2022-10-20") for t in captions)


def test_overlong_sentence_is_split_at_clause_boundaries() -> None:
    clause = "the ministers met again in the capital to discuss the crisis"
    text = "; ".join([clause] * 12) + "."
    pieces = _split(text, max_chars=200)
    assert len(pieces) > 1
    assert all(len(p.text) <= 200 for p in pieces)
    assert "".join(text[p.start : p.end] + " " for p in pieces).split() == text.split()


def test_punkt_learns_and_splits_as_nltk_does() -> None:
    """Our Punkt classes only match faster and skip texts with no possible break: the results are nltk's own."""
    trainer = PunktTrainer()
    for text in training_texts(a.text for a in SEED_ARTICLES):
        trainer.train(text, finalize=False)
    trainer.finalize_training()
    plain = trainer.get_params()
    plain.abbrev_types.update(ABBREVIATIONS)
    learned = train_punkt(a.text for a in SEED_ARTICLES)  # not PARAMS: splitting adds zeros to its ortho_context
    assert learned.__dict__ == plain.__dict__
    texts = [a.text for a in SEED_ARTICLES] + ['Dr. Who said... "Yes." (He left.) 3.5 pct. U.S. aid -- no!']
    texts += ["A heading without a stop", "Ends at its stop.", "Trailing space  ", "", "   ", "Rose 3.5 pct in May"]
    ours, nltk_own = sentence_tokenizer(learned), PunktSentenceTokenizer(plain)
    for text in texts:
        assert list(ours.span_tokenize(text)) == list(nltk_own.span_tokenize(text))
