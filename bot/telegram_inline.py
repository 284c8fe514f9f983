"""Inline mode: `@bot question` in any chat, answered with quotes to pick and post."""

from __future__ import annotations

import asyncio

from telegram import InlineQueryResultsButton, Update
from telegram.ext import ContextTypes

from bot.telegram_rendering import inline_results
from bot.telegram_state import bot_state
from retrieval.answerer import QuestionError

INLINE_PAGE = 5


async def inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`@bot question` in any chat: quotes as results, INLINE_PAGE at a time (next_offset paging)."""
    state = bot_state(context.bot_data)
    query = update.inline_query
    assert query is not None
    offset = int(query.offset) if query.offset.isdigit() else 0
    # With an allow-list, Telegram must not serve these results from its cache to anyone else who types the same.
    personal = bool(state.access.users or state.access.chats)
    try:
        question = state.answerer.clean_question(query.query)
    except QuestionError:
        await query.answer([], cache_time=0, button=_to_bot("Type a question about the articles"))
        return
    answer = state.inline_answers.get(question)
    if answer is None:
        if wait := state.inline_limiter.wait_time(query.from_user.id):
            await query.answer([], cache_time=0, is_personal=True, button=_to_bot(f"Too fast: wait {wait:.0f} s"))
            return
        answer = await asyncio.to_thread(state.answerer.answer, question, 50)
        state.inline_answers.put(question, answer)
    if answer.abstained or not answer.quotes:
        await query.answer([], cache_time=60, is_personal=personal, button=_to_bot("No quote found: see how to ask"))
        return
    results = inline_results(answer.question, answer.quotes[offset : offset + INLINE_PAGE], offset)
    end = offset + len(results)
    # None, not "": with Defaults set, PTB 22.8 sends an empty string as "[]" (see the tests).
    next_offset = str(end) if end < len(answer.quotes) else None
    await query.answer(results, cache_time=300, is_personal=personal, next_offset=next_offset)


def _to_bot(text: str) -> InlineQueryResultsButton:
    """A button above the results that opens a private chat with the bot (/start inline)."""
    return InlineQueryResultsButton(text=text, start_parameter="inline")
