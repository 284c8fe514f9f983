"""The bot over the real answering core: the quotes of `verbatim ask --json`, and escaping of real text."""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.service import make_answerer
from bot.settings import Settings
from retrieval.answerer import Answerer
from tests.telegram.conftest import ANN, ROOT, StartBot
from tests.telegram.fake_api import FakeTelegram, JSONDict

QUESTIONS = [
    "Who is the NATO Secretary General?",
    "What did the EU approve against Iran?",
    "How many square kilometers did Kyiv take in Kursk?",
]
MARKETS = """---
title: Stocks & <Bonds>: S&P 500 slips
date: 2022-10-24
url: https://example.com/markets
---
Markets were calm on Monday morning in New York.

The S&P 500 fell 2% after <TICKER> shares of AT&T dropped on weak results. Traders said bonds & gold rose.

Analysts expect more volatility this week.
"""


# The reference engine (what "auto" picks for the seeds) and the fast one: the bot must not depend on either.
@pytest.fixture(scope="module", params=["rank-bm25", "bm25s"])
def engine_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    index_dir = tmp_path_factory.mktemp(f"index-{request.param}")
    return {"VERBATIM_CORPUS_INDEX_DIR": str(index_dir), "VERBATIM_INDEX_ENGINE": request.param}


@pytest.fixture(scope="module")
def seeds_answerer(engine_env: dict[str, str]) -> Answerer:
    """The real answerer over seeds/ on one engine, its index built once for this module."""
    from bot.settings import load_settings

    answerer = make_answerer(load_settings(env=engine_env))
    assert answerer.index.stats.engine == engine_env["VERBATIM_INDEX_ENGINE"]
    return answerer


def ask_json(questions: list[str], env: dict[str, str]) -> list[JSONDict]:
    """`verbatim ask --json` with one question per line on standard input, as a user would run it."""
    verbatim = Path(sys.executable).parent / "verbatim"
    done = subprocess.run(
        [str(verbatim), "ask", "--json"],
        input="\n".join(questions),
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def quotes_in(message_html: str) -> list[str]:
    """The quotes' text as a reader sees it: the blockquotes' contents without markup."""
    return [
        html.unescape(re.sub(r"<[^>]+>", "", q)) for q in re.findall(r"<blockquote>(.*?)</blockquote>", message_html)
    ]


def test_the_reply_has_the_same_quotes_as_verbatim_ask_json(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings, seeds_answerer: Answerer, engine_env: dict[str, str]
) -> None:
    start_bot(settings, seeds_answerer)
    answers = ask_json(QUESTIONS, engine_env)
    for number, (question, expected) in enumerate(zip(QUESTIONS, answers, strict=True), start=1):
        fake.send_text(ANN, question)
        reply = fake.wait_for(lambda: len(sent := fake.sent_to(ANN["id"])) >= number and sent[number - 1])  # noqa: B023
        assert expected["question"] == question and expected["quotes"]
        assert quotes_in(reply["html"]) == [quote["text"] for quote in expected["quotes"]]
        citations = [line for line in reply["text"].splitlines() if re.match(r"\[\d+\] ", line)]
        for n, (quote, citation) in enumerate(zip(expected["quotes"], citations, strict=True), start=1):
            assert citation.startswith(f"[{n}] {quote['source']} · {quote['date']}")
        for quote in expected["quotes"]:
            for other in quote["also_in"]:
                assert f"{other['source']} ({other['date']})" in reply["text"]


def test_article_text_is_escaped_and_matched_words_bold(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "markets.md").write_text(MARKETS, encoding="utf-8")
    local = dataclasses.replace(settings, corpus=corpus)
    start_bot(local, make_answerer(local))
    fake.send_text(ANN, "How much did the S&P 500 fall?")
    [reply] = fake.wait_for(lambda: fake.sent_to(ANN["id"]))
    assert reply["html"] == (
        "<blockquote>The S&amp;<b>P 500</b> fell 2% after &lt;TICKER&gt; shares of AT&amp;T dropped on weak "
        "results.</blockquote>\n"
        "[1] <i>markets.md</i> · 2022-10-24 · “Stocks &amp; &lt;Bonds&gt;: S&amp;P 500 slips”"
    )
