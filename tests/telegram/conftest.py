"""Fixtures: the fake Bot API server, a scripted answerer, and the real Application polling the fake."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from telegram.ext import Application, BaseRateLimiter

from bot.settings import Settings, load_settings
from bot.telegram_bot import build_application, serve
from retrieval.answerer import CorpusStats, QuestionError
from retrieval.models import Answer, Confidence, Quote, Source
from tests.telegram.fake_api import FakeTelegram, JSONDict

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAEtestTOKENabcdefghijklmnopqrstuvw"  # the real shape: <bot id>:<35 characters>
ANN: JSONDict = {"id": 1001, "is_bot": False, "first_name": "Ann", "username": "ann"}
BOB: JSONDict = {"id": 1002, "is_bot": False, "first_name": "Bob", "username": "bob"}
GROUP: JSONDict = {"id": -100500, "type": "supergroup", "title": "Newsroom"}


def make_quote(text: str, source: str = "a.txt", *, words: Sequence[str] = (), **fields: Any) -> Quote:
    """A hand-built quote; `words` are bolded wherever they occur in `text`."""
    highlights = []
    for word in words:
        start = text.find(word)
        while start >= 0:
            highlights.append((start, start + len(word)))
            start = text.find(word, start + 1)
    values: dict[str, Any] = {
        "text": text,
        "source": source,
        "date": dt.date(2022, 10, 20),
        "title": None,
        "score": 1.0,
        "confidence": Confidence.HIGH,
        "context_before": "",
        "context_after": "",
        "article_id": source,
        "start": 0,
        "end": len(text),
        "highlights": tuple(sorted(highlights)),
    }
    values.update(fields)
    return Quote(**values)


class ScriptedAnswerer:
    """Answers from a script: question -> quotes; anything else is "not found". Can be slow or fail."""

    def __init__(self, script: dict[str, Sequence[Quote]] | None = None, max_question_chars: int = 1000) -> None:
        self.script = dict(script or {})
        self.max_question_chars = max_question_chars
        self.stats = CorpusStats(5, 120, dt.date(2022, 10, 18), dt.date(2022, 11, 3))
        self.delay: dict[str, float] = {}
        self.failing: set[str] = set()
        self.asked: list[tuple[str, int]] = []
        self.context_asked: list[Quote] = []
        self._lock = threading.Lock()

    def clean_question(self, question: str) -> str:
        text = " ".join(question.split())
        if not text:
            raise QuestionError("the question is empty: type a question about the articles")
        if len(text) > self.max_question_chars:
            raise QuestionError(f"the question is too long ({len(text)} characters; the limit is 1,000)")
        return text

    def answer(self, question: str, top_k: int = 3) -> Answer:
        text = self.clean_question(question)
        with self._lock:
            self.asked.append((text, top_k))
        if text in self.delay:
            time.sleep(self.delay[text])
        if text in self.failing:
            raise RuntimeError(f"index exploded on {text!r}")
        quotes = tuple(self.script.get(text, ())[:top_k])
        if not quotes:
            return Answer(text, (), abstained=True, reason="not found in the articles")
        return Answer(text, quotes, abstained=False)

    def context(self, quote: Quote, n: int) -> tuple[list[str], list[str]]:
        self.context_asked.append(quote)
        return ["The sentence before & <its> neighbour."], ["The sentence after."]


NATO_QUOTES = [
    make_quote(
        "NATO Secretary General Jens Stoltenberg said that “all information” indicates that Iran is "
        "supplying drones to Russia.",
        "000_6bac14c41388e1cc.txt",
        words=("NATO", "Secretary", "General"),
        also_in=(Source("003_c4ef398a6fa72310.txt", dt.date(2022, 10, 21)),),
    ),
    make_quote(
        "The S&P 500 fell as <TICKER> traders read the NATO statement.",
        "markets.md",
        words=("NATO",),
        title="Stocks & <bonds>",
        date=dt.date(2022, 10, 22),
    ),
    make_quote("Stoltenberg leads NATO.", "004_49986d061f0228b4.txt", words=("NATO",), date=None),
    make_quote("NATO met in Brussels.", "001_3ca96d3a9519652c.txt", words=("NATO",)),
    make_quote("NATO allies sent air defence.", "002_64b5288f09a1e388.txt", words=("NATO",)),
    make_quote("A fifth NATO remark.", "002_64b5288f09a1e388.txt", words=("NATO",), start=500),
    make_quote("A sixth NATO remark.", "001_3ca96d3a9519652c.txt", words=("NATO",), start=700),
]
NATO = "Who is the NATO Secretary General?"


@pytest.fixture(autouse=True)
def _offline_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # httpx honours proxy variables (pitfall 8)
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # else reading RetryAfter warns under -W error (pitfall 12)


@pytest.fixture(autouse=True)
def _nothing_left_behind(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No thread survives a test, and asyncio never complains about a pending or failed task."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while (left := [t for t in threading.enumerate() if t not in before and t.is_alive()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert not left, f"threads left behind: {left}"
    complaints = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not complaints, complaints


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    """The fake Bot API server, listening on 127.0.0.1."""
    server = FakeTelegram(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def settings(fake: FakeTelegram, tmp_path: Path) -> Settings:
    """Settings as `verbatim telegram` would load them, pointed at the fake server."""
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "VERBATIM_CORPUS_INDEX_DIR": str(tmp_path / "index"),
    }
    return load_settings(env=env)


def with_telegram(settings: Settings, **changes: Any) -> Settings:
    """The settings with some telegram settings changed."""
    return dataclasses.replace(settings, telegram=dataclasses.replace(settings.telegram, **changes))


@pytest.fixture
def answerer() -> ScriptedAnswerer:
    """A scripted answerer that knows who leads NATO."""
    return ScriptedAnswerer({NATO: NATO_QUOTES})


class RunningBot:
    """The real Application polling the fake server from its own thread, run_polling as in production."""

    def __init__(self, app: Application, fake: FakeTelegram) -> None:
        self.app = app
        self.fake = fake
        self.exit_code: int | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="bot", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)  # run_polling takes the thread's loop (pitfall 6)
        self.exit_code = serve(self.app, stop_signals=None)

    def start(self) -> RunningBot:
        self._thread.start()
        self.fake.wait_calls("getUpdates")
        return self

    def stop(self) -> int | None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.app.stop_running)
        self._thread.join(timeout=15)
        assert not self._thread.is_alive(), "the bot did not stop"
        return self.exit_code

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine (a Bot method, say) on the bot's own event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def join(self, timeout: float = 10) -> int | None:
        """Wait for the bot to stop by itself."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the bot did not stop by itself"
        return self.exit_code


StartBot = Callable[..., RunningBot]


@pytest.fixture
def start_bot(fake: FakeTelegram, settings: Settings, answerer: ScriptedAnswerer) -> Iterator[StartBot]:
    """Start the bot (optionally with other settings or answerer); it is stopped after the test."""
    running: list[RunningBot] = []

    def start(
        settings: Settings = settings,
        answerer: Any = answerer,
        rate_limiter: BaseRateLimiter | None = None,
    ) -> RunningBot:
        bot = RunningBot(build_application(settings, answerer, rate_limiter=rate_limiter), fake)
        running.append(bot)
        return bot.start()

    yield start
    for bot in running:
        bot.stop()


@pytest.fixture
def bot(start_bot: StartBot) -> RunningBot:
    """The bot with the scripted answerer and default settings, running."""
    return start_bot()
