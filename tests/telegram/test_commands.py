"""/start, /help, the command menu and what the bot asks Telegram for."""

from __future__ import annotations

from tests.telegram.conftest import ANN, RunningBot
from tests.telegram.fake_api import FakeTelegram


def test_start_says_what_verbatim_knows_with_two_examples(fake: FakeTelegram, bot: RunningBot) -> None:
    fake.send_text(ANN, "/start")
    fake.wait_for(lambda: fake.sent_to(ANN["id"]))
    [reply] = fake.sent_to(ANN["id"])
    assert "Verbatim" in reply["text"]
    assert "I know 5 articles from 2022-10-18 to 2022-11-03." in reply["text"]
    assert "• Who is the NATO Secretary General?" in reply["text"]
    assert "• What did the EU approve against Iran?" in reply["text"]
    assert fake.button_data(reply) == ["x::0", "x::1"]
