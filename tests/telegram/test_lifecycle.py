"""Starting and stopping: missing, malformed and rejected tokens, the token kept out of logs, a second
instance (Conflict), and a clean shutdown on SIGINT/SIGTERM that still delivers the answer being worked on."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.telegram_bot import CONFLICT, REVOKED, run
from tests.telegram.conftest import ANN, NATO, ROOT, TOKEN, RunningBot, StartBot, with_telegram
from tests.telegram.fake_api import FakeTelegram
from tests.telegram.test_rendering import GOLDEN_QUOTES


def run_in_thread(settings: Settings, answerer: object) -> int | None:
    """run() as `verbatim telegram` calls it, in a thread so that its event loop is its own."""
    codes: list[int] = []

    def target() -> None:
        codes.append(run(settings, answerer, stop_signals=None))  # type: ignore[arg-type]

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=15)
    assert not thread.is_alive(), "run() did not return"
    return codes[0] if codes else None


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_missing_token_is_one_clear_line_and_a_nonzero_exit(
    settings: Settings, answerer: object, caplog: pytest.LogCaptureFixture
) -> None:
    assert run(with_telegram(settings, token=None), answerer) == 2  # type: ignore[arg-type]
    assert errors(caplog) == ["No Telegram bot token: set TELEGRAM_BOT_TOKEN or telegram.token_file (see README)."]


def test_a_malformed_token_is_refused_without_showing_it(
    settings: Settings, answerer: object, caplog: pytest.LogCaptureFixture
) -> None:
    assert run(with_telegram(settings, token="not-a-token-secret"), answerer) == 2  # type: ignore[arg-type]
    assert len(errors(caplog)) == 1 and "secret" not in caplog.text


def test_a_rejected_token_is_one_clear_line_and_a_nonzero_exit(
    fake: FakeTelegram, settings: Settings, answerer: object, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "987654321:AAEwrongTOKENabcdefghijklmnopqrstu"
    assert run_in_thread(with_telegram(settings, token=wrong), answerer) == 1
    rejected = "Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN or telegram.token_file."
    assert errors(caplog) == [rejected]  # one clear line, no traceback
    assert wrong not in caplog.text and wrong.split(":")[1] not in caplog.text


def test_an_unreachable_api_is_one_clear_line_and_a_nonzero_exit(
    settings: Settings, answerer: object, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/bot"
        assert run_in_thread(with_telegram(settings, api_base_url=url), answerer) == 1
    [line] = errors(caplog)
    assert line.startswith("Cannot reach the Telegram Bot API: ")


def test_the_token_never_appears_in_logs(
    fake: FakeTelegram, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = start_bot()
    fake.fail("sendMessage", 400, "Bad Request: can't parse entities")
    fake.send_text(ANN, NATO)  # fails: logged with its traceback
    fake.send_text(ANN, NATO)
    fake.wait_for(lambda: len(fake.sent_to(ANN["id"])) == 2)
    fake.inline(ANN, NATO)
    fake.wait_calls("answerInlineQuery")
    bot.stop()
    assert any(r.name.startswith("telegram") and r.levelno == logging.DEBUG for r in caplog.records)
    assert TOKEN.split(":")[1] not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]


def test_a_second_instance_gets_a_clear_message_and_stops(
    fake: FakeTelegram, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    conflict = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    fake.fail("getUpdates", 409, conflict)
    bot: RunningBot = start_bot()
    assert bot.join() == 1
    assert CONFLICT in errors(caplog)
    assert "another instance of this bot is polling with the same token" in CONFLICT


def test_a_token_revoked_while_running_stops_the_bot_with_one_line(
    fake: FakeTelegram, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = start_bot()
    fake.send_text(ANN, NATO)
    fake.wait_for(lambda: fake.sent_to(ANN["id"]))
    fake.token = "123456789:AAErevokedTOKENabcdefghijklmnopqrs"  # BotFather issued another one
    assert bot.join(timeout=30) == 1  # not left running, deaf
    assert errors(caplog) == [REVOKED]
    assert TOKEN.split(":")[1] not in caplog.text


SCRIPT = """
import sys
from bot.settings import load_settings
from bot.telegram_bot import run
from tests.telegram.conftest import NATO, NATO_QUOTES, ScriptedAnswerer

answerer = ScriptedAnswerer({NATO: NATO_QUOTES})
answerer.delay[NATO] = 1.0
sys.exit(run(load_settings(), answerer))
"""


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_finishes_the_answer_in_progress_then_exits_cleanly(
    fake: FakeTelegram, stop: signal.Signals, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "VERBATIM_CORPUS_INDEX_DIR": str(tmp_path / "index"),
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        fake.wait_calls("getUpdates", timeout=30)
        fake.send_text(ANN, NATO)
        fake.wait_calls("sendChatAction")  # the answer is being worked on
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr.decode()
    assert [m["html"] for m in fake.sent_to(ANN["id"])] == [GOLDEN_QUOTES]
    last_poll = fake.calls_to("getUpdates")[-1].params
    assert last_poll["timeout"] == 0 and last_poll["offset"] == 2  # the update is confirmed, never redelivered
    assert TOKEN.split(":")[1] not in stderr.decode()
