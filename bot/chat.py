"""The terminal chat: the Telegram bot's fallback, with line editing, history, /more and /context."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bot.rendering import render_context, render_text
from retrieval.answerer import Answerer, QuestionError
from retrieval.models import Answer

log = logging.getLogger(__name__)

HELP = """Ask a question about the articles and get verbatim quotes with their source and date.
  /more        the next quotes for the last question
  /context N   the sentences around quote N
  /help        this text
  /quit        leave (Ctrl-D and Ctrl-C work too)"""
PAGES = 5  # /more pages through this many screens of quotes
HISTORY = Path.home() / ".verbatim_history"


class TerminalChat:
    """A read-answer loop over one answerer; input and output are injectable for tests."""

    def __init__(
        self,
        answerer: Answerer,
        top_k: int,
        read: Callable[[str], str] = input,
        write: Callable[[str], None] = print,
        color: bool = False,
    ) -> None:
        self.answerer = answerer
        self.top_k = top_k
        self.read = read
        self.write = write
        self.color = color
        self.last: Answer | None = None
        self.shown = 0

    def run(self) -> int:
        """Chat until /quit, end of input or Ctrl-C."""
        stats = self.answerer.stats
        self.write(f"Verbatim: {stats.articles} articles, {stats.sentences:,} sentences. /help for commands.")
        while True:
            try:
                line = self.read("verbatim> ")
            except (EOFError, KeyboardInterrupt):
                self.write("")
                return 0
            if not self.handle(line):
                return 0

    def handle(self, line: str) -> bool:
        """Answer one line; False when the user asked to leave."""
        command, _, argument = line.strip().partition(" ")
        if command in ("/quit", "/exit"):
            return False
        if command == "/help":
            self.write(HELP)
        elif command == "/more":
            self._more()
        elif command == "/context":
            self._context(argument)
        elif command.startswith("/") and command != "/":
            self.write(f"Unknown command {command}. /help lists the commands.")
        elif line.strip():
            self._ask(line)
        return True

    def _ask(self, question: str) -> None:
        try:
            answer = self.answerer.answer(question, top_k=min(50, self.top_k * PAGES))
        except QuestionError as error:
            self.write(f"Sorry, {error}.")
            return
        self.last, self.shown = answer, min(self.top_k, len(answer.quotes))
        self.write(render_text(replace(answer, quotes=answer.quotes[: self.shown]), self.color))

    def _more(self) -> None:
        if self.last is None or self.last.abstained:
            self.write("Ask a question first; /more shows its next quotes.")
            return
        page = self.last.quotes[self.shown : self.shown + self.top_k]
        self.write(render_text(replace(self.last, quotes=page), self.color, first=self.shown + 1))
        self.shown += len(page)

    def _context(self, argument: str) -> None:
        if self.last is None or not self.shown:
            self.write("Ask a question first; /context N shows the sentences around quote N.")
            return
        try:
            number = int(argument or "1")
        except ValueError:
            self.write("Usage: /context N, where N is the number of a quote shown.")
            return
        if not 1 <= number <= self.shown:
            self.write(f"There is no quote {number}; quotes 1 to {self.shown} are shown.")
            return
        quote = self.last.quotes[number - 1]
        before, after = self.answerer.context(quote, 2)
        self.write(render_context(quote, before, after, self.color))


def enable_line_editing() -> None:
    """Arrow keys and a persistent history for interactive use (stdlib readline)."""
    import atexit
    import readline

    try:
        readline.read_history_file(HISTORY)
    except OSError:
        log.debug("no history in %s", HISTORY)
    readline.set_history_length(1000)

    def save() -> None:
        try:
            readline.write_history_file(HISTORY)
        except OSError as error:
            log.debug("cannot save history: %s", error)

    atexit.register(save)
