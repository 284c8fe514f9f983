"""Verbatim in Telegram: the Application's wiring, error handler and lifecycle, and `verbatim telegram`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Sequence

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.log_redaction import hide_in_logs
from bot.settings import Settings
from bot.telegram_buttons import button
from bot.telegram_handlers import (
    PAGES,
    ask_command,
    gate,
    group_text,
    help_command,
    not_text,
    private_text,
    reply,
    start_command,
    unknown_command,
)
from bot.telegram_inline import inline
from bot.telegram_state import BOT_DATA_KEY, BotState, QuestionAnswerer, bot_state

__all__ = [
    "ALLOWED_UPDATES",
    "CONFLICT",
    "EXAMPLES",
    "PAGES",
    "QuestionAnswerer",
    "build_application",
    "hide_in_logs",
    "run",
    "serve",
]

log = logging.getLogger(__name__)

# Edited messages are not asked for: an edit is not re-answered (send the corrected question again).
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXAMPLES = ("Who is the NATO Secretary General?", "What did the EU approve against Iran?")
COMMANDS = (
    BotCommand("start", "What Verbatim is and what it knows"),
    BotCommand("help", "How to ask; buttons, groups and inline mode"),
    BotCommand("ask", "Ask a question (in groups: /ask@bot question)"),
)
APOLOGY = "Sorry, something went wrong while answering. Please try again in a moment."
CONFLICT = (
    "Telegram reports a conflict: another instance of this bot is polling with the same token. "
    "Stop the other instance (or use a second bot from BotFather); this one stops now."
)
_TOKEN_SHAPE = re.compile(r"[0-9]+:[A-Za-z0-9_-]{30,}")


def _add_handlers(app: Application) -> None:
    """Add every handler to the application: the gate first, then commands, messages, buttons, inline."""
    new = filters.UpdateType.MESSAGE
    private, groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS
    app.add_handler(TypeHandler(Update, gate), group=-1)
    app.add_handler(CommandHandler("start", start_command, filters=new))
    app.add_handler(CommandHandler("help", help_command, filters=new))
    app.add_handler(CommandHandler("ask", ask_command, filters=new))
    app.add_handler(MessageHandler(new & private & filters.COMMAND, unknown_command))
    app.add_handler(MessageHandler(new & private & filters.TEXT, private_text))
    app.add_handler(MessageHandler(new & groups & filters.TEXT & ~filters.COMMAND, group_text))
    app.add_handler(MessageHandler(new & private & ~filters.TEXT & ~filters.StatusUpdate.ALL, not_text))
    app.add_handler(CallbackQueryHandler(button))
    app.add_handler(InlineQueryHandler(inline))
    app.add_error_handler(on_error)


async def _post_init(app: Application) -> None:
    """Register the command menu once the bot is known."""
    await app.bot.set_my_commands(COMMANDS)
    articles = bot_state(app.bot_data).answerer.stats.articles
    log.info("Verbatim is running as @%s over %d articles", app.bot.username, articles)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log with context, apologise to the user, keep serving; a Conflict stops this instance."""
    error = context.error
    if isinstance(error, Conflict):
        log.error(CONFLICT)
        bot_state(context.bot_data).exit_code = 1
        context.application.stop_running()
        return
    if isinstance(error, Forbidden):
        log.info("cannot write to a chat (the user blocked the bot or left): %s", error)
        return
    if not isinstance(update, Update):
        log.warning("while polling Telegram: %s", error)
        return
    chat, user = update.effective_chat, update.effective_user
    log.error(
        "error while handling update %d (%s, chat %s, user %s): %s",
        update.update_id,
        _kind(update),
        chat and chat.id,
        user and user.id,
        error,
        exc_info=error,
    )
    try:
        if update.callback_query:
            try:
                await update.callback_query.answer(APOLOGY, show_alert=True)
                return
            except BadRequest:  # the press was acknowledged before the failure: say it in the chat instead
                log.debug("the button press was already answered; apologising in the chat")
        if chat is not None:
            await reply(update, APOLOGY)
    except TelegramError as apology_error:
        log.warning("could not apologise in chat %s: %s", chat and chat.id, apology_error)


def _kind(update: Update) -> str:
    """The kind of update, for the log: message, callback_query or inline_query."""
    for kind in ALLOWED_UPDATES:
        if getattr(update, kind, None) is not None:
            return kind
    return "update"


class _StartFailureTraceback(logging.Filter):
    """PTB logs a traceback when it gives up starting; serve() reports that as one clear line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Network Retry Loop (Bootstrap") and "Aborting" in message)


class _PollingGaveUp(logging.Filter):
    """PTB stops polling, and leaves the process idle, when Telegram rejects the token mid-run (revoked in
    BotFather, say): stop the bot with one clear line and exit code 1 instead, as at start-up."""

    def __init__(self, app: Application) -> None:
        super().__init__()
        self.app = app
        self.fired = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not (message.startswith("Network Retry Loop (Polling Updates)") and "Invalid token" in message):
            return True
        log.error(REVOKED)
        self.fired = True
        bot_state(self.app.bot_data).exit_code = 1
        self.app.stop_running()
        return False  # that line replaces PTB's traceback


REVOKED = "Telegram rejected the bot token while running (revoked?): stopping. Check TELEGRAM_BOT_TOKEN."


def build_application(
    settings: Settings,
    answerer: QuestionAnswerer,
    *,
    examples: Sequence[str] = EXAMPLES,
    rate_limiter: BaseRateLimiter | None = None,
) -> Application:
    """The configured Application: HTML by default, flood-control retries, updates handled concurrently."""
    token = settings.telegram.token
    if not token:
        raise ValueError("no bot token")
    hide_in_logs(token)
    state = BotState(settings, answerer, examples)
    app = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram.api_base_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .rate_limiter(rate_limiter or AIORateLimiter(max_retries=3))
        .concurrent_updates(True)
        .post_init(_post_init)
        .build()
    )
    app.bot_data[BOT_DATA_KEY] = state
    _add_handlers(app)
    return app


def serve(app: Application, stop_signals: Sequence[int] | None = STOP_SIGNALS) -> int:
    """Long-poll on the current event loop until a stop signal or a Conflict, then close it; the exit code."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs request URLs, and they hold the token
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    ptb = logging.getLogger("telegram.ext")
    if not any(isinstance(f, _StartFailureTraceback) for f in ptb.filters):
        ptb.addFilter(_StartFailureTraceback())
    for old in [f for f in ptb.filters if isinstance(f, _PollingGaveUp)]:  # an earlier Application's, in tests
        ptb.removeFilter(old)
    gave_up = _PollingGaveUp(app)
    ptb.addFilter(gave_up)
    loop = asyncio.get_event_loop()
    try:
        app.run_polling(allowed_updates=ALLOWED_UPDATES, stop_signals=stop_signals, close_loop=False)
    except InvalidToken:
        if gave_up.fired:  # mid-run: the filter said it, and PTB's shutdown stopped at the error it re-raised
            _finish_stopping(app, loop)
        else:
            log.error("Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN or telegram.token_file.")
        return 1
    except NetworkError as error:
        log.error("Cannot reach the Telegram Bot API: %s", error)
        return 1
    finally:
        loop.run_until_complete(app.bot.request.shutdown())  # after a failed start PTB leaves it open
        loop.close()
    log.info("Verbatim stopped")
    return bot_state(app.bot_data).exit_code


def _finish_stopping(app: Application, loop: asyncio.AbstractEventLoop) -> None:
    """The rest of PTB's shutdown after the updater stopped (its update fetcher, then the Application)."""
    with contextlib.suppress(Exception):  # each step is tidying up; none may hide the exit code
        if app.running:
            loop.run_until_complete(app.stop())
    with contextlib.suppress(Exception):
        loop.run_until_complete(app.shutdown())


def run(
    settings: Settings,
    answerer: QuestionAnswerer | None = None,
    *,
    stop_signals: Sequence[int] | None = STOP_SIGNALS,
) -> int:
    """`verbatim telegram`: check the token, load the answerer, poll until SIGINT/SIGTERM; the exit code."""
    os.environ.setdefault("PTB_TIMEDELTA", "1")  # else PTB 22 warns on every flood-control (429) answer
    token = settings.telegram.token
    if not token:
        log.error("No Telegram bot token: set TELEGRAM_BOT_TOKEN or telegram.token_file (see README).")
        return 2
    if not _TOKEN_SHAPE.fullmatch(token):
        log.error("The Telegram bot token is malformed: BotFather's tokens look like 123456789:AAE…")
        return 2
    if answerer is None:
        from bot.service import make_answerer

        answerer = make_answerer(settings)
    asyncio.set_event_loop(asyncio.new_event_loop())  # serve() runs, and closes, the current loop
    return serve(build_application(settings, answerer), stop_signals)
