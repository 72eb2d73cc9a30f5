"""`/console`, and the "Open console" button the other commands offer in private chats."""

from __future__ import annotations

import time

from telegram import Chat, InlineKeyboardMarkup, Update
from telegram.constants import ChatType

from bot import keyboards, texts
from bot.handlers.common import Context
from bot.web.auth import Seals, Visitor


async def console(update: Update, context: Context) -> None:
    """/console: the console as a Mini App, and a one-time sign-in link for a browser."""
    message, public_url = update.effective_message, context.bot_data.public_url
    if public_url is None:
        await message.reply_text(texts.NO_CONSOLE)
        return
    if message.chat.type != ChatType.PRIVATE:  # Telegram allows Web App buttons only there
        await message.reply_text(texts.console_in_group(context.bot.username))
        return
    user = message.from_user
    sealed = Seals(context.bot.token).login_link(Visitor(user.id, user.full_name), time.time())
    login = f"{public_url}/console/login?t={sealed}"
    await message.reply_text(
        texts.CONSOLE_INTRO, reply_markup=keyboards.open_console(f"{public_url}/console", login)
    )


def console_button(context: Context, chat: Chat) -> InlineKeyboardMarkup | None:
    """An "Open console" button, in a private chat of a bot that has a console."""
    url = console_url(context, chat.type == ChatType.PRIVATE)
    return None if url is None else keyboards.open_console(url)


def console_url(context: Context, private: bool) -> str | None:
    """Where the Mini App opens, if the bot has a console and the chat may offer it (Telegram
    allows Web App buttons in private chats only)."""
    public_url = context.bot_data.public_url
    return f"{public_url}/console" if public_url and private else None
