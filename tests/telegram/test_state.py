"""The bot's memory: answers behind buttons, the inline cache and the per-user rate limit."""

from __future__ import annotations

import pytest

from bot.telegram_state import AccessList, AnswerCache, AnswerStore, RateLimiter
from retrieval.models import Answer
from tests.telegram.conftest import NATO_QUOTES


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_is_a_sliding_minute_per_user() -> None:
    clock = Clock()
    limiter = RateLimiter(2, clock)
    assert limiter.wait_time(1) == 0
    clock.now += 5
    assert limiter.wait_time(1) == 0
    clock.now += 5
    assert limiter.wait_time(1) == 50  # the first question leaves the window in 50 s
    assert limiter.wait_time(2) == 0  # others are not held back
    clock.now += 50
    assert limiter.wait_time(1) == 0
    assert limiter.wait_time(1) == 5


def test_answers_expire_and_the_oldest_are_forgotten_first() -> None:
    clock = Clock()
    store = AnswerStore(capacity=2, ttl=60, clock=clock)
    first = store.add("q1", list(NATO_QUOTES), 3)
    second = store.add("q2", [], 3)
    assert len(first.key.encode()) <= 16 and first.key != second.key
    assert store.get(first.key) is first
    store.add("q3", [], 3)
    assert store.get(first.key) is None and store.get(second.key) is second
    clock.now += 61
    assert store.get(second.key) is None
    assert store.get("never-issued") is None


def test_inline_cache_keeps_recent_answers() -> None:
    clock = Clock()
    cache = AnswerCache(capacity=1, ttl=300, clock=clock)
    answer = Answer("q", (), abstained=True)
    cache.put("q", answer)
    assert cache.get("q") is answer
    cache.put("other", answer)
    assert cache.get("q") is None
    clock.now += 301
    assert cache.get("other") is None


@pytest.mark.parametrize(
    ("users", "chats", "user", "chat", "allowed"),
    [
        (set(), set(), 1, 1, True),  # no lists: everyone, everywhere
        ({1}, set(), 1, -5, True),  # a listed user, in any chat
        ({1}, set(), 2, 2, False),
        (set(), {-5}, 2, -5, True),  # anyone in a listed group
        (set(), {-5}, 2, 2, False),  # ... but not in private chats (chat id = user id) unless listed
        (set(), {-5}, 2, None, False),  # inline mode (no chat) needs a listed user
        ({1}, {-5}, 1, None, True),
        ({1}, {-5}, 1, -6, False),  # both lists: a listed user in a listed chat
        ({1}, set(), None, None, False),
    ],
)
def test_access_list(users: set[int], chats: set[int], user: int | None, chat: int | None, allowed: bool) -> None:
    assert AccessList(frozenset(users), frozenset(chats)).allows(user, chat) is allowed
