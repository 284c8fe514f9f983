"""Keeping the bot token out of the logs: a log record factory that blanks it wherever it appears."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any


class _TokenRedactor:
    """A log record factory that blanks bot tokens out of every message and traceback.

    PTB logs its API URLs at DEBUG and the rejected token in InvalidToken's message; both hold the secret.
    """

    def __init__(self, factory: Callable[..., logging.LogRecord]) -> None:
        self._factory = factory
        self.secrets: set[str] = set()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            return record  # a broken log call: the handler reports it, with nothing formatted yet
        if any(secret in message for secret in self.secrets):
            record.msg, record.args = self._hide(message), None
        if record.exc_info and record.exc_info[1] is not None:
            trace = logging.Formatter().formatException(record.exc_info)
            if any(secret in trace for secret in self.secrets):
                record.exc_text = self._hide(trace)
        return record

    def _hide(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<token>")
        return text


def hide_in_logs(token: str) -> None:
    """Make sure the token's secret part never reaches a log handler, from any logger."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _TokenRedactor):
        factory = _TokenRedactor(factory)
        logging.setLogRecordFactory(factory)
    factory.secrets.add(token.partition(":")[2] or token)
