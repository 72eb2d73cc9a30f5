"""What every handler shares: the application's typed data, the desk, refusals as replies,
and the guesses under a photo as a message with its keyboard."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram import InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.ext import CallbackContext, ExtBot

from bot import keyboards, texts
from bot.desk.desk import Desk
from bot.desk.views import DeskError, GuessView
from bot.inbox import InboxSweeper
from bot.metrics import Metrics


@dataclass
class BotData:
    """What the application holds between updates (python-telegram-bot's typed `bot_data`)."""

    desk: Desk | None = None
    sweeper: InboxSweeper | None = None  # hands over updates a stopped process left (bot.inbox)
    watcher: asyncio.Task | None = None  # stops the bot if photos can never be read
    fault: BaseException | None = None  # what stopped it so: the run command reports it
    metrics: Metrics = field(default_factory=Metrics)  # what /metrics reports (bot.metrics)
    stop: Callable[[], None] | None = None  # stops the server running the bot (bot.web.server)
    public_url: str | None = None  # where the console opens (LABELBOT_PUBLIC_URL), if it does


Context = CallbackContext[ExtBot, dict, dict, BotData]


def desk_of(context: Context) -> Desk:
    return context.bot_data.desk


def refusals_as_replies(handler: Callable[[Update, Context], Awaitable[None]]):
    """A command whose desk call refuses (DeskError) answers with the refusal."""

    @functools.wraps(handler)
    async def answering(update: Update, context: Context) -> None:
        try:
            await handler(update, context)
        except DeskError as refused:
            await update.effective_message.reply_text(
                texts.refusal(refused.code, **refused.details)
            )

    return answering


def arguments(message: Message) -> str:
    return (message.text or "").partition(" ")[2].strip()


def quoting(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)


def guess_message(view: GuessView) -> tuple[str, InlineKeyboardMarkup]:
    if not view.has_labels:
        text = texts.NO_LABELS
    elif not view.guesses:
        text = texts.NO_EXAMPLES
    else:
        text = texts.guesses(view.guesses, view.sure)
    if view.note is not None:
        text = f"{view.note}\n\n{text}"
    return text, keyboards.guesses(
        view.sample.id, view.guesses, view.has_labels, proposals=not view.review
    )
