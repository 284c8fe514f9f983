"""The `verbatim` command: ask, chat, index, eval, tune, bench and telegram."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from bot.rendering import answer_to_json, refusal_to_json, render_text
from bot.service import make_answerer
from bot.settings import Settings, SettingsError, load_settings
from retrieval.answerer import QuestionError
from retrieval.corpus import CorpusError
from retrieval.engine import EngineError
from retrieval.pipeline import embedding_model, load_or_build
from retrieval.store import IndexStoreError

log = logging.getLogger("verbatim")

USER_ERRORS = (SettingsError, CorpusError, QuestionError, EngineError, IndexStoreError)
PROGRESS_FROM = 1000  # articles from which `verbatim index` shows a progress bar


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user's mistake is one line on stderr and a non-zero exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        # The bot is a service: its operator wants to see it start, refuse and stop.
        level=logging.INFO if args.verbose or args.run is run_telegram else logging.WARNING,
        format="verbatim: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request URLs hold the bot token
    if isinstance(sys.stdin, io.TextIOWrapper):
        # A line that is not UTF-8 reaches the answerer, which refuses it, instead of ending the loop reading it.
        sys.stdin.reconfigure(errors="surrogateescape")
    try:
        settings = load_settings(args.config, overrides=_overrides(args), flags=FLAGS)
        code: int = args.run(args, settings)
        return code
    except USER_ERRORS as error:
        hint = (
            " (choose another with --index-dir or VERBATIM_CORPUS_INDEX_DIR)"
            if isinstance(error, IndexStoreError)
            else ""
        )
        print(f"verbatim: error: {error}{hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("verbatim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


class _Parser(argparse.ArgumentParser):
    """argparse with its errors in one line, like every other error of the command (the usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line, with help on every command."""
    parser = _Parser(prog="verbatim", description="Answers questions about news articles with verbatim, cited quotes.")
    parser.add_argument("--config", type=Path, help="settings file (default: config/verbatim.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    # -v also after the command's name ("verbatim ask -v ..."); unset there, it leaves the one before alone.
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log what happens")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def command(name: str, about: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=about, parents=[common])

    ask = command("ask", "answer a question (or one per line of standard input)")
    ask.add_argument("question", nargs="?", help="the question; omitted: read questions from standard input")
    ask.add_argument("--top", type=int, metavar="N", help="number of quotes (default 3)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    _corpus_arguments(ask)
    ask.set_defaults(run=run_ask)

    chat = command("chat", "chat in the terminal (the Telegram bot's fallback)")
    chat.add_argument("--top", type=int, metavar="N", help="quotes per answer (default 3)")
    _corpus_arguments(chat)
    chat.set_defaults(run=run_chat)

    index = command("index", "build or refresh the index and show what it holds")
    index.add_argument("--rebuild", action="store_true", help="rebuild even when the index is up to date")
    _corpus_arguments(index)
    index.set_defaults(run=run_index)

    from bot.eval_command import add_eval_arguments

    evaluation = command("eval", "measure answer quality on a question set or SQuAD")
    add_eval_arguments(evaluation)
    evaluation.set_defaults(run=run_evaluation)

    from bot.tune_command import add_tune_arguments, run_tune

    tune = command("tune", "choose BM25 and ranking parameters on tuning data")
    add_tune_arguments(tune)
    tune.set_defaults(run=run_tune)

    from bot.bench_command import add_bench_arguments, run_bench

    bench = command("bench", "measure speed and memory at 10k, 100k and 1M sentences")
    add_bench_arguments(bench)
    bench.set_defaults(run=run_bench)

    telegram = command("telegram", "run the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    _corpus_arguments(telegram)
    telegram.set_defaults(run=run_telegram)
    return parser


def _corpus_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", type=Path, help="directory or .jsonl(.gz) file of articles (default: seeds/)")
    parser.add_argument("--index-dir", type=Path, help="where the index is kept (default: .verbatim-index/)")
    parser.add_argument("--engine", choices=("auto", "rank-bm25", "bm25s"), help="BM25 engine (default: auto)")


FLAGS = {
    "corpus.path": "--corpus",
    "corpus.index_dir": "--index-dir",
    "answers.top_k": "--top",
    "index.engine": "--engine",
}


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    path = getattr(args, "corpus", None)
    index_dir = getattr(args, "index_dir", None)
    return {
        "corpus.path": str(path) if path else None,
        "corpus.index_dir": str(index_dir) if index_dir else None,
        "answers.top_k": getattr(args, "top", None),
        "index.engine": getattr(args, "engine", None),
    }


def run_ask(args: argparse.Namespace, settings: Settings) -> int:
    """`verbatim ask`: one question from the arguments, or one per line of standard input."""
    answerer = make_answerer(settings)
    color = sys.stdout.isatty() and not args.json
    if args.question is not None:
        answer = answerer.answer(args.question, top_k=settings.top_k)
        print(json.dumps(answer_to_json(answer), ensure_ascii=False) if args.json else render_text(answer, color))
        return 0
    failures = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            answer = answerer.answer(line, top_k=settings.top_k)
        except QuestionError as error:
            print(f"verbatim: line {number}: {error}", file=sys.stderr)
            failures += 1
            if args.json:  # one JSON line per question, so that answers still line up with their questions
                print(json.dumps(refusal_to_json(line, error), ensure_ascii=False))
            continue
        print(json.dumps(answer_to_json(answer), ensure_ascii=False) if args.json else render_text(answer, color))
        if not args.json:
            print()
        sys.stdout.flush()
    return 1 if failures else 0


def run_chat(args: argparse.Namespace, settings: Settings) -> int:
    """`verbatim chat`: the terminal chat."""
    from bot.chat import TerminalChat, enable_line_editing

    answerer = make_answerer(settings)
    if sys.stdin.isatty():
        enable_line_editing()
    return TerminalChat(answerer, settings.top_k, color=sys.stdout.isatty()).run()


def run_index(args: argparse.Namespace, settings: Settings) -> int:
    """`verbatim index`: build or refresh the index and print what it holds."""
    from tqdm import tqdm

    began = time.perf_counter()
    bar: tqdm[Any] | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= PROGRESS_FROM:
            bar = tqdm(total=total, unit="article", desc="indexing", file=sys.stderr)
        if bar is not None:
            bar.update(done - bar.n)

    index = load_or_build(settings.corpus, settings.index_dir, settings.index, progress=progress, rebuild=args.rebuild)
    if bar is not None:
        bar.close()
    stats = index.stats
    print(f"corpus:     {settings.corpus}")
    print(f"articles:   {stats.articles:,}")
    print(f"sentences:  {stats.sentences:,} (answerable)")
    print(f"paragraphs: {stats.paragraphs:,}")
    print(f"vocabulary: {stats.vocabulary:,} terms")
    print(f"engine:     {stats.engine}")
    model = embedding_model(settings.index) if index.embeddings is not None else None
    print(f"embeddings: {model or 'none (lexical ranking)'}")
    print(f"built in:   {stats.build_seconds:.2f} s; this run took {time.perf_counter() - began:.2f} s")
    return 0


def run_evaluation(args: argparse.Namespace, settings: Settings) -> int:
    """`verbatim eval`: the product, the baseline and any ablations on one benchmark."""
    from bot.ablations import ablations
    from bot.eval_command import run_eval

    return run_eval(args, settings, ablations=ablations(settings))


def run_telegram(args: argparse.Namespace, settings: Settings) -> int:
    """`verbatim telegram`: the bot, with long polling."""
    from bot.telegram_bot import run

    return run(settings)
