"""The answerer: verbatim quotes with provenance, distinct claims, abstention, and bad questions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest

from retrieval.answerer import NO_WORDS, NOT_FOUND, Answerer, QuestionError, _nearest, confidence, quote_chances
from retrieval.features import read_question
from retrieval.models import Confidence
from retrieval.parameters import FEATURES
from retrieval.semantic import SemanticScorer
from retrieval.word_vectors import content_words

QUESTIONS = [
    "Who is the NATO Secretary General?",
    "How many Iranian individuals did the EU sanction?",
    "Who said this kind of information is not always true?",
    "When did Iran confirm it had delivered drones to Russia?",
    "How much territory did Kyiv take in the Kursk region?",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_quotes_are_verbatim_substrings_with_provenance(answerer: Answerer, question: str) -> None:
    answer = answerer.answer(question, top_k=5)
    assert not answer.abstained and answer.quotes
    articles = {a.id: a for a in answerer.index.articles}
    for quote in answer.quotes:
        article = articles[quote.article_id]
        assert article.text[quote.start : quote.end] == quote.text
        assert (quote.source, quote.date, quote.title) == (article.source, article.date, article.title)
        assert quote.confidence in Confidence
        for start, end in quote.highlights:
            assert quote.text[start:end].strip()


def test_the_right_quote_comes_first(answerer: Answerer) -> None:
    top = answerer.answer("How many Iranian individuals did the EU sanction?", top_k=3).quotes[0]
    assert "five Iranian individuals and three entities" in top.text
    assert top.date == dt.date(2022, 10, 20) and top.source == "000_6bac14c41388e1cc.txt"
    assert "individuals" in [top.text[s:e] for s, e in top.highlights]
    peskov = answerer.answer("Who said this kind of information is not always true?", 1).quotes[0]
    assert peskov.text.startswith("“This kind of information is not always true,” Kremlin spokesman Dmitry Peskov")


def test_prepared_questions_get_the_same_answers(answerer: Answerer) -> None:
    if answerer.scorer is None:
        pytest.skip("the semantic model is not installed")

    def fresh() -> Answerer:
        return Answerer(answerer.index, answerer.ranking, answerer.max_question_chars, SemanticScorer.load())

    one_by_one = [fresh().answer(question, 5) for question in QUESTIONS]
    prepared = fresh()
    prepared.prepare([*QUESTIONS, "", "x" * 5000])  # questions answer() refuses are left out
    # The questions, and their words the index holds no vector of (for soft matching), one batch.
    table = answerer.index.word_vectors
    assert table is not None
    unknown = {word for question in QUESTIONS for word in content_words(question) if word not in table.row}
    assert prepared.scorer is not None and prepared.scorer.cached() == len(QUESTIONS) + len(unknown)
    # Embedded in one batch, a question's vector differs from its own by ~1e-7 (padding changes the float
    # rounding), which can move a score's 4th decimal: the same quotes, in the same order, with the same labels.
    for found, alone in zip([prepared.answer(question, 5) for question in QUESTIONS], one_by_one, strict=True):
        assert [(q.text, q.source, q.confidence, q.also_in) for q in found.quotes] == [
            (q.text, q.source, q.confidence, q.also_in) for q in alone.quotes
        ]
        assert [q.score for q in found.quotes] == pytest.approx([q.score for q in alone.quotes], abs=1e-3)
        assert found.abstained == alone.abstained


def test_context_holds_the_neighbouring_sentences(answerer: Answerer) -> None:
    quote = answerer.answer("When did Iran confirm it had delivered drones to Russia?", 1).quotes[0]
    assert quote.text == "Iran confirmed in November that it had delivered drones to Russia."
    assert quote.context_before.startswith("Western states have accused Iran")
    assert quote.context_after.startswith("However, these were delivered before")
    before, after = answerer.context(quote, 2)
    assert len(before) == 2 and before[-1] == quote.context_before
    assert after[0] == quote.context_after


def test_near_duplicates_from_other_articles_become_also_in(answerer: Answerer) -> None:
    answer = answerer.answer("Did Stoltenberg call on all countries, including Iran, not to support the war?", 5)
    merged = [q for q in answer.quotes if q.also_in]
    assert merged, [q.text for q in answer.quotes]
    for quote in merged:
        assert all(other.source != quote.source for other in quote.also_in)
        assert all(other.date == dt.date(2022, 10, 20) for other in quote.also_in)
    sources = [q.source for q in answer.quotes]
    texts = [q.text for q in answer.quotes]
    assert len(set(texts)) == len(texts) == len(sources)


def test_headings_captions_and_boilerplate_are_never_quoted(answerer: Answerer) -> None:
    never = ("To see in video", "source site-40", "(With information from EFE)", "REUTERS")
    for question in [
        "to see in video",
        "source site",
        "information from EFE",
        "remains of a drone over kyiv",
    ]:
        for quote in answerer.answer(question, 5).quotes:
            assert not any(bad in quote.text for bad in never), quote.text
            assert not quote.text.startswith("Drones to Russia, EU ok")


@pytest.mark.parametrize("question", ["What is the capital of Australia?", "What is the weather in Brussels tomorrow?"])
def test_off_topic_questions_abstain(answerer: Answerer, question: str) -> None:
    answer = answerer.answer(question)
    assert answer.abstained and answer.quotes == () and answer.reason == NOT_FOUND


def test_questions_sharing_one_off_topic_word_get_no_confident_quote(answerer: Answerer) -> None:
    answer = answerer.answer("who won the football world cup", top_k=5)
    assert answer.abstained or all(quote.confidence is Confidence.LOW for quote in answer.quotes)


@pytest.mark.parametrize("question", ["what is it about then?", "🙂🙂🙂", "???", "<b>the</b>"])
def test_questions_without_words_abstain_and_say_why(answerer: Answerer, question: str) -> None:
    answer = answerer.answer(question)
    assert answer.abstained and answer.reason == NO_WORDS


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "the question is empty"),
        ("  \t\n ", "the question is empty"),
        ("<b></b>", "the question is empty"),
        ("x" * 10_000, "too long (10,000"),
    ],
)
def test_unaskable_questions_raise_a_clear_error(answerer: Answerer, question: str, message: str) -> None:
    with pytest.raises(QuestionError, match=message.replace("(", r"\(")):
        answerer.answer(question)


def test_bytes_that_are_not_utf8_are_refused_by_name(answerer: Answerer) -> None:
    # How Python hands over the byte 0xE9 of a Latin-1 terminal from argv or stdin (surrogateescape).
    with pytest.raises(QuestionError, match="bytes that are not UTF-8 text"):
        answerer.answer("drones \udce9")


@pytest.mark.parametrize("noisy", ["😀 drones", "drones 😀", "drones 👍🏽", "©drones™"])
def test_emoji_and_symbols_do_not_change_the_answer(answerer: Answerer, noisy: str) -> None:
    clean = answerer.answer("drones", 3)
    answer = answerer.answer(noisy, 3)
    assert not clean.abstained
    assert [(q.text, q.confidence) for q in answer.quotes] == [(q.text, q.confidence) for q in clean.quotes]


def test_control_characters_markup_and_other_scripts_are_just_text(answerer: Answerer) -> None:
    clean = answerer.answer("How many Iranian individuals did the EU sanction?", 1)
    noisy = answerer.answer("How many\x00 Iranian\x1b individuals did the <b>EU</b> sanction?\u200b", 1)
    assert noisy.quotes[0].text == clean.quotes[0].text
    assert "\x00" not in noisy.question
    assert answerer.answer("Что сказал Кремль? 🙂", 3).abstained


def test_quote_chances_are_the_rankers_softmax_times_the_chance_of_an_answer() -> None:
    chances = quote_chances([3.0, 1.0, 1.0, -2.0], 0.8)
    assert chances.sum() == pytest.approx(0.8)
    assert chances[1] == chances[2] and chances[0] / chances[1] == pytest.approx(math.exp(2.0))
    assert quote_chances([], 0.5).tolist() == []


def test_confidence_labels_follow_the_tuned_cuts(answerer: Answerer) -> None:
    ranking = answerer.ranking
    high, medium = ranking.confidence_high, ranking.confidence_medium
    assert 0 < medium <= high < 1  # config/tuned.toml
    assert 0 < ranking.lexical_confidence_medium <= ranking.lexical_confidence_high < 1
    assert confidence(high, high, medium) is Confidence.HIGH
    assert confidence(medium, high, medium) is Confidence.MEDIUM
    assert confidence(medium / 2, high, medium) is Confidence.LOW
    # Each shown quote's label is its own chance of being right: the first quote's is the highest.
    order = [Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW]
    answer = answerer.answer("How many Iranian individuals did the EU sanction?", top_k=3)
    labels = [quote.confidence for quote in answer.quotes]
    assert labels == sorted(labels, key=order.index) and labels[0] is Confidence.HIGH
    assert "five Iranian individuals" in answer.quotes[0].text
    answer = answerer.answer("is spain among the countries sending air defense to ukraine?", top_k=3)
    labels = [quote.confidence for quote in answer.quotes]
    assert labels == sorted(labels, key=order.index) and labels[0] is not Confidence.LOW
    assert "Spainamong" in answer.quotes[0].text


def test_an_index_without_embeddings_labels_by_the_lexical_cuts(answerer: Answerer) -> None:
    question = "is spain among the countries sending air defense to ukraine?"
    lexical = dataclasses.replace(answerer.ranking, lexical_confidence_high=0.0, lexical_confidence_medium=0.0)
    every_quote_high = Answerer(answerer.index, lexical, scorer=None)  # no scorer: the lexical models
    assert every_quote_high.scorer is None
    assert all(quote.confidence is Confidence.HIGH for quote in every_quote_high.answer(question).quotes)
    with_embeddings = Answerer(answerer.index, lexical, scorer=answerer.scorer)
    assert with_embeddings.answer(question).quotes[-1].confidence is Confidence.LOW  # its own cuts apply


def test_untuned_settings_label_every_quote_low(answerer: Answerer) -> None:
    untuned = dataclasses.replace(
        answerer.ranking,
        confidence_high=1.0,
        confidence_medium=1.0,
        lexical_confidence_high=1.0,
        lexical_confidence_medium=1.0,
    )
    for scorer in (answerer.scorer, None):
        answer = Answerer(answerer.index, untuned, scorer=scorer).answer(
            "is spain among the countries sending air defense to ukraine?"
        )
        assert answer.quotes and all(quote.confidence is Confidence.LOW for quote in answer.quotes)


def test_nearest_docs_by_cosine_ties_to_the_lower_doc() -> None:
    embeddings = np.array([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32)
    vector = np.array([1.0, 0.0], dtype=np.float32)
    assert _nearest(embeddings, vector, 3) == [0, 2, 3]
    assert _nearest(embeddings, vector, 2) == [0, 2]
    assert _nearest(embeddings, vector, 9) == [0, 2, 3, 1, 4]
    assert _nearest(embeddings, vector, 0) == []


def test_a_paraphrase_sharing_no_word_becomes_a_candidate_by_its_embedding(answerer: Answerer) -> None:
    # "punishment ... UAVs" for "sanctions ... drones": no BM25 engine finds the answering sentence.
    question = read_question("what punishment did brussels hand out over the UAVs?")
    answering = next(
        number
        for number in range(len(answerer.index.body))
        if "approved sanctions against five Iranian individuals"
        in answerer.index.sentence(int(answerer.index.body[number])).text
    )
    sentence = int(answerer.index.body[answering])
    assert answerer.ranking.semantic_candidates > 0
    assert sentence in answerer.candidates(question).sentences
    lexical_only = Answerer(
        answerer.index, dataclasses.replace(answerer.ranking, semantic_candidates=0), scorer=answerer.scorer
    )
    assert sentence not in lexical_only.candidates(question).sentences


def test_soft_coverage_finds_the_paraphrase_closest_in_its_words(answerer: Answerer) -> None:
    # A question sharing no content word with its answers ("sanctions ... drones"): by soft coverage, both
    # answering sentences are among the first four of its two dozen candidates.
    found = answerer.candidates(read_question("what punishment did brussels hand out over the UAVs?"))
    soft = found.features[:, FEATURES.index("soft_coverage")]
    texts = [answerer.index.sentence(s).text for s in found.sentences]
    closest = [texts[i] for i in np.argsort(-soft, kind="stable")[:4]]
    assert len(texts) > 12
    assert any("approved sanctions against five Iranian individuals" in text for text in closest), closest
    assert any("have already imposed sanctions on Iranian drone" in text for text in closest), closest
    assert soft.min() > 0 and soft.max() < 1
    lexical = Answerer(answerer.index, answerer.ranking)  # no scorer: the lexical path, no soft matching
    assert (
        not lexical.candidates(read_question("what punishment did brussels hand out?"))
        .features[:, FEATURES.index("soft_coverage")]
        .any()
    )


def test_paragraph_semantic_compares_the_question_with_its_whole_paragraph(answerer: Answerer) -> None:
    # Each candidate reads the cosine of the question with its paragraph embedded whole (its body sentences joined):
    # the same for the sentences of one paragraph, and none on the lexical path.
    question = read_question("Who said this kind of information is not always true?")
    found = answerer.candidates(question)
    assert answerer.scorer is not None and answerer.index.paragraph_embeddings is not None
    values = found.features[:, FEATURES.index("paragraph_semantic")]
    paragraph_of = [int(answerer.index.columns["paragraph"][s]) for s in found.sentences]
    texts = answerer.index.paragraph_texts()
    vector = answerer.scorer.embed([question.text])[0]
    expected = answerer.scorer.embed([texts[p] for p in paragraph_of]) @ vector
    assert values == pytest.approx(expected, abs=1e-5)
    assert len(set(paragraph_of)) > 1 and len(set(np.round(values, 6))) > 1
    lexical = Answerer(answerer.index, answerer.ranking)
    assert not lexical.candidates(question).features[:, FEATURES.index("paragraph_semantic")].any()


def test_token_maxsim_matches_each_question_word_as_read_in_context(answerer: Answerer) -> None:
    # Each candidate reads the mean over the question's content pieces of their best cosine with one of its pieces,
    # both as MiniLM reads them in their own text; none on the lexical path.
    question = read_question("Who sends UAVs to Moscow?")
    found = answerer.candidates(question)
    tokens = answerer.index.token_vectors
    assert answerer.scorer is not None and tokens is not None
    values = found.features[:, FEATURES.index("token_maxsim")]
    asked = tokens.projection.project(answerer.scorer.embed_with_tokens([question.text])[1][0])
    assert len(asked) == 4  # sends, ua, ##vs, moscow
    docs = [int(np.searchsorted(answerer.index.body, s)) for s in found.sentences]
    expected = [
        (asked @ (tokens.rows(doc).astype(np.float32) / 127).T).max(axis=1).mean() if len(tokens.rows(doc)) else 0.0
        for doc in docs
    ]
    assert values == pytest.approx(expected, abs=0.01)  # the question's states are cached as float16
    best = answerer.index.sentence(found.sentences[int(values.argmax())]).text
    assert "drones" in best and "Moscow" in best, best  # "UAVs" met "drones", read as what is sent
    lexical = Answerer(answerer.index, answerer.ranking)
    assert not lexical.candidates(question).features[:, FEATURES.index("token_maxsim")].any()


def test_paragraph_texts_join_the_body_sentences_of_each_paragraph(answerer: Answerer) -> None:
    index = answerer.index
    texts = index.paragraph_texts()
    assert len(texts) == index.stats.paragraphs
    first = [index.sentence(int(i)).text for i in index.body[index.paragraph_first[0] : index.paragraph_first[1]]]
    assert texts[0] == " ".join(first) and texts[0]
    assert all(text.strip() for text in texts)
