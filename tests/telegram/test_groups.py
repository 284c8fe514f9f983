"""Groups: the bot answers only when addressed, as a reply to the asker; other chatter is ignored.

With privacy mode on (the default) Telegram delivers to the bot only commands meant for it and replies to its
messages; mentions and plain chatter arrive only when the bot is an admin or privacy mode is off. The tests
inject what Telegram would deliver in each case.
"""

from __future__ import annotations

import pytest

from tests.telegram.conftest import ANN, BOB, GROUP, NATO, RunningBot, ScriptedAnswerer
from tests.telegram.fake_api import FakeTelegram, JSONDict
from tests.telegram.test_rendering import GOLDEN_QUOTES


def bot_messages(fake: FakeTelegram, count: int) -> list[JSONDict]:
    return fake.wait_for(lambda: len(sent := fake.sent_to(GROUP["id"])) >= count and sent)


@pytest.mark.parametrize(
    "text",
    [
        f"/ask@verbatim_test_bot {NATO}",
        f"@verbatim_test_bot {NATO}",
        f"{NATO} @Verbatim_Test_Bot",
    ],
)
def test_addressed_questions_are_answered_as_replies(fake: FakeTelegram, bot: RunningBot, text: str) -> None:
    asked = fake.send_text(ANN, text, chat=GROUP)
    [reply] = bot_messages(fake, 1)
    assert reply["html"] == GOLDEN_QUOTES
    assert reply["reply_to_message"]["message_id"] == asked["message_id"]


def test_a_reply_to_the_bot_is_a_question(fake: FakeTelegram, bot: RunningBot) -> None:
    fake.send_text(ANN, f"/ask@verbatim_test_bot {NATO}", chat=GROUP)
    [answer] = bot_messages(fake, 1)
    follow_up = fake.send_text(BOB, "Is <TICKER> up?", chat=GROUP, reply_to=answer)
    second = bot_messages(fake, 2)[1]
    assert second["text"].startswith("I found no sentence in the articles that answers “Is <TICKER> up?”")
    assert second["reply_to_message"]["message_id"] == follow_up["message_id"]


def test_chatter_is_ignored(fake: FakeTelegram, bot: RunningBot, answerer: ScriptedAnswerer) -> None:
    other_bot = {"id": 42, "is_bot": True, "first_name": "Other", "username": "other_bot"}
    other_bots_message = fake.store(GROUP, {"from": other_bot, "text": "I am another bot"})
    fake.send_text(ANN, "Who is the NATO Secretary General?", chat=GROUP)
    fake.send_text(BOB, "ask @someone_else about it", chat=GROUP)
    fake.send_text(BOB, "/ask@other_bot who?", chat=GROUP)
    fake.send_text(BOB, "/ honestly who cares", chat=GROUP)  # a slash, no command (seen when the bot is admin)
    fake.send_text(ANN, "thanks", chat=GROUP, reply_to=other_bots_message)
    fake.send_text(ANN, "/help@verbatim_test_bot", chat=GROUP)  # a marker: handled after the chatter
    [help_reply] = bot_messages(fake, 1)
    assert help_reply["text"].startswith("Ask: send any question")
    assert answerer.asked == []
    assert len(fake.calls_to("sendMessage")) == 1


def test_an_empty_ask_in_a_group_explains_itself(fake: FakeTelegram, bot: RunningBot) -> None:
    asked = fake.send_text(ANN, "/ask@verbatim_test_bot", chat=GROUP)
    [reply] = bot_messages(fake, 1)
    assert reply["text"].startswith("Ask like this: /ask@verbatim_test_bot")
    assert reply["reply_to_message"]["message_id"] == asked["message_id"]
