"""Telegram handlers: read the update, make one desk call, answer with texts and keyboards."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackContext, ExtBot

from bot import keyboards, texts
from bot.charts import stats_chart
from bot.desk import AfterTap, Desk, DeskError, GuessView, PhotoIn, TapIn
from bot.export import PhotoGone
from bot.inbox import InboxSweeper
from bot.keyboards import Action, Tap, parse_tap
from bot.store import Proposal, Sample

log = logging.getLogger(__name__)


@dataclass
class BotData:
    """What the application holds between updates (python-telegram-bot's typed `bot_data`)."""

    desk: Desk | None = None
    sweeper: InboxSweeper | None = None  # hands over updates a stopped process left (bot.inbox)


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
            await update.effective_message.reply_text(str(refused))

    return answering


# ---- help and labels ---------------------------------------------------------------------------


async def start(update: Update, context: Context) -> None:
    """Explains the bot; admins also see their commands."""
    desk = desk_of(context)
    admin = desk.is_admin(update.effective_user.id)
    await update.effective_message.reply_text(texts.help_text(admin, desk.labels.active_names()))


async def show_labels(update: Update, context: Context) -> None:
    """Every label with its number of examples."""
    await update.effective_message.reply_text(texts.labels(desk_of(context).labels.counts()))


# ---- photos ------------------------------------------------------------------------------------


@refusals_as_replies
async def on_photo(update: Update, context: Context) -> None:
    """A photo or an image file: the model's guesses, with a button per answer."""
    message, desk = update.effective_message, desk_of(context)
    if not _addressed(message, context):
        return

    async def show(view: GuessView) -> int:
        text, markup = _guess_message(view)
        return (await message.reply_text(text, reply_markup=markup)).message_id

    await desk.photos.take(_photo_in(message, context, desk.service.input_size), show)


async def on_other_media(update: Update, context: Context) -> None:
    """Stickers, videos, PDFs and the like: a friendly word, nothing else."""
    message = update.effective_message
    kind = next(
        (k for k in ("sticker", "video", "animation", "voice", "audio") if getattr(message, k)),
        "document",
    )
    await message.reply_text(texts.MEDIA_REFUSED[kind])


def _addressed(message: Message, context: Context) -> bool:
    """In groups, by default only photos that mention the bot or reply to it."""
    if message.chat.type == ChatType.PRIVATE or desk_of(context).policy.group_photos == "all":
        return True
    mention = f"@{context.bot.username}".casefold()
    replied = message.reply_to_message
    return mention in (message.caption or "").casefold() or (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == context.bot.id
    )


def _photo_in(message: Message, context: Context, input_size: int) -> PhotoIn:
    """The smallest photo size that still covers the backbone's input (decoding a big JPEG
    costs more than the network), else the largest; or the image document."""
    if message.photo:
        covering = [p for p in message.photo if min(p.width, p.height) >= input_size]
        file = min(covering, key=lambda p: p.width * p.height) if covering else message.photo[-1]
    else:
        file = message.document

    async def download() -> bytes:
        return bytes(await (await context.bot.get_file(file.file_id)).download_as_bytearray())

    return PhotoIn(
        chat_id=message.chat_id, message_id=message.message_id, user_id=message.from_user.id,
        user_name=message.from_user.full_name,
        file_id=file.file_id, file_unique_id=file.file_unique_id, file_size=file.file_size,
        download=download,
    )  # fmt: skip


def _guess_message(view: GuessView) -> tuple[str, InlineKeyboardMarkup]:
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


# ---- the review queue --------------------------------------------------------------------------


@refusals_as_replies
async def review(update: Update, context: Context) -> None:
    """/review: a photo someone else sent, for this person's vote (in a group: for anyone's)."""
    message = update.effective_message
    await send_review(
        desk_of(context), context, message.from_user.id, message.chat_id, message.message_id
    )


async def send_review(
    desk: Desk, context: Context, user_id: int, chat_id: int, asked: int | None = None
) -> None:
    """Re-sends the queue's next photo by its Telegram file id (photos are not stored here),
    quoting the /review that `asked` for it, then the guesses and buttons quoting the photo."""
    photo_messages: list[int] = []
    quoting = None if asked is None else _quoting(asked)

    async def send(sample: Sample) -> int:
        try:
            sent = await context.bot.send_photo(chat_id, sample.file_id, reply_parameters=quoting)
        except BadRequest:  # it came as an image file: a document's id is no photo's
            try:
                sent = await context.bot.send_document(
                    chat_id, sample.file_id, reply_parameters=quoting
                )
            except BadRequest as error:
                raise PhotoGone(error.message) from None
        photo_messages.append(sent.message_id)
        return sent.message_id

    async def show(view: GuessView) -> int:
        text, markup = _guess_message(view)
        sent = await context.bot.send_message(
            chat_id, text, reply_markup=markup, reply_parameters=_quoting(photo_messages[-1])
        )
        return sent.message_id

    await desk.review.send_next(user_id, chat_id, send, show)


# ---- taps --------------------------------------------------------------------------------------


class TapAnswer:
    """Answers a callback query exactly once: early (a vote is on disk) or with the outcome.

    A refusal that comes after the answer (the model refused a vote already acknowledged) is
    posted as a reply instead, so that it is never silently dropped."""

    def __init__(self, query: CallbackQuery) -> None:
        self._query = query
        self.answered = False

    async def __call__(self, text: str = "", alert: bool = False) -> None:
        if self.answered:
            raise RuntimeError("a tap was answered twice")
        self.answered = True
        await self._query.answer(text, show_alert=alert)

    async def finish(self, text: str = "") -> None:
        if not self.answered:
            await self(text)

    async def refuse(self, text: str) -> None:
        if not self.answered:
            await self(text, alert=True)
        elif self._query.message is not None:
            await self._query.message.reply_text(text)


TapAction = Callable[[Desk, Update, Context, Tap, TapAnswer], Awaitable[str | None]]


async def on_tap(update: Update, context: Context) -> None:
    """Every inline button: parsed strictly, routed by its action, answered exactly once."""
    query = update.callback_query
    answer = TapAnswer(query)
    tap = parse_tap(query.data)
    try:
        if tap is None:
            raise DeskError(texts.BAD_BUTTON)
        notice = await TAP_ACTIONS[tap.action](desk_of(context), update, context, tap, answer)
    except DeskError as refused:
        await answer.refuse(str(refused))
        return
    await answer.finish(notice or "")


def _tap_in(update: Update) -> TapIn:
    message = update.callback_query.message
    if message is None:  # too old for Telegram to include: nothing to bind the button to
        raise DeskError(texts.BAD_BUTTON)
    quoted = message.reply_to_message
    return TapIn(
        user_id=update.effective_user.id, chat_id=message.chat.id, message_id=message.message_id,
        user_name=update.effective_user.full_name,
        quoted_message_id=quoted.message_id if quoted else None,
        private=message.chat.type == ChatType.PRIVATE,
    )  # fmt: skip


async def _vote(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    await _show_after(update, await desk.votes.vote(_tap_in(update), tap.id, tap.arg, answer))


async def _skip(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    await _show_after(update, await desk.votes.skip(_tap_in(update), tap.id))
    return "Skipped"


async def _undo(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    await _show_after(update, await desk.votes.undo(_tap_in(update), tap.id))
    return texts.UNDONE


async def _show_after(update: Update, after: AfterTap) -> None:
    """Private: the outcome with Undo (or, after an undo, the guesses again). Group: the
    guesses, the tally and the keyboard for the others, with Undo for each voter."""
    query = update.callback_query
    if after.tally is None and after.undoable:
        await query.edit_message_text(
            after.outcome, reply_markup=keyboards.undo(after.view.sample.id)
        )
        return
    if after.tally is None:
        text, markup = _guess_message(dataclasses.replace(after.view, note=after.outcome))
        await query.edit_message_text(text, reply_markup=markup)
        return
    text, markup = _guess_message(after.view)
    await query.edit_message_text(
        f"{text}\n\n{texts.tally(after.tally)}",
        reply_markup=keyboards.with_undo(markup, after.view.sample.id),
    )


async def _other(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    labels = await desk.photos.label_page(_tap_in(update), tap.id)
    page = keyboards.label_page(tap.id, labels, tap.arg or 0)
    await update.callback_query.edit_message_reply_markup(page)


async def _back(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    _, markup = _guess_message(await desk.photos.guesses_again(_tap_in(update), tap.id))
    await update.callback_query.edit_message_reply_markup(markup)


async def _new_label(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    user = update.effective_user

    async def ask(sample: Sample) -> int:
        await answer("Reply to my question with the new label's name.")
        prompt = await context.bot.send_message(
            sample.chat_id,
            f"{user.first_name}: {texts.NAME_PROMPT}",
            reply_parameters=_quoting(sample.photo_message_id),
            reply_markup=ForceReply(selective=True, input_field_placeholder="Label name"),
        )
        return prompt.message_id

    await desk.proposals.propose(_tap_in(update), tap.id, ask)


async def _decide(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    admin = update.effective_user
    decision = await desk.proposals.decide(admin.id, tap.id, approve=tap.action == Action.APPROVE)
    verdict = "approved" if decision.approved else "rejected"
    await answer(verdict.capitalize())
    await update.callback_query.edit_message_text(
        f"{decision.proposal.name}: {verdict} by {admin.full_name}."
    )
    await context.bot.send_message(
        decision.proposal.chat_id,
        decision.announcement,
        reply_parameters=_quoting(decision.photo_message_id),
    )


async def _rollback(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    query, user_id = update.callback_query, update.effective_user.id
    if tap.action == Action.ROLLBACK:
        version = desk.model.rollback_offer(user_id, tap.id)
        await query.edit_message_text(
            texts.rollback_question(version), reply_markup=keyboards.rollback_confirm(version)
        )
    elif tap.action == Action.ROLLBACK_CANCEL:
        desk.model.cancel_rollback(user_id)
        await query.edit_message_text("Rollback cancelled.")
    else:
        done = await desk.model.rollback(user_id, tap.id)
        await query.edit_message_text(
            f"Restored version {done.restored} as model version {done.version}."
        )


async def _next(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    chat = update.effective_chat
    await send_review(desk, context, update.effective_user.id, chat.id)
    return "Here is another photo."


TAP_ACTIONS: dict[Action, TapAction] = {
    Action.VOTE: _vote,
    Action.SKIP: _skip,
    Action.UNDO: _undo,
    Action.OTHER: _other,
    Action.BACK: _back,
    Action.NEW: _new_label,
    Action.APPROVE: _decide,
    Action.REJECT: _decide,
    Action.ROLLBACK: _rollback,
    Action.ROLLBACK_CONFIRM: _rollback,
    Action.ROLLBACK_CANCEL: _rollback,
    Action.NEXT: _next,
}


def _quoting(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)


# ---- label names -------------------------------------------------------------------------------


async def on_label_name(update: Update, context: Context) -> None:
    """A reply to the bot's "what should the label be called?" prompt."""
    message, desk, user = update.effective_message, desk_of(context), update.effective_user
    outcome = await desk.proposals.name(
        message.chat_id, message.reply_to_message.message_id, user.id, message.text
    )
    if outcome is None:
        return  # a reply to some other message of the bot: nothing to do
    if outcome.proposal is not None:
        await _ask_admins(context, desk.policy.admins, outcome.proposal, user.full_name)
    await message.reply_text(outcome.reply)


async def _ask_admins(context: Context, admins, proposal: Proposal, who: str) -> None:
    for admin in admins:
        try:
            await context.bot.send_message(
                admin,
                texts.proposal_for_admins(proposal.name, who),
                reply_markup=keyboards.proposal(proposal.id),
            )
        except TelegramError as error:  # an admin who never opened a chat with the bot
            log.warning("could not ask admin %s about a label: %s", admin, error)


# ---- admin commands ----------------------------------------------------------------------------


def _arguments(message: Message) -> str:
    return (message.text or "").partition(" ")[2].strip()


@refusals_as_replies
async def add_label(update: Update, context: Context) -> None:
    """/addlabel NAME (admins)."""
    message = update.effective_message
    label = await desk_of(context).labels.add(message.from_user.id, _arguments(message))
    await message.reply_text(f"Added label {label.name}. Send photos of it and tap its button.")


@refusals_as_replies
async def rename_label(update: Update, context: Context) -> None:
    """/renamelabel OLD NEW (admins)."""
    message = update.effective_message
    renamed = await desk_of(context).labels.rename(message.from_user.id, _arguments(message))
    await message.reply_text(f"Renamed {renamed.old_name} to {renamed.label.name}; examples kept.")


@refusals_as_replies
async def retire_label(update: Update, context: Context) -> None:
    """/retirelabel NAME (admins)."""
    message = update.effective_message
    label = await desk_of(context).labels.retire(message.from_user.id, _arguments(message))
    await message.reply_text(f"Retired {label.name}: it is no longer offered or guessed.")


async def me(update: Update, context: Context) -> None:
    """/me: your votes, how often you agree with the crowd, your standing."""
    message = update.effective_message
    await message.reply_text(
        texts.standing(await desk_of(context).people.standing(message.from_user.id))
    )


async def top(update: Update, context: Context) -> None:
    """/top: the most active contributors (display names only; /hideme opts out)."""
    await update.effective_message.reply_text(
        texts.leaderboard(await desk_of(context).people.leaderboard())
    )


async def hide_me(update: Update, context: Context) -> None:
    """/hideme (and /showme): leave (or rejoin) the leaderboard."""
    message = update.effective_message
    hiding = (message.text or "").lstrip("/").lower().startswith("hide")
    await desk_of(context).people.hide(message.from_user.id, hiding)
    await message.reply_text(texts.HIDDEN if hiding else texts.SHOWN)


@refusals_as_replies
async def contributors(update: Update, context: Context) -> None:
    """/contributors (admins): every voter's record, with likely spam flagged."""
    message = update.effective_message
    rows = await desk_of(context).people.contributors(message.from_user.id)
    await message.reply_text(texts.contributors(rows))


@refusals_as_replies
async def ban(update: Update, context: Context) -> None:
    """/ban USER_ID and /unban USER_ID (admins): the person's votes stop (or start again)
    counting, and the photos they voted on follow the consensus without (with) them."""
    message = update.effective_message
    banning = (message.text or "").lstrip("/").lower().startswith("ban")
    photos = await desk_of(context).people.ban(message.from_user.id, _arguments(message), banning)
    await message.reply_text(texts.banned(_arguments(message), banning, photos))


async def forget_me(update: Update, context: Context) -> None:
    """/forgetme: explains; /forgetme confirm deletes the person's votes, photos and data."""
    message = update.effective_message
    if _arguments(message).lower() != "confirm":
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
    await message.reply_photo(chart, caption=texts.stats_caption(stats.first_guess_right))


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
