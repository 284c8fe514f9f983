"""Verbatim in Telegram: the Application, its handlers, and `run(settings)` behind `verbatim telegram`."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import re
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardMarkup,
    InlineQueryResultsButton,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
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

from bot.settings import Settings
from bot.telegram_rendering import (
    answer_keyboard,
    examples_keyboard,
    inline_results,
    render_context,
    render_help,
    render_not_found,
    render_page,
    render_quotes,
    render_welcome,
)
from bot.telegram_state import AccessList, AnswerCache, AnswerRecord, AnswerStore, RateLimiter
from retrieval.answerer import CorpusStats, QuestionError
from retrieval.models import Answer, Quote

log = logging.getLogger(__name__)

# Edited messages are not asked for: an edit is not re-answered (send the corrected question again).
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PAGES = 5  # "More" pages through up to PAGES × top_k quotes, fetched with the first answer
INLINE_PAGE = 5
CONTEXT_SENTENCES = 2
TYPING_REFRESH = 4.5  # Telegram shows "typing…" for 5 s
EXAMPLES = ("Who is the NATO Secretary General?", "What did the EU approve against Iran?")
COMMANDS = (
    BotCommand("start", "What Verbatim is and what it knows"),
    BotCommand("help", "How to ask; buttons, groups and inline mode"),
    BotCommand("ask", "Ask a question (in groups: /ask@bot question)"),
)
APOLOGY = "Sorry, something went wrong while answering. Please try again in a moment."
EXPIRED = "This answer has expired. Please ask again."
CONFLICT = (
    "Telegram reports a conflict: another instance of this bot is polling with the same token. "
    "Stop the other instance (or use a second bot from BotFather); this one stops now."
)
_TOKEN_SHAPE = re.compile(r"[0-9]+:[A-Za-z0-9_-]{30,}")


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


class VerbatimBot:
    """The handlers and the state they share; one instance per Application."""

    def __init__(
        self, settings: Settings, answerer: QuestionAnswerer, examples: Sequence[str] = EXAMPLES
    ) -> None:
        self.settings = settings
        self.answerer = answerer
        self.examples = tuple(examples)
        self.top_k = settings.top_k
        self.answers = AnswerStore()
        self.inline_answers = AnswerCache()
        self.limiter = RateLimiter(settings.telegram.questions_per_minute)
        self.access = AccessList(settings.telegram.allowed_users, settings.telegram.allowed_chats)
        self.refused: set[int] = set()
        self.exit_code = 0

    def register(self, app: Application) -> None:
        """Add every handler to the application."""
        new = filters.UpdateType.MESSAGE
        private, groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handler(CommandHandler("start", self.start, filters=new))
        app.add_handler(CommandHandler("help", self.help, filters=new))
        app.add_handler(CommandHandler("ask", self.ask, filters=new))
        app.add_handler(MessageHandler(new & private & filters.COMMAND, self.unknown_command))
        app.add_handler(MessageHandler(new & private & filters.TEXT, self.private_text))
        app.add_handler(MessageHandler(new & groups & filters.TEXT & ~filters.COMMAND, self.group_text))
        app.add_handler(
            MessageHandler(new & private & ~filters.TEXT & ~filters.StatusUpdate.ALL, self.not_text)
        )
        app.add_handler(CallbackQueryHandler(self.button))
        app.add_handler(InlineQueryHandler(self.inline))
        app.add_error_handler(self.on_error)

    async def post_init(self, app: Application) -> None:
        """Register the command menu once the bot is known."""
        await app.bot.set_my_commands(COMMANDS)
        log.info(
            "Verbatim is running as @%s over %d articles", app.bot.username, self.answerer.stats.articles
        )

    # -- access ----------------------------------------------------------------------------------------

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stop updates from users or chats outside the allow-lists, with one polite refusal each."""
        user, chat, message = update.effective_user, update.effective_chat, update.effective_message
        if self.access.allows(user.id if user else None, chat.id if chat else None):
            return
        log.info("refused an update from user %s in chat %s", user and user.id, chat and chat.id)
        if update.callback_query:
            await update.callback_query.answer("Sorry, this bot is private.", show_alert=True)
        elif update.inline_query:
            await update.inline_query.answer([], cache_time=0, is_personal=True)
        elif (
            message and chat and chat.id not in self.refused and self._addressed(message, context) is not None
        ):
            self.refused.add(chat.id)
            who = (
                f"your user id is {user.id}"
                if user and chat.type == ChatType.PRIVATE
                else f"chat id {chat.id}"
            )
            await message.reply_text(
                f"Sorry, this Verbatim bot is private. Ask its owner to allow you ({who}).", do_quote=False
            )
        raise ApplicationHandlerStop

    # -- commands --------------------------------------------------------------------------------------

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start: what Verbatim is, what it knows and two questions to try."""
        stats = self.answerer.stats
        text = render_welcome(
            stats.articles, stats.first_date, stats.last_date, self.examples, context.bot.username
        )
        await self._send(update, text, examples_keyboard(self.examples))

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/help: how to ask, the buttons, groups and inline mode."""
        await self._send(update, render_help(context.bot.username))

    async def ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/ask question (the way to ask in groups)."""
        message = update.effective_message
        assert message is not None and message.text is not None  # guaranteed by the CommandHandler
        parts = message.text.split(maxsplit=1)
        question = parts[1] if len(parts) > 1 else ""
        if not question:
            name = context.bot.username
            await self._send(
                update, f"Ask like this: <code>/ask@{html.escape(name)} Who is the NATO chief?</code>"
            )
            return
        await self.answer_question(update, context, question)

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command the bot does not know, in a private chat."""
        await self._send(update, "I don't know that command. Send a question, or see /help.")

    async def not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A sticker, photo, voice message... in a private chat."""
        await self._send(update, "I read text only: please type your question.")

    # -- questions -------------------------------------------------------------------------------------

    async def private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In a private chat, any text is a question."""
        message = update.effective_message
        if message is not None and message.text is not None:
            await self.answer_question(update, context, message.text)

    async def group_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In a group, answer replies to the bot and mentions of it; ignore the rest of the chatter."""
        message = update.effective_message
        question = self._addressed(message, context) if message else None
        if question is not None:
            await self.answer_question(update, context, question)

    def _addressed(self, message: Message, context: ContextTypes.DEFAULT_TYPE) -> str | None:
        """The question if `message` speaks to the bot (private chat, reply, mention, command), else None."""
        text = message.text or ""
        if message.chat.type == ChatType.PRIVATE or text.startswith("/"):
            return text
        replied = message.reply_to_message
        if replied and replied.from_user and replied.from_user.id == context.bot.id:
            return text
        mention = f"@{context.bot.username}".lower()
        for value in message.parse_entities([MessageEntity.MENTION]).values():
            if value.lower() == mention:
                return re.sub(re.escape(mention), " ", text, count=1, flags=re.IGNORECASE).strip()
        return None

    async def answer_question(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, question: str
    ) -> None:
        """Rate limit, answer off the event loop while "typing…", reply with quotes and buttons."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None:
            return
        try:
            self.answerer.clean_question(question)
        except QuestionError as error:
            await self._send(update, f"Sorry, {html.escape(str(error))}.")
            return
        wait = self.limiter.wait_time(user.id)
        if wait:
            limit = self.settings.telegram.questions_per_minute
            await self._send(
                update,
                f"You are asking faster than I can read: up to {limit} questions a minute. "
                f"Please try again in {max(1, round(wait))} s.",
            )
            return
        async with self._typing(context, chat.id):
            answer = await asyncio.to_thread(self.answerer.answer, question, min(50, self.top_k * PAGES))
        if answer.abstained or not answer.quotes:
            await self._send(update, render_not_found(answer))
            return
        record = self.answers.add(answer.question, list(answer.quotes), self.top_k)
        shown = min(self.top_k, len(record.quotes))
        parts = render_quotes(record.quotes[:shown])
        keyboard = answer_keyboard(record.key, 0, shown, more=shown < len(record.quotes))
        for number, part in enumerate(parts, start=1):
            await self._send(update, part, keyboard if number == len(parts) else None)

    @contextlib.asynccontextmanager
    async def _typing(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> AsyncIterator[None]:
        """Show "typing…" until the block ends: the first action awaited, then refreshed every 4.5 s."""

        async def refresh() -> None:
            while True:
                await asyncio.sleep(TYPING_REFRESH)
                with contextlib.suppress(TelegramError):
                    await context.bot.send_chat_action(chat_id, ChatAction.TYPING)

        try:
            await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as error:  # the indicator is a nicety: never lose an answer over it
            log.debug("typing indicator failed: %s", error)
        task = asyncio.create_task(refresh())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _send(self, update: Update, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
        """Send `text` to the update's chat; in groups as a reply to the asker's message."""
        message, chat = update.effective_message, update.effective_chat
        assert chat is not None
        reply = None
        if message is not None and chat.type != ChatType.PRIVATE and not update.callback_query:
            reply = ReplyParameters(message.message_id, allow_sending_without_reply=True)
        await update.get_bot().send_message(chat.id, text, reply_parameters=reply, reply_markup=keyboard)

    # -- buttons ---------------------------------------------------------------------------------------

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """More, Context and the /start examples; every press is answered, a stale one with a notice."""
        query = update.callback_query
        assert query is not None
        kind, _, rest = (query.data or "").partition(":")
        key, _, number = rest.rpartition(":")
        if kind == "x" and number.isdigit() and int(number) < len(self.examples):
            await query.answer()
            await self.answer_question(update, context, self.examples[int(number)])
            return
        record = self.answers.get(key)
        message = query.message
        if record is None or not number.isdigit() or not isinstance(message, Message):
            await query.answer(EXPIRED, show_alert=True)
            return
        if kind == "m":
            await self._more(query, record, int(number))
        elif kind == "c":
            await self._context(query, record, int(number), message)
        else:
            await query.answer(EXPIRED, show_alert=True)

    async def _more(self, query: CallbackQuery, record: AnswerRecord, start: int) -> None:
        """Edit the message to show the quotes from `start` on."""
        if start == record.shown_from:
            await query.answer("These quotes are already shown.")
            return
        if start >= len(record.quotes):
            await query.answer("No more quotes for this question.")
            return
        await query.answer()
        page, count = render_page(record.quotes[start : start + record.page_size], first_number=start + 1)
        keyboard = answer_keyboard(record.key, start, count, more=start + count < len(record.quotes))
        shown_before, record.shown_from = record.shown_from, start
        try:
            await query.edit_message_text(page, reply_markup=keyboard)
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                record.shown_from = shown_before
                raise
            log.debug("double press: the message already shows quotes from %d", start + 1)

    async def _context(
        self, query: CallbackQuery, record: AnswerRecord, index: int, message: Message
    ) -> None:
        """Reply with the sentences around quote `index`, once."""
        if index >= len(record.quotes):
            await query.answer(EXPIRED, show_alert=True)
            return
        if index in record.contexts_shown:
            await query.answer("The context of this quote is shown above.")
            return
        record.contexts_shown.add(index)
        await query.answer()
        quote = record.quotes[index]
        before, after = await asyncio.to_thread(self.answerer.context, quote, CONTEXT_SENTENCES)
        reply = ReplyParameters(message.message_id, allow_sending_without_reply=True)
        await message.get_bot().send_message(
            message.chat_id, render_context(quote, index + 1, before, after), reply_parameters=reply
        )

    # -- inline mode -----------------------------------------------------------------------------------

    async def inline(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`@bot question` in any chat: quotes as results, INLINE_PAGE at a time (next_offset paging)."""
        query = update.inline_query
        assert query is not None
        offset = int(query.offset) if query.offset.isdigit() else 0
        try:
            question = self.answerer.clean_question(query.query)
        except QuestionError:
            await query.answer([], cache_time=0, button=_to_bot("Type a question about the articles"))
            return
        answer = self.inline_answers.get(question)
        if answer is None:
            if wait := self.limiter.wait_time(query.from_user.id):
                await query.answer(
                    [], cache_time=0, is_personal=True, button=_to_bot(f"Too fast: wait {wait:.0f} s")
                )
                return
            answer = await asyncio.to_thread(self.answerer.answer, question, 50)
            self.inline_answers.put(question, answer)
        if answer.abstained or not answer.quotes:
            await query.answer([], cache_time=60, button=_to_bot("No quote found: see how to ask"))
            return
        results = inline_results(answer.question, answer.quotes[offset : offset + INLINE_PAGE], offset)
        end = offset + len(results)
        # None, not "": with Defaults set, PTB 22.8 sends an empty string as "[]" (see the tests).
        next_offset = str(end) if end < len(answer.quotes) else None
        await query.answer(results, cache_time=300, next_offset=next_offset)

    # -- errors ----------------------------------------------------------------------------------------

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log with context, apologise to the user, keep serving; a Conflict stops this instance."""
        error = context.error
        if isinstance(error, Conflict):
            log.error(CONFLICT)
            self.exit_code = 1
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
                await update.callback_query.answer(APOLOGY, show_alert=True)
            elif chat is not None:
                await self._send(update, APOLOGY)
        except TelegramError as apology_error:
            log.warning("could not apologise in chat %s: %s", chat and chat.id, apology_error)


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


class _StartFailureTraceback(logging.Filter):
    """PTB logs a traceback when it gives up starting; serve() reports that as one clear line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Network Retry Loop (Bootstrap") and "Aborting" in message)


def hide_in_logs(token: str) -> None:
    """Make sure the token's secret part never reaches a log handler, from any logger."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _TokenRedactor):
        factory = _TokenRedactor(factory)
        logging.setLogRecordFactory(factory)
    factory.secrets.add(token.partition(":")[2] or token)


def _to_bot(text: str) -> InlineQueryResultsButton:
    return InlineQueryResultsButton(text=text, start_parameter="inline")


def _kind(update: Update) -> str:
    for kind in ALLOWED_UPDATES:
        if getattr(update, kind, None) is not None:
            return kind
    return "update"


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
    verbatim = VerbatimBot(settings, answerer, examples)
    app = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram.api_base_url)
        .defaults(
            Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
        )
        .rate_limiter(rate_limiter or AIORateLimiter(max_retries=3))
        .concurrent_updates(True)
        .post_init(verbatim.post_init)
        .build()
    )
    app.bot_data["verbatim"] = verbatim
    verbatim.register(app)
    return app


def serve(app: Application, stop_signals: Sequence[int] | None = STOP_SIGNALS) -> int:
    """Long-poll on the current event loop until a stop signal or a Conflict, then close it; the exit code."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs request URLs, and they hold the token
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    ptb = logging.getLogger("telegram.ext")
    if not any(isinstance(f, _StartFailureTraceback) for f in ptb.filters):
        ptb.addFilter(_StartFailureTraceback())
    loop = asyncio.get_event_loop()
    try:
        app.run_polling(allowed_updates=ALLOWED_UPDATES, stop_signals=stop_signals, close_loop=False)
    except InvalidToken:
        log.error("Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN or telegram.token_file.")
        return 1
    except NetworkError as error:
        log.error("Cannot reach the Telegram Bot API: %s", error)
        return 1
    finally:
        loop.run_until_complete(app.bot.request.shutdown())  # after a failed start PTB leaves it open
        loop.close()
    verbatim: VerbatimBot = app.bot_data["verbatim"]
    log.info("Verbatim stopped")
    return verbatim.exit_code


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
