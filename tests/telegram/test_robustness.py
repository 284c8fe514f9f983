"""Long answers, flood control, Telegram's errors, failing answers, allow-lists and the rate limit."""

from __future__ import annotations

import logging

import pytest

from bot.settings import Settings
from tests.telegram.conftest import (
    ANN,
    BOB,
    GROUP,
    NATO,
    RunningBot,
    ScriptedAnswerer,
    StartBot,
    make_quote,
    with_telegram,
)
from tests.telegram.fake_api import FakeTelegram, JSONDict, parse_html
from tests.telegram.test_rendering import GOLDEN_QUOTES

APOLOGY = "Sorry, something went wrong while answering. Please try again in a moment."


def messages_to(fake: FakeTelegram, user: JSONDict, count: int) -> list[JSONDict]:
    return fake.wait_for(lambda: len(sent := fake.sent_to(user["id"])) >= count and sent)


def test_a_long_answer_is_split_at_quote_boundaries(
    fake: FakeTelegram, bot: RunningBot, answerer: ScriptedAnswerer
) -> None:
    answerer.script["long"] = [make_quote(f"Quote {n}: " + "&<" * 1200, f"s{n}.txt") for n in range(3)]
    fake.send_text(ANN, "long")
    first, second, third = messages_to(fake, ANN, 3)
    for part in (first, second, third):
        assert part["html"].count("<blockquote>") == 1  # each 2,400-character quote needs its own message
        assert len(parse_html(part["html"])) <= 4096
    assert "reply_markup" not in first and "reply_markup" not in second
    assert len(fake.button_data(third)) == 3  # Context 1-3 on the last part only


def test_flood_control_is_retried(fake: FakeTelegram, bot: RunningBot) -> None:
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    fake.send_text(ANN, NATO)
    [reply] = messages_to(fake, ANN, 1)
    assert reply["html"] == GOLDEN_QUOTES
    first, second = fake.calls_to("sendMessage")
    assert second.at - first.at >= 1.0  # waited as told


def test_a_refused_send_gets_an_apology_and_the_bot_keeps_serving(
    fake: FakeTelegram, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail("sendMessage", 400, "Bad Request: can't parse entities: unsupported start tag")
    fake.send_text(ANN, NATO)
    [apology] = messages_to(fake, ANN, 1)
    assert apology["text"] == APOLOGY
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "error while handling update 1 (message, chat 1001, user 1001)" in record.getMessage()
    assert "parse entities" in record.getMessage().lower()
    fake.send_text(ANN, NATO)
    assert messages_to(fake, ANN, 2)[1]["html"] == GOLDEN_QUOTES


def test_a_failing_answer_gets_an_apology_others_are_still_served(
    fake: FakeTelegram, bot: RunningBot, answerer: ScriptedAnswerer, caplog: pytest.LogCaptureFixture
) -> None:
    answerer.failing.add("boom")
    fake.send_text(BOB, "boom")
    fake.send_text(ANN, NATO)
    assert messages_to(fake, BOB, 1)[0]["text"] == APOLOGY
    assert messages_to(fake, ANN, 1)[0]["html"] == GOLDEN_QUOTES
    assert any("index exploded" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_user_who_blocked_the_bot_is_not_apologised_to(
    fake: FakeTelegram, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram_bot")
    fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    fake.send_text(ANN, NATO)
    fake.wait_for(lambda: any("blocked" in r.getMessage() for r in caplog.records))
    fake.send_text(ANN, "/help")  # a marker
    messages_to(fake, ANN, 1)
    assert len(fake.calls_to("sendMessage")) == 2


def test_users_outside_the_allow_list_get_one_polite_refusal(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings, answerer: ScriptedAnswerer
) -> None:
    start_bot(with_telegram(settings, allowed_users=frozenset({ANN["id"]})))
    fake.send_text(BOB, NATO)
    [refusal] = messages_to(fake, BOB, 1)
    assert refusal["text"] == "Sorry, this Verbatim bot is private. Ask its owner to allow you (your user id is 1002)."
    fake.send_text(BOB, "please?")
    query = fake.inline(BOB, NATO)
    fake.wait_calls("answerInlineQuery")
    fake.send_text(ANN, NATO)  # Ann is allowed
    assert messages_to(fake, ANN, 1)[0]["html"] == GOLDEN_QUOTES
    assert len(fake.sent_to(BOB["id"])) == 1  # one refusal, then silence
    assert fake.calls_to("answerInlineQuery")[0].params == {
        "inline_query_id": query, "results": [], "cache_time": 0, "is_personal": True
    }  # fmt: skip
    assert answerer.asked == [(NATO, 15)]


def test_groups_outside_the_allow_list_refuse_once_when_addressed(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings, answerer: ScriptedAnswerer
) -> None:
    start_bot(with_telegram(settings, allowed_chats=frozenset({-1})))
    fake.send_text(ANN, f"/ask@verbatim_test_bot {NATO}", chat=GROUP)
    fake.send_text(ANN, "just chatting", chat=GROUP)
    fake.send_text(BOB, f"/ask@verbatim_test_bot {NATO}", chat=GROUP)
    fake.wait_for(lambda: fake.calls_to("sendMessage"))
    fake.send_text(ANN, "/start")  # a marker in a private chat, which is not listed either
    [refusal] = fake.sent_to(GROUP["id"])
    assert refusal["text"] == "Sorry, this Verbatim bot is private. Ask its owner to allow you (chat id -100500)."
    assert messages_to(fake, ANN, 1)[0]["text"].endswith("(your user id is 1001).")
    assert answerer.asked == []


def test_in_an_allowed_group_each_unlisted_user_is_named_once(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings, answerer: ScriptedAnswerer
) -> None:
    start_bot(with_telegram(settings, allowed_users=frozenset({1}), allowed_chats=frozenset({GROUP["id"]})))
    for user in (ANN, BOB, ANN):
        fake.send_text(user, f"/ask@verbatim_test_bot {NATO}", chat=GROUP)
    fake.wait_for(lambda: len(fake.sent_to(GROUP["id"])) >= 2)
    fake.send_text(ANN, "/start")  # a marker in a private chat, refused too
    messages_to(fake, ANN, 1)
    texts = [m["text"] for m in fake.sent_to(GROUP["id"])]
    assert texts == [
        "Sorry, this Verbatim bot is private. Ask its owner to allow you (your user id is 1001).",
        "Sorry, this Verbatim bot is private. Ask its owner to allow you (your user id is 1002).",
    ]
    assert answerer.asked == []


def test_a_button_press_from_outside_the_allow_list_is_answered(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings
) -> None:
    start_bot(with_telegram(settings, allowed_users=frozenset({ANN["id"]})))
    fake.send_text(ANN, NATO)
    [answer] = messages_to(fake, ANN, 1)
    fake.press(BOB, answer, fake.button_data(answer)[-1])
    [call] = fake.wait_calls("answerCallbackQuery")
    assert call.params["text"] == "Sorry, this bot is private." and call.params["show_alert"] is True


def test_the_rate_limit_replies_politely(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings, answerer: ScriptedAnswerer
) -> None:
    start_bot(with_telegram(settings, questions_per_minute=2))
    for _ in range(3):
        fake.send_text(ANN, NATO)
    replies = messages_to(fake, ANN, 3)
    limited = [m["text"] for m in replies if m["text"].startswith("You are asking")]
    assert len(limited) == 1
    assert limited[0].startswith("You are asking faster than I can read: up to 2 questions a minute. Please try")
    assert len(answerer.asked) == 2
    fake.send_text(BOB, NATO)  # others are not held back
    assert messages_to(fake, BOB, 1)[0]["html"] == GOLDEN_QUOTES
