"""The buttons under an answer: "More", "Context", and presses that are stale, expired or repeated."""

from __future__ import annotations

from tests.telegram.conftest import ANN, NATO, RunningBot, ScriptedAnswerer
from tests.telegram.fake_api import FakeTelegram, JSONDict


def ask(fake: FakeTelegram, question: str = NATO) -> JSONDict:
    """Ann asks; returns the bot's answer message (the one with the buttons)."""
    fake.send_text(ANN, question)
    return fake.wait_for(lambda: fake.sent_to(ANN["id"]))[-1]


def callback_answers(fake: FakeTelegram, count: int) -> list[JSONDict]:
    """The first `count` answerCallbackQuery calls' parameters."""
    return [call.params for call in fake.wait_calls("answerCallbackQuery", count)]


def test_more_edits_the_message_to_show_the_next_quotes(fake: FakeTelegram, bot: RunningBot) -> None:
    answer = ask(fake)
    key = fake.button_data(answer)[0].split(":")[1]
    fake.press(ANN, answer, f"m:{key}:3")
    fake.wait_calls("editMessageText")
    edited = fake.sent_to(ANN["id"])[-1]
    assert edited["message_id"] == answer["message_id"]
    assert edited["html"].startswith("<blockquote><b>NATO</b> met in Brussels.</blockquote>\n[4] ")
    assert "[6] " in edited["html"] and "[3] " not in edited["html"]
    assert fake.button_data(edited) == [f"c:{key}:3", f"c:{key}:4", f"c:{key}:5", f"m:{key}:6"]
    fake.press(ANN, edited, f"m:{key}:6")
    fake.wait_calls("editMessageText", 2)
    last = fake.sent_to(ANN["id"])[-1]
    assert last["html"].startswith("<blockquote>A sixth <b>NATO</b> remark.</blockquote>\n[7] ")
    assert fake.button_data(last) == [f"c:{key}:6"]  # no "More" after the last quote
    assert [a.get("text") for a in callback_answers(fake, 2)] == [None, None]


def test_context_replies_with_the_sentences_around_the_quote(
    fake: FakeTelegram, bot: RunningBot, answerer: ScriptedAnswerer
) -> None:
    answer = ask(fake)
    key = fake.button_data(answer)[0].split(":")[1]
    fake.press(ANN, answer, f"c:{key}:1")
    context = fake.wait_for(lambda: len(sent := fake.sent_to(ANN["id"])) == 2 and sent[-1])
    assert context["html"] == (
        "Context of quote 2: <i>markets.md</i> · 2022-10-22\n"
        "<blockquote>The sentence before &amp; &lt;its&gt; neighbour. "
        "<b>The S&amp;P 500 fell as &lt;TICKER&gt; traders read the NATO statement.</b> "
        "The sentence after.</blockquote>"
    )
    assert context["reply_to_message"]["message_id"] == answer["message_id"]
    assert answerer.context_asked[0].source == "markets.md"


def test_a_repeated_context_press_gets_a_short_notice(fake: FakeTelegram, bot: RunningBot) -> None:
    answer = ask(fake)
    key = fake.button_data(answer)[0].split(":")[1]
    fake.press(ANN, answer, f"c:{key}:0")
    fake.press(ANN, answer, f"c:{key}:0")
    notices = [a.get("text") for a in callback_answers(fake, 2)]
    assert set(notices) == {"The context of this quote is shown above.", None}
    fake.wait_for(lambda: len(fake.sent_to(ANN["id"])) == 2)  # the answer and one context
    assert len(fake.calls_to("sendMessage")) == 2


def test_a_context_that_failed_to_send_is_apologised_for_and_sent_on_the_next_press(
    fake: FakeTelegram, bot: RunningBot
) -> None:
    answer = ask(fake)
    key = fake.button_data(answer)[0].split(":")[1]
    fake.fail("sendMessage", 400, "Bad Request: message is too long")
    fake.press(ANN, answer, f"c:{key}:0")
    # The press was acknowledged before the send failed: the apology comes as a message.
    apology = fake.wait_for(lambda: len(sent := fake.sent_to(ANN["id"])) == 2 and sent[-1])
    assert apology["text"].startswith("Sorry")
    fake.press(ANN, answer, f"c:{key}:0")
    context = fake.wait_for(lambda: len(sent := fake.sent_to(ANN["id"])) == 3 and sent[-1])
    assert context["text"].startswith("Context of quote 1")


def test_a_double_press_on_more_is_swallowed(fake: FakeTelegram, bot: RunningBot) -> None:
    """Two taps at once both edit; Telegram says "message is not modified" to the second: not an error."""
    answer = ask(fake)
    key = fake.button_data(answer)[0].split(":")[1]
    fake.press(ANN, answer, f"m:{key}:3")
    fake.press(ANN, answer, f"m:{key}:3")
    callback_answers(fake, 2)
    fake.wait_for(lambda: fake.calls_to("editMessageText"))
    after = len(fake.calls)
    fake.send_text(ANN, "still there?")  # the bot keeps serving, and apologised for nothing
    fake.wait_for(lambda: len(fake.sent_to(ANN["id"])) == 2)
    texts = [m["text"] for m in fake.sent_to(ANN["id"])]
    assert not any("Sorry" in text for text in texts), texts
    assert "answerCallbackQuery" not in [c.method for c in fake.calls[after:]]


def test_a_stale_press_on_more_gets_a_notice(fake: FakeTelegram, bot: RunningBot) -> None:
    answer = ask(fake)
    key = fake.button_data(answer)[0].split(":")[1]
    fake.press(ANN, answer, f"m:{key}:3")
    fake.wait_calls("editMessageText")
    fake.press(ANN, answer, f"m:{key}:3")  # the old button, tapped again after the edit
    assert callback_answers(fake, 2)[1]["text"] == "These quotes are already shown."
    assert len(fake.calls_to("editMessageText")) == 1


def test_an_unknown_or_expired_answer_gets_an_alert(fake: FakeTelegram, bot: RunningBot) -> None:
    answer = ask(fake)
    for data in ("m:gone1234:3", "c:gone1234:0", "junk", "c:x"):
        fake.press(ANN, answer, data)
    answers = callback_answers(fake, 4)
    assert {a["text"] for a in answers} == {"This answer has expired. Please ask again."}
    assert all(a["show_alert"] is True for a in answers)
