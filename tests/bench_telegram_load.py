"""Load check (a benchmark, not a test): simulated users asking the real bot through the fake Bot API server.

Each user asks a question, waits for the answer, then asks the next, all users at once. Every reply is
compared with the answer rendered straight from the answering core, so a lost, duplicated or wrong answer
fails the run. Prints answers per second and latency percentiles (question delivered -> answer sent).

    .venv/bin/python -m tests.bench_telegram_load                       # 50 users x 10 questions
    .venv/bin/python -m tests.bench_telegram_load --telegram-limits     # with Telegram's 30 messages/s
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from telegram.ext import AIORateLimiter

from bot.service import make_answerer
from bot.settings import load_settings
from bot.telegram_bot import PAGES, build_application, serve
from bot.telegram_rendering import render_not_found, render_quotes
from tests.telegram.fake_api import FakeTelegram, JSONDict

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAEbenchTOKENabcdefghijklmnopqrstu"


def questions() -> list[str]:
    """The seeds evaluation questions, answerable or not: a realistic mix."""
    lines = (ROOT / "tests" / "questions" / "seeds.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def simulate(connection: Connection, users: int, per_user: int, pool: list[str], expected: dict[str, str]) -> None:
    """Telegram and its users, in a process of their own so that they do not share the bot's interpreter."""
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeTelegram(TOKEN).start()
    connection.send(fake.base_url)
    fake.wait_calls("getUpdates", timeout=60)
    replies: queue.Queue[tuple[float, JSONDict]] = queue.Queue()
    fake.listener = lambda message: replies.put((time.perf_counter(), message))
    people = {10_000 + n: {"id": 10_000 + n, "is_bot": False, "first_name": f"User{n}"} for n in range(users)}
    asked: dict[int, tuple[str, float]] = {}
    remaining = dict.fromkeys(people, per_user)
    latencies: list[float] = []
    problems: list[str] = []

    def ask(user_id: int) -> None:
        question = pool[(user_id + (per_user - remaining[user_id]) * 7) % len(pool)]
        remaining[user_id] -= 1
        asked[user_id] = (question, time.perf_counter())
        fake.send_text(people[user_id], question)

    began = time.perf_counter()
    for user_id in people:
        ask(user_id)
    for _ in range(users * per_user):
        try:
            at, message = replies.get(timeout=60)
        except queue.Empty:
            problems.append("no reply for 60 s: answers were lost")
            break
        chat = message["chat"]["id"]
        question, sent_at = asked.pop(chat)
        latencies.append(at - sent_at)
        if message["html"] != expected[question]:
            problems.append(f"user {chat}, {question!r}: {message['text'][:80]!r}")
        if remaining[chat]:
            ask(chat)
    connection.send((time.perf_counter() - began, latencies, problems))
    connection.recv()  # the bot has stopped: its last calls are answered
    fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--questions", type=int, default=10, help="per user")
    parser.add_argument(
        "--telegram-limits",
        action="store_true",
        help="keep AIORateLimiter's 30 requests/s (Telegram's limit)",
    )
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    total = args.users * args.questions

    with tempfile.TemporaryDirectory() as index_dir:
        settings = load_settings(env={"TELEGRAM_BOT_TOKEN": TOKEN, "VERBATIM_CORPUS_INDEX_DIR": index_dir})
        answerer = make_answerer(settings)
    pool = questions()
    expected = {}
    for question in pool:
        answer = answerer.answer(question, min(50, settings.top_k * PAGES))
        shown = answer.quotes[: settings.top_k]
        expected[question] = render_quotes(shown)[0] if shown and not answer.abstained else render_not_found(answer)

    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    world = multiprocessing.get_context("spawn").Process(
        target=simulate, args=(theirs, args.users, args.questions, pool, expected), name="telegram"
    )
    world.start()
    # Every user asks all their questions within a minute: lift the per-user limit for the check.
    telegram = dataclasses.replace(settings.telegram, api_base_url=ours.recv(), questions_per_minute=total)
    limits = {} if args.telegram_limits else {"overall_max_rate": 0, "group_max_rate": 0}
    app = build_application(
        dataclasses.replace(settings, telegram=telegram),
        answerer,
        rate_limiter=AIORateLimiter(max_retries=3, **limits),
    )
    loop = asyncio.new_event_loop()

    def run_bot() -> None:
        asyncio.set_event_loop(loop)
        serve(app, stop_signals=None)

    bot = threading.Thread(target=run_bot, name="bot")
    bot.start()
    elapsed, latencies, problems = ours.recv()
    loop.call_soon_threadsafe(app.stop_running)
    bot.join(timeout=30)
    ours.send("stop")
    world.join(timeout=30)

    answered = len(latencies)
    cuts = statistics.quantiles(latencies, n=100) if answered > 1 else latencies * 99
    p50, p95, worst = (round(seconds * 1000) for seconds in (cuts[49], cuts[94], max(latencies)))
    mode = "with Telegram's 30 requests/s limit" if args.telegram_limits else "without flood limits"
    print(f"{args.users} users x {args.questions} questions, {mode}, seeds/ ({len(pool)} distinct questions)")
    print(f"answered: {answered}/{total}, wrong or lost: {len(problems) + total - answered}")
    print(f"throughput: {answered / elapsed:.1f} answers/s ({elapsed:.2f} s)")
    print(f"latency: p50 {p50} ms, p95 {p95} ms, max {worst} ms")
    for problem in problems[:5]:
        print(f"  {problem}", file=sys.stderr)
    return 0 if answered == total and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
