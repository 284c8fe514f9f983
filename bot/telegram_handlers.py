"""The message handlers: the access gate, the commands, and questions answered with quotes and buttons."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
from collections.abc import AsyncIterator

from telegram import InlineKeyboardMarkup, Message, MessageEntity, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.telegram_rendering import (
    answer_keyboard,
    examples_keyboard,
    render_help,
    render_not_found,
    render_quotes,
    render_welcome,
)
from bot.telegram_state import bot_state
from retrieval.answerer import QuestionError

log = logging.getLogger(__name__)

PAGES = 5  # "More" pages through up to PAGES × top_k quotes, fetched with the first answer
TYPING_REFRESH = 4.5  # Telegram shows "typing…" for 5 s
TYPING_WAIT = 1.0  # the longest an answer waits for its "typing…" to be shown

# -- access ----------------------------------------------------------------------------------------------


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop updates from users or chats outside the allow-lists, with one polite refusal each."""
    state = bot_state(context.bot_data)
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if state.access.allows(user.id if user else None, chat.id if chat else None):
        return
    log.info("refused an update from user %s in chat %s", user and user.id, chat and chat.id)
    if update.callback_query:
        await update.callback_query.answer("Sorry, this bot is private.", show_alert=True)
    elif update.inline_query:
        await update.inline_query.answer([], cache_time=0, is_personal=True)
    elif message and chat:
        # Name what the owner must add, once: the user when the chat is allowed (or private), else the chat.
        user_is_why = user is not None and (chat.type == ChatType.PRIVATE or state.access.allows_chat(chat.id))
        key = (chat.id, user.id if user is not None and user_is_why else None)
        if key not in state.refused and _addressed(message, context) is not None:
            state.refused.add(key)
            who = f"your user id is {key[1]}" if key[1] is not None else f"chat id {chat.id}"
            await message.reply_text(
                f"Sorry, this Verbatim bot is private. Ask its owner to allow you ({who}).", do_quote=False
            )
    raise ApplicationHandlerStop


# -- commands --------------------------------------------------------------------------------------------


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: what Verbatim is, what it knows and two questions to try."""
    state = bot_state(context.bot_data)
    stats = state.answerer.stats
    text = render_welcome(stats.articles, stats.first_date, stats.last_date, state.examples, context.bot.username)
    await reply(update, text, examples_keyboard(state.examples))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: how to ask, the buttons, groups and inline mode."""
    await reply(update, render_help(context.bot.username))


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask question (the way to ask in groups)."""
    message = update.effective_message
    assert message is not None and message.text is not None  # guaranteed by the CommandHandler
    parts = message.text.split(maxsplit=1)
    question = parts[1] if len(parts) > 1 else ""
    if not question:
        name = context.bot.username
        await reply(update, f"Ask like this: <code>/ask@{html.escape(name)} Who is the NATO chief?</code>")
        return
    await answer_question(update, context, question)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not know, in a private chat."""
    await reply(update, "I don't know that command. Send a question, or see /help.")


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A sticker, photo, voice message... in a private chat."""
    await reply(update, "I read text only: please type your question.")


# -- questions -------------------------------------------------------------------------------------------


async def private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a private chat, any text is a question."""
    message = update.effective_message
    if message is not None and message.text is not None:
        await answer_question(update, context, message.text)


async def group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a group, answer replies to the bot and mentions of it; ignore the rest of the chatter."""
    message = update.effective_message
    question = _addressed(message, context) if message else None
    if question is not None:
        await answer_question(update, context, question)


def _addressed(message: Message, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    """The question if `message` speaks to the bot (private chat, reply, mention, command), else None."""
    text = message.text or ""
    if message.chat.type == ChatType.PRIVATE:
        return text
    # A command at the start, for this bot or for no bot in particular; "/ whatever" chatter is no command.
    for entity, command in message.parse_entities([MessageEntity.BOT_COMMAND]).items():
        if entity.offset == 0:
            target = command.partition("@")[2].lower()
            return text if not target or target == (context.bot.username or "").lower() else None
    replied = message.reply_to_message
    if replied and replied.from_user and replied.from_user.id == context.bot.id:
        return text
    mention = f"@{context.bot.username}".lower()
    for value in message.parse_entities([MessageEntity.MENTION]).values():
        if value.lower() == mention:
            return re.sub(re.escape(mention), " ", text, count=1, flags=re.IGNORECASE).strip()
    return None


async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    """Rate limit, answer off the event loop while "typing…", reply with quotes and buttons."""
    state = bot_state(context.bot_data)
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    try:
        state.answerer.clean_question(question)
    except QuestionError as error:
        await reply(update, f"Sorry, {html.escape(str(error))}.")
        return
    wait = state.limiter.wait_time(user.id)
    if wait:
        limit = state.settings.telegram.questions_per_minute
        await reply(
            update,
            f"You are asking faster than I can read: up to {limit} questions a minute. "
            f"Please try again in {max(1, round(wait))} s.",
        )
        return
    async with _typing(context, chat.id):
        answer = await asyncio.to_thread(state.answerer.answer, question, min(50, state.top_k * PAGES))
    if answer.abstained or not answer.quotes:
        await reply(update, render_not_found(answer))
        return
    record = state.answers.add(answer.question, list(answer.quotes), state.top_k)
    shown = min(state.top_k, len(record.quotes))
    parts = render_quotes(record.quotes[:shown])
    keyboard = answer_keyboard(record.key, 0, shown, more=shown < len(record.quotes))
    for number, part in enumerate(parts, start=1):
        await reply(update, part, keyboard if number == len(parts) else None)


@contextlib.asynccontextmanager
async def _typing(context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> AsyncIterator[None]:
    """Show "typing…" until the block ends: the first action waited for (up to TYPING_WAIT), then refreshed every
    4.5 s."""

    async def indicate() -> None:
        while True:
            try:
                await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError as error:  # the indicator is a nicety: never lose an answer over it
                log.debug("typing indicator failed: %s", error)
            shown.set()
            await asyncio.sleep(TYPING_REFRESH)

    shown = asyncio.Event()
    task = asyncio.create_task(indicate())
    # "typing…" first, as a rule in milliseconds; but flood control (429) on it must not hold the answer up.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(shown.wait(), TYPING_WAIT)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def reply(update: Update, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
    """Send `text` to the update's chat; in groups as a reply to the asker's message."""
    message, chat = update.effective_message, update.effective_chat
    assert chat is not None
    reply_to = None
    if message is not None and chat.type != ChatType.PRIVATE and not update.callback_query:
        reply_to = ReplyParameters(message.message_id, allow_sending_without_reply=True)
    await update.get_bot().send_message(chat.id, text, reply_parameters=reply_to, reply_markup=keyboard)
