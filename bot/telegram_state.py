"""What the Telegram bot remembers between updates: answers behind buttons, inline results, question rates."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.settings import Settings
from retrieval.answerer import CorpusStats
from retrieval.models import Answer, Quote

Clock = Callable[[], float]
BOT_DATA_KEY = "verbatim"  # where build_application keeps the BotState in the Application's bot_data


class QuestionAnswerer(Protocol):
    """What the bot needs from the answering core (retrieval.answerer.Answerer)."""

    stats: CorpusStats

    def answer(self, question: str, top_k: int = 3) -> Answer:
        """Ranked verbatim quotes, or an abstention."""
        ...

    def clean_question(self, question: str) -> str:
        """The normalised question; raises QuestionError when it is empty or too long."""
        ...

    def context(self, quote: Quote, n: int) -> tuple[list[str], list[str]]:
        """Up to n sentences before and after a quote."""
        ...


@dataclass
class AnswerRecord:
    """An answer shown in a chat, so that its buttons can page through quotes and show context."""

    key: str
    question: str
    quotes: list[Quote]  # every quote fetched for the question, in rank order; pages are slices
    page_size: int
    shown_from: int = 0  # index of the first quote in the message that carries the buttons
    contexts_shown: set[int] = field(default_factory=set)
    created: float = 0.0


@dataclass(frozen=True)
class AccessList:
    """Who may use the bot: listed users (if any are listed) in listed chats (if any are listed).

    A private chat's id is its user's id. Inline queries come from no known chat: with a chat list set,
    only listed users may use inline mode.
    """

    users: frozenset[int] = frozenset()
    chats: frozenset[int] = frozenset()

    def allows_chat(self, chat_id: int) -> bool:
        """Whether the chat list (if any) holds this chat, whoever writes in it."""
        return not self.chats or chat_id in self.chats

    def allows(self, user_id: int | None, chat_id: int | None) -> bool:
        """Whether an update from this user in this chat (None: unknown) may be handled."""
        if self.users and user_id not in self.users:
            return False
        if self.chats and chat_id is None:
            return bool(self.users)
        return not self.chats or chat_id in self.chats


class AnswerStore:
    """Answers behind buttons, by a short random key; the oldest are forgotten first and after `ttl` s."""

    def __init__(self, capacity: int = 10_000, ttl: float = 24 * 3600, clock: Clock = time.monotonic) -> None:
        self._records: OrderedDict[str, AnswerRecord] = OrderedDict()
        self._capacity = capacity
        self._ttl = ttl
        self._clock = clock

    def add(self, question: str, quotes: list[Quote], page_size: int) -> AnswerRecord:
        """Remember an answer; its key fits in callback data."""
        key = secrets.token_urlsafe(6)
        while key in self._records:
            key = secrets.token_urlsafe(6)
        record = AnswerRecord(key, question, quotes, page_size, created=self._clock())
        self._records[key] = record
        while len(self._records) > self._capacity:
            self._records.popitem(last=False)
        return record

    def get(self, key: str) -> AnswerRecord | None:
        """The record, or None when it is unknown or expired."""
        record = self._records.get(key)
        if record is None:
            return None
        if self._clock() - record.created > self._ttl:
            del self._records[key]
            return None
        return record


class AnswerCache:
    """Recent answers by question, so inline paging and fast typists do not rerun retrieval."""

    def __init__(self, capacity: int = 1_000, ttl: float = 300, clock: Clock = time.monotonic) -> None:
        self._answers: OrderedDict[str, tuple[float, Answer]] = OrderedDict()
        self._capacity = capacity
        self._ttl = ttl
        self._clock = clock

    def get(self, question: str) -> Answer | None:
        """A cached answer to exactly this question, if still fresh."""
        found = self._answers.get(question)
        if found is None or self._clock() - found[0] > self._ttl:
            return None
        self._answers.move_to_end(question)
        return found[1]

    def put(self, question: str, answer: Answer) -> None:
        """Remember an answer, forgetting the least recently used beyond capacity."""
        self._answers[question] = (self._clock(), answer)
        self._answers.move_to_end(question)
        while len(self._answers) > self._capacity:
            self._answers.popitem(last=False)


INLINE_ALLOWANCE = 5  # inline queries a user may send for each chat question the limit allows


class RateLimiter:
    """At most `per_minute` questions per user in any 60-second window."""

    WINDOW = 60.0

    def __init__(self, per_minute: int, clock: Clock = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._asked: dict[int, deque[float]] = {}

    def wait_time(self, user_id: int) -> float:
        """0 and the question is counted, or the seconds until this user may ask again."""
        now = self._clock()
        asked = self._asked.setdefault(user_id, deque())
        while asked and now - asked[0] >= self.WINDOW:
            asked.popleft()
        if len(asked) >= self._per_minute:
            return self.WINDOW - (now - asked[0])
        asked.append(now)
        if len(self._asked) > 10_000:  # forget users who have been quiet for a minute
            self._asked = {user: times for user, times in self._asked.items() if now - times[-1] < self.WINDOW}
        return 0.0


class BotState:
    """What every handler shares: settings, the answerer, remembered answers, rates and refusals."""

    def __init__(self, settings: Settings, answerer: QuestionAnswerer, examples: Sequence[str]) -> None:
        self.settings = settings
        self.answerer = answerer
        self.examples = tuple(examples)
        self.top_k = settings.top_k
        self.answers = AnswerStore()
        self.inline_answers = AnswerCache()
        self.limiter = RateLimiter(settings.telegram.questions_per_minute)
        # Inline mode asks again at every pause in typing: its own, looser count, so typing one inline question
        # does not use up the chat's.
        self.inline_limiter = RateLimiter(settings.telegram.questions_per_minute * INLINE_ALLOWANCE)
        self.access = AccessList(settings.telegram.allowed_users, settings.telegram.allowed_chats)
        self.refused: set[tuple[int, int | None]] = set()  # (chat, user) already told that the bot is private
        self.exit_code = 0


def bot_state(bot_data: Mapping[Any, Any]) -> BotState:
    """The BotState that build_application keeps in the Application's bot_data."""
    state: BotState = bot_data[BOT_DATA_KEY]
    return state
