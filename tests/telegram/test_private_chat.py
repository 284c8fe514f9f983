"""A private chat end to end: questions, the exact reply, not found, odd messages, the command menu."""

from __future__ import annotations

import time

from bot.telegram_bot import ALLOWED_UPDATES
from tests.telegram.conftest import ANN, NATO, RunningBot, ScriptedAnswerer
from tests.telegram.fake_api import FakeTelegram, JSONDict
from tests.telegram.test_rendering import GOLDEN_QUOTES


def replies(fake: FakeTelegram, count: int = 1) -> list[JSONDict]:
    """Wait for the bot's first `count` messages to Ann and return them."""
    return fake.wait_for(lambda: len(sent := fake.sent_to(ANN["id"])) >= count and sent)


def test_a_question_gets_the_exact_reply_with_buttons(
    fake: FakeTelegram, bot: RunningBot, answerer: ScriptedAnswerer
) -> None:
    fake.send_text(ANN, NATO)
    [reply] = replies(fake)
    assert reply["html"] == GOLDEN_QUOTES
    assert fake.calls_to("sendMessage")[0].params["parse_mode"] == "HTML"
    key = fake.button_data(reply)[0].split(":")[1]
    assert fake.button_data(reply) == [f"c:{key}:0", f"c:{key}:1", f"c:{key}:2", f"m:{key}:3"]
    assert "reply_to_message" not in reply  # a private chat needs no quoting
    assert answerer.asked == [(NATO, 15)]  # top_k × 5 fetched once: "More" pages without asking again


def test_typing_is_shown_before_the_answer(fake: FakeTelegram, bot: RunningBot) -> None:
    fake.send_text(ANN, NATO)
    replies(fake)
    [typing] = fake.calls_to("sendChatAction")
    assert typing.params == {"chat_id": ANN["id"], "action": "typing"}
    assert typing.at <= fake.calls_to("sendMessage")[0].at


def test_flood_control_on_typing_does_not_hold_the_answer_up(fake: FakeTelegram, bot: RunningBot) -> None:
    fake.fail("sendChatAction", 429, "Too Many Requests: retry after 5", retry_after=5)
    asked = time.monotonic()
    fake.send_text(ANN, NATO)
    replies(fake)
    assert time.monotonic() - asked < 4  # the rate limiter retries the indicator after 5 s; the answer is not kept


def test_not_found_says_so_and_echoes_the_question(fake: FakeTelegram, bot: RunningBot) -> None:
    fake.send_text(ANN, "Is <TICKER> up & away?")
    [reply] = replies(fake)
    assert reply["text"].startswith("I found no sentence in the articles that answers “Is <TICKER> up & away?”.")
    assert "&lt;TICKER&gt;" in reply["html"]
    assert "reply_markup" not in reply


def test_a_huge_question_gets_a_clear_reply(fake: FakeTelegram, bot: RunningBot, answerer: ScriptedAnswerer) -> None:
    fake.send_text(ANN, "why " * 1000)
    [reply] = replies(fake)
    assert reply["text"] == "Sorry, the question is too long (3999 characters; the limit is 1,000)."
    assert answerer.asked == []


def test_empty_ask_explains_how_to_ask(fake: FakeTelegram, bot: RunningBot) -> None:
    fake.send_text(ANN, "/ask")
    [reply] = replies(fake)
    assert reply["text"] == "Ask like this: /ask@verbatim_test_bot Who is the NATO chief?"


def test_ask_command_works_in_private_too(fake: FakeTelegram, bot: RunningBot) -> None:
    fake.send_text(ANN, f"/ask {NATO}")
    assert replies(fake)[0]["html"] == GOLDEN_QUOTES


def test_non_text_and_unknown_commands_get_a_hint(fake: FakeTelegram, bot: RunningBot) -> None:
    sticker = {"file_id": "s", "file_unique_id": "s", "width": 1, "height": 1, "is_animated": False}
    fake.send_other(ANN, {"sticker": {**sticker, "is_video": False, "type": "regular"}})
    replies(fake, 1)
    fake.send_text(ANN, "/weather")
    first, second = replies(fake, 2)
    assert first["text"] == "I read text only: please type your question."
    assert second["text"] == "I don't know that command. Send a question, or see /help."


def test_help_and_the_command_menu(fake: FakeTelegram, bot: RunningBot) -> None:
    assert [c["command"] for c in fake.commands] == ["start", "help", "ask"]  # set in post_init
    fake.send_text(ANN, "/help")
    [reply] = replies(fake)
    assert "/ask@verbatim_test_bot question" in reply["text"]
    assert "@verbatim_test_bot question" in reply["text"]
    assert "More shows the next quotes, Context the sentences around a quote." in reply["text"]


def test_example_button_under_start_asks_the_example(fake: FakeTelegram, bot: RunningBot) -> None:
    fake.send_text(ANN, "/start")
    [welcome] = replies(fake)
    query = fake.press(ANN, welcome, "x::0")
    assert replies(fake, 2)[1]["html"] == GOLDEN_QUOTES
    assert [c.params["callback_query_id"] for c in fake.calls_to("answerCallbackQuery")] == [query]


def test_polls_only_what_it_handles_edits_are_not_answered(fake: FakeTelegram, bot: RunningBot) -> None:
    """Edited messages are not asked for: an edited question is not re-answered (send it again)."""
    assert fake.calls_to("getUpdates")[0].params["allowed_updates"] == ALLOWED_UPDATES
    assert "edited_message" not in ALLOWED_UPDATES


def test_a_slow_question_does_not_hold_up_other_chats(
    fake: FakeTelegram, bot: RunningBot, answerer: ScriptedAnswerer
) -> None:
    bob = {**ANN, "id": 2002, "first_name": "Bob"}
    answerer.delay["slow question"] = 1.0
    fake.send_text(bob, "slow question")
    fake.wait_for(lambda: answerer.asked)
    fake.send_text(ANN, NATO)
    replies(fake)
    assert not fake.sent_to(bob["id"]), "Ann's answer came after Bob's slow one"
    fake.wait_for(lambda: fake.sent_to(bob["id"]))
