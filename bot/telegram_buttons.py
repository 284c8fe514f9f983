"""The buttons: More and Context under an answer, the example questions under the /start greeting."""

from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery, Message, ReplyParameters, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.telegram_handlers import answer_question
from bot.telegram_rendering import answer_keyboard, render_context, render_page
from bot.telegram_state import AnswerRecord, QuestionAnswerer, bot_state

log = logging.getLogger(__name__)

CONTEXT_SENTENCES = 2
EXPIRED = "This answer has expired. Please ask again."


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """More, Context and the /start examples; every press is answered, a stale one with a notice."""
    state = bot_state(context.bot_data)
    query = update.callback_query
    assert query is not None
    kind, _, rest = (query.data or "").partition(":")
    key, _, number = rest.rpartition(":")
    if kind == "x" and number.isdigit() and int(number) < len(state.examples):
        await query.answer()
        await answer_question(update, context, state.examples[int(number)])
        return
    record = state.answers.get(key)
    message = query.message
    if record is None or not number.isdigit() or not isinstance(message, Message):
        await query.answer(EXPIRED, show_alert=True)
        return
    if kind == "m":
        await _more(query, record, int(number))
    elif kind == "c":
        await _context(query, record, int(number), message, state.answerer)
    else:
        await query.answer(EXPIRED, show_alert=True)


async def _more(query: CallbackQuery, record: AnswerRecord, start: int) -> None:
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
    query: CallbackQuery, record: AnswerRecord, index: int, message: Message, answerer: QuestionAnswerer
) -> None:
    """Reply with the sentences around quote `index`, once."""
    if index >= len(record.quotes):
        await query.answer(EXPIRED, show_alert=True)
        return
    if index in record.contexts_shown:
        await query.answer("The context of this quote is shown above.")
        return
    record.contexts_shown.add(index)  # at once: a second press while this one is sending must not send twice
    await query.answer()
    quote = record.quotes[index]
    try:
        before, after = await asyncio.to_thread(answerer.context, quote, CONTEXT_SENTENCES)
        reply = ReplyParameters(message.message_id, allow_sending_without_reply=True)
        await message.get_bot().send_message(
            message.chat_id, render_context(quote, index + 1, before, after), reply_parameters=reply
        )
    except Exception:
        record.contexts_shown.discard(index)  # not shown after all: the next press tries again
        raise
