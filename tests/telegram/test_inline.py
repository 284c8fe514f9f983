"""Inline mode: `@bot question` in any chat offers quotes as results, five at a time."""

from __future__ import annotations

from bot.settings import Settings
from bot.telegram_state import INLINE_ALLOWANCE
from tests.telegram.conftest import ANN, NATO, RunningBot, ScriptedAnswerer, StartBot, with_telegram
from tests.telegram.fake_api import FakeTelegram, JSONDict, parse_html


def inline_answer(fake: FakeTelegram, query_id: str) -> JSONDict:
    """The parameters of the bot's answer to one inline query."""
    return fake.wait_for(
        lambda: next(
            (c.params for c in fake.calls_to("answerInlineQuery") if c.params["inline_query_id"] == query_id),
            None,
        )
    )


def test_inline_results_page_with_next_offset(fake: FakeTelegram, bot: RunningBot, answerer: ScriptedAnswerer) -> None:
    first = inline_answer(fake, fake.inline(ANN, NATO))
    assert [r["id"] for r in first["results"]] == ["0", "1", "2", "3", "4"]
    assert first["next_offset"] == "5"
    result = first["results"][1]
    assert result["type"] == "article"
    assert result["title"] == "The S&P 500 fell as <TICKER> traders read the NATO statement."
    assert result["description"] == "markets.md · 2022-10-22"
    content = result["input_message_content"]
    assert content["parse_mode"] == "HTML"
    assert content["message_text"] == (
        "❓ Who is the NATO Secretary General?\n"
        "<blockquote>The S&amp;P 500 fell as &lt;TICKER&gt; traders read the <b>NATO</b> statement."
        "</blockquote>\n"
        "<i>markets.md</i> · 2022-10-22 · “Stocks &amp; &lt;bonds&gt;”"
    )
    parse_html(content["message_text"])
    second = inline_answer(fake, fake.inline(ANN, NATO, offset="5"))
    assert [r["id"] for r in second["results"]] == ["5", "6"]
    assert "next_offset" not in second  # the last page: no offset at all, never "[]"
    assert answerer.asked == [(NATO, 50)]  # the second page came from the cache


def test_inline_not_found_and_empty_queries_offer_the_private_chat(fake: FakeTelegram, bot: RunningBot) -> None:
    empty = inline_answer(fake, fake.inline(ANN, "   "))
    unknown = inline_answer(fake, fake.inline(ANN, "Is <TICKER> up?"))
    assert empty["results"] == [] == unknown["results"]
    assert empty["button"] == {"text": "Type a question about the articles", "start_parameter": "inline"}
    assert unknown["button"]["text"] == "No quote found: see how to ask"


def test_inline_queries_have_their_own_looser_rate_limit(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings
) -> None:
    start_bot(with_telegram(settings, questions_per_minute=1))
    # Typing one question inline asks at every pause: five queries for each question a minute.
    typed = [NATO[:n] for n in range(len(NATO) - 4 * 3, len(NATO) + 1, 3)]
    assert len(typed) == INLINE_ALLOWANCE
    for query in typed:
        assert "Too fast" not in inline_answer(fake, fake.inline(ANN, query)).get("button", {}).get("text", "")
    limited = inline_answer(fake, fake.inline(ANN, "another question"))
    assert limited["results"] == [] and limited["is_personal"] is True
    assert limited["button"]["text"].startswith("Too fast: wait")
    fake.send_text(ANN, NATO)  # the chat's own question is still free
    [reply] = fake.wait_for(lambda: fake.sent_to(ANN["id"]))
    assert "faster than I can read" not in reply["text"]


def test_with_an_allow_list_inline_results_are_personal(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings
) -> None:
    start_bot(with_telegram(settings, allowed_users=frozenset({ANN["id"]})))
    answered = inline_answer(fake, fake.inline(ANN, NATO))
    assert answered["results"] and answered["is_personal"] is True


def test_ptb_22_8_sends_an_empty_next_offset_as_a_list(fake: FakeTelegram, bot: RunningBot) -> None:
    """PTB 22.8 with Defaults turns next_offset="" into "[]"; so the bot passes None. When this test fails,
    PTB has fixed the bug (fixed upstream after 22.8) and "" would be safe again."""
    query_id = fake.open_query()
    bot.call(bot.app.bot.answer_inline_query(query_id, [], next_offset=""))
    assert fake.calls_to("answerInlineQuery")[-1].params["next_offset"] == "[]"
