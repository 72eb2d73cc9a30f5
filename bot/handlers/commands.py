"""Commands: help and labels, the admins' label and model commands, people's standing, bans,
/forgetme, exports; and the error handler."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Update
from telegram.error import TelegramError

from bot import keyboards, texts
from bot.charts import stats_chart
from bot.handlers.common import Context, arguments, desk_of, refusals_as_replies
from bot.handlers.console import console, console_button

log = logging.getLogger(__name__)


async def start(update: Update, context: Context) -> None:
    """Explains the bot; admins also see their commands. `/start console` (the console's
    link from a group) opens the console."""
    if context.args == ["console"]:
        await console(update, context)
        return
    desk = desk_of(context)
    admin = desk.is_admin(update.effective_user.id)
    await update.effective_message.reply_text(texts.help_text(admin, desk.labels.active_names()))


async def show_labels(update: Update, context: Context) -> None:
    """Every label with its number of examples."""
    await update.effective_message.reply_text(texts.labels(desk_of(context).labels.counts()))


@refusals_as_replies
async def add_label(update: Update, context: Context) -> None:
    """/addlabel NAME (admins)."""
    message = update.effective_message
    label = await desk_of(context).labels.add(message.from_user.id, arguments(message))
    await message.reply_text(texts.label_added_by_command(label.name))


@refusals_as_replies
async def rename_label(update: Update, context: Context) -> None:
    """/renamelabel OLD NEW (admins)."""
    message = update.effective_message
    renamed = await desk_of(context).labels.rename(message.from_user.id, arguments(message))
    await message.reply_text(texts.renamed(renamed.old_name, renamed.label.name))


@refusals_as_replies
async def retire_label(update: Update, context: Context) -> None:
    """/retirelabel NAME (admins)."""
    message = update.effective_message
    label = await desk_of(context).labels.retire(message.from_user.id, arguments(message))
    await message.reply_text(texts.retired(label.name))


async def me(update: Update, context: Context) -> None:
    """/me: your votes, how often you agree with the crowd, your standing."""
    message = update.effective_message
    await message.reply_text(
        texts.standing(await desk_of(context).people.standing(message.from_user.id)),
        reply_markup=console_button(context, message.chat),
    )


async def top(update: Update, context: Context) -> None:
    """/top: the most active contributors (display names only; /hideme opts out)."""
    await update.effective_message.reply_text(
        texts.leaderboard(await desk_of(context).people.leaderboard())
    )


async def hide_me(update: Update, context: Context) -> None:
    """/hideme: leave the leaderboard."""
    await _set_hidden(update, context, hidden=True)


async def show_me(update: Update, context: Context) -> None:
    """/showme: rejoin the leaderboard."""
    await _set_hidden(update, context, hidden=False)


async def _set_hidden(update: Update, context: Context, hidden: bool) -> None:
    message = update.effective_message
    await desk_of(context).people.hide(message.from_user.id, hidden)
    await message.reply_text(texts.HIDDEN if hidden else texts.SHOWN)


@refusals_as_replies
async def contributors(update: Update, context: Context) -> None:
    """/contributors (admins): every voter's record, with likely spam flagged."""
    message = update.effective_message
    rows = await desk_of(context).people.contributors(message.from_user.id)
    await message.reply_text(texts.contributors(rows))


@refusals_as_replies
async def ban(update: Update, context: Context) -> None:
    """/ban USER_ID (admins): the person's votes stop counting, and the photos they voted on
    follow the consensus without them."""
    await _ban(update, context, banning=True)


@refusals_as_replies
async def unban(update: Update, context: Context) -> None:
    """/unban USER_ID (admins): the person's votes count again."""
    await _ban(update, context, banning=False)


async def _ban(update: Update, context: Context, banning: bool) -> None:
    message = update.effective_message
    photos = await desk_of(context).people.ban(message.from_user.id, arguments(message), banning)
    await message.reply_text(texts.banned(arguments(message), banning, photos))


async def forget_me(update: Update, context: Context) -> None:
    """/forgetme: explains; /forgetme confirm deletes the person's votes, photos and data."""
    message = update.effective_message
    if arguments(message).lower() != "confirm":
        await message.reply_text(texts.FORGET_ASK)
        return
    await desk_of(context).people.forget(message.from_user.id)
    await message.reply_text(texts.FORGOTTEN)


SEND_LIMIT = 20 * 1024 * 1024  # bigger files stay on the server (bots may send up to 50 MB)
SENT_FILES = ("labels.jsonl", "labels.csv")


@refusals_as_replies
async def export(update: Update, context: Context) -> None:
    """/export (admins): the labels as files in the chat; the large files stay on the server."""
    message = update.effective_message
    done = await desk_of(context).exports.tables(message.from_user.id)
    small = [p for p in done.files if p.name in SENT_FILES and p.stat().st_size <= SEND_LIMIT]
    kept = [p.name for p in done.files if p not in small]
    text = texts.exported(
        str(done.folder), done.photos, done.labeled, [p.name for p in small], kept
    )
    await message.reply_text(text)
    for path in small:
        await message.reply_document(path, filename=path.name)


@refusals_as_replies
async def stats(update: Update, context: Context) -> None:
    """/stats (admins): examples per label and first-guess accuracy, as a chart."""
    message = update.effective_message
    stats = await desk_of(context).model.stats(message.from_user.id)
    chart = await asyncio.to_thread(stats_chart, stats)  # ~0.2 s of drawing
    await message.reply_photo(
        chart,
        caption=texts.stats_caption(stats),
        reply_markup=console_button(context, message.chat),
    )


@refusals_as_replies
async def model(update: Update, context: Context) -> None:
    """/model (admins): versions, recent changes, and rollback buttons."""
    message = update.effective_message
    report = await desk_of(context).model.report(message.from_user.id)
    markup = keyboards.rollback_choices(report.older) if report.older else None
    await message.reply_text(texts.model(report), reply_markup=markup)


async def on_error(update: object, context: Context) -> None:
    """Logs the failure (never the token) and tells the person something went wrong."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        with contextlib.suppress(TelegramError):
            await update.effective_message.reply_text(texts.OUR_FAULT)
