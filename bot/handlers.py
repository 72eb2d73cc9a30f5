"""Telegram handlers: read the update, call the desk, answer. Thin on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import ForceReply, Message, ReplyParameters, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import keyboards, texts
from bot.charts import stats_chart
from bot.desk import UNSURE_BELOW, Desk, DeskError
from bot.keyboards import Tap, parse_tap
from bot.store import Sample
from model_core.intake import ImageError, IntakeLimits

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE
MAX_DOWNLOAD = IntakeLimits().max_bytes


def desk_of(context: Context) -> Desk:
    return context.application.bot_data["desk"]


# ---- help and labels ---------------------------------------------------------------------------


async def start(update: Update, context: Context) -> None:
    desk = desk_of(context)
    parts = [texts.HELP]
    if desk.is_admin(update.effective_user.id):
        parts.append(texts.ADMIN_HELP)
    names = [name for _, name in desk.active_labels()]
    parts.append("Labels: " + (", ".join(names) if names else "none yet"))
    await update.effective_message.reply_text("\n\n".join(parts))


async def show_labels(update: Update, context: Context) -> None:
    await update.effective_message.reply_text(texts.labels(desk_of(context).label_counts()))


# ---- photos ------------------------------------------------------------------------------------


async def on_photo(update: Update, context: Context) -> None:
    message, desk = update.effective_message, desk_of(context)
    if not _addressed(message, context):
        return
    file_id, unique_id, size = _pick_file(message, desk.input_size)
    if size is not None and size > MAX_DOWNLOAD:
        await message.reply_text(texts.image_refused("too_large", MAX_DOWNLOAD))
        return
    earlier = await desk.store.sample_by_file(unique_id)
    if earlier is not None:
        embedding = earlier.embedding
    else:
        try:
            data = await (await context.bot.get_file(file_id)).download_as_bytearray()
            embedding = await desk.embed(bytes(data))
        except ImageError as error:
            await message.reply_text(texts.image_refused(error.reason, MAX_DOWNLOAD))
            return
    prediction = await desk.guesses(embedding)
    sample_id = await desk.store.add_sample(
        chat_id=message.chat_id,
        photo_message_id=message.message_id,
        user_id=update.effective_user.id,
        file_id=file_id,
        file_unique_id=unique_id,
        embedding=embedding,
        prediction=prediction,
        model_version=desk.snapshot.version,
    )
    sample = await desk.store.sample(sample_id)
    note = None
    if earlier is not None:
        tally, _ = await desk.tally(earlier)
        note = texts.seen_before(tally[0][0] if tally else None)
    text, markup = _guess_message(desk, sample, note)
    reply = await message.reply_text(text, reply_markup=markup)
    await desk.store.set_reply_message(sample_id, reply.message_id)


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
    if message.chat.type == ChatType.PRIVATE or desk_of(context).settings.group_photos == "all":
        return True
    mention = f"@{context.bot.username}".casefold()
    replied = message.reply_to_message
    return mention in (message.caption or "").casefold() or (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == context.bot.id
    )


def _pick_file(message: Message, input_size: int) -> tuple[str, str, int | None]:
    """The smallest photo size that still covers the backbone's input (decoding a big JPEG
    costs more than the network), else the largest; or the image document."""
    if message.photo:
        covering = [p for p in message.photo if min(p.width, p.height) >= input_size]
        best = min(covering, key=lambda p: p.width * p.height) if covering else message.photo[-1]
        return best.file_id, best.file_unique_id, best.file_size
    document = message.document
    return document.file_id, document.file_unique_id, document.file_size


def _guess_message(desk: Desk, sample: Sample, note: str | None = None):
    top = desk.current_guesses(sample)
    has_labels = bool(desk.snapshot.labels.active)
    if not has_labels:
        text = texts.NO_LABELS
    elif not top:
        text = texts.NO_EXAMPLES
    else:
        text = texts.guesses([(name, p) for _, name, p in top], sure=top[0][2] >= UNSURE_BELOW)
    if note is not None:
        text = f"{note}\n\n{text}"
    return text, keyboards.guesses(sample.id, top, has_labels)


# ---- taps --------------------------------------------------------------------------------------


async def on_tap(update: Update, context: Context) -> None:
    query, desk = update.callback_query, desk_of(context)
    tap = parse_tap(query.data)
    if tap is None or tap.action not in TAP_ACTIONS:
        await query.answer(texts.BAD_BUTTON, show_alert=True)
        return
    try:
        await TAP_ACTIONS[tap.action](desk, update, context, tap)
    except DeskError as refused:
        await _answer(update, str(refused), alert=True)


async def _answer(update: Update, text: str = "", alert: bool = False) -> None:
    """Answers a tap once; Telegram refuses a second answer, which is harmless here."""
    try:
        await update.callback_query.answer(text, show_alert=alert)
    except TelegramError as error:
        log.debug("could not answer a tap: %s", error)


async def _bound_sample(desk: Desk, update: Update, tap: Tap) -> Sample:
    """The tap's sample, checked against the message the button is on: forged ids fail here."""
    sample = await desk.store.sample(tap.id)
    message = update.callback_query.message
    if sample is None:
        raise DeskError(texts.UNKNOWN_SAMPLE)
    if message is None or not _is_reply_of(message, sample):
        raise DeskError(texts.WRONG_MESSAGE)
    return sample


def _is_reply_of(message, sample: Sample) -> bool:
    """Whether a message is the bot's reply to the sample's photo. Right after sending, the
    reply's id may not be stored yet; then the photo it quotes tells."""
    if message.chat.id != sample.chat_id:
        return False
    if sample.reply_message_id is not None:
        return message.message_id == sample.reply_message_id
    quoted = message.reply_to_message
    return quoted is not None and quoted.message_id == sample.photo_message_id


async def _vote(desk: Desk, update: Update, context: Context, tap: Tap) -> None:
    sample = await _bound_sample(desk, update, tap)
    if tap.arg is None:
        raise DeskError(texts.BAD_BUTTON)
    label = desk.votable(tap.arg)
    event_id = await desk.record_vote(sample, update.effective_user.id, tap.arg)
    await _answer(update, f"Saved: {label.name}")  # at once: the vote is on disk
    version = await desk.apply(event_id)
    await _show_outcome(desk, update, sample, texts.saved(label.name, version))


async def _skip(desk: Desk, update: Update, context: Context, tap: Tap) -> None:
    sample = await _bound_sample(desk, update, tap)
    await desk.vote(sample, update.effective_user.id, None)
    await _answer(update, "Skipped")
    await _show_outcome(desk, update, sample, texts.SKIPPED)


async def _undo(desk: Desk, update: Update, context: Context, tap: Tap) -> None:
    sample = await _bound_sample(desk, update, tap)
    await desk.undo(sample, update.effective_user.id)
    await _answer(update, texts.UNDONE)
    if update.callback_query.message.chat.type == ChatType.PRIVATE:
        text, markup = _guess_message(desk, sample, texts.UNDONE)
        await update.callback_query.edit_message_text(text, reply_markup=markup)
    else:
        await _show_outcome(desk, update, sample, texts.UNDONE)


async def _show_outcome(desk: Desk, update: Update, sample: Sample, outcome: str) -> None:
    """Private: the outcome and Undo. Group: guesses, tally and the keyboard for the others."""
    query = update.callback_query
    if query.message.chat.type == ChatType.PRIVATE:
        await query.edit_message_text(outcome, reply_markup=keyboards.undo(sample.id))
        return
    text, markup = _guess_message(desk, sample)
    counts, skips = await desk.tally(sample)
    await query.edit_message_text(
        f"{text}\n\n{texts.tally(counts, skips)}",
        reply_markup=keyboards.with_undo(markup, sample.id),
    )


async def _other(desk: Desk, update: Update, context: Context, tap: Tap) -> None:
    sample = await _bound_sample(desk, update, tap)
    await _answer(update)
    page = keyboards.label_page(sample.id, desk.active_labels(), tap.arg or 0)
    await update.callback_query.edit_message_reply_markup(page)


async def _back(desk: Desk, update: Update, context: Context, tap: Tap) -> None:
    sample = await _bound_sample(desk, update, tap)
    await _answer(update)
    _, markup = _guess_message(desk, sample)
    await update.callback_query.edit_message_reply_markup(markup)


async def _new_label(desk: Desk, update: Update, context: Context, tap: Tap) -> None:
    sample = await _bound_sample(desk, update, tap)
    user = update.effective_user
    await _answer(update, "Reply to my question with the new label's name.")
    proposal_id = await desk.store.propose(sample.id, user.id, sample.chat_id)
    prompt = await context.bot.send_message(
        sample.chat_id,
        f"{user.first_name}: {texts.NAME_PROMPT}",
        reply_parameters=ReplyParameters(sample.photo_message_id, allow_sending_without_reply=True),
        reply_markup=ForceReply(selective=True, input_field_placeholder="Label name"),
    )
    await desk.store.set_prompt(proposal_id, prompt.message_id)


async def on_label_name(update: Update, context: Context) -> None:
    """A reply to the bot's "what should the label be called?" prompt."""
    message, desk, user = update.effective_message, desk_of(context), update.effective_user
    proposal = await desk.store.proposal_for_reply(
        message.chat_id, message.reply_to_message.message_id, user.id
    )
    if proposal is None:
        return  # a reply to some other message of the bot: nothing to do
    if proposal.user_id != user.id:
        await message.reply_text(texts.NOT_YOUR_PROMPT)
        return
    try:
        name = desk.new_label_name(message.text)
    except DeskError as refused:
        await message.reply_text(f"{refused} Reply to my question again with another name.")
        return
    if desk.is_admin(user.id):
        if await desk.store.move_proposal(proposal.id, "awaiting_name", "approved", name=name):
            await _accept(desk, context, proposal.id, name, user.id)
        return
    await desk.store.move_proposal(proposal.id, "awaiting_name", "pending", name=name)
    for admin in desk.settings.admins:
        try:
            await context.bot.send_message(
                admin,
                texts.proposal_for_admins(name, user.full_name),
                reply_markup=keyboards.proposal(proposal.id),
            )
        except TelegramError as error:  # an admin who never opened a chat with the bot
            log.warning("could not ask admin %s about a label: %s", admin, error)
    await message.reply_text(f"Thanks! I asked the admins to approve the label {name}.")


async def _accept(desk: Desk, context: Context, proposal_id: int, name: str, by: int) -> None:
    """Adds an approved label; the photo that prompted it becomes its first example."""
    proposal = await desk.store.proposal(proposal_id)
    sample = await desk.store.sample(proposal.sample_id)
    try:
        label = await desk.add_label(name, by)
        await desk.vote(sample, proposal.user_id, label.id)
        text = f"New label {label.name} added; this photo is its first example."
    except DeskError as refused:
        text = f"The label {name} could not be added: {refused}"
    await context.bot.send_message(
        sample.chat_id,
        text,
        reply_parameters=ReplyParameters(sample.photo_message_id, allow_sending_without_reply=True),
    )


async def _decide(desk: Desk, update: Update, context: Context, tap: Tap) -> None:
    admin = update.effective_user
    if not desk.is_admin(admin.id):
        raise DeskError(texts.NOT_ADMIN)
    proposal = await desk.store.proposal(tap.id)
    approve = tap.action == keyboards.APPROVE
    after = "approved" if approve else "rejected"
    if proposal is None or not await desk.store.move_proposal(
        tap.id, "pending", after, by=admin.id
    ):
        raise DeskError("This proposal has already been decided.")
    await _answer(update, "Approved" if approve else "Rejected")
    await update.callback_query.edit_message_text(f"{proposal.name}: {after} by {admin.full_name}.")
    if approve:
        await _accept(desk, context, proposal.id, proposal.name, admin.id)
    else:
        await context.bot.send_message(
            proposal.chat_id, f"The admins did not add the label {proposal.name}, sorry."
        )


async def _rollback(desk: Desk, update: Update, context: Context, tap: Tap) -> None:
    if not desk.is_admin(update.effective_user.id):
        raise DeskError(texts.NOT_ADMIN)
    query = update.callback_query
    await _answer(update)
    if tap.action == keyboards.ROLLBACK:
        await query.edit_message_text(
            f"Restore version {tap.id}? Votes since then stay recorded but leave the model.",
            reply_markup=keyboards.rollback_confirm(tap.id),
        )
    elif tap.action == keyboards.ROLLBACK_CANCEL:
        await query.edit_message_text("Rollback cancelled.")
    else:
        version = await desk.rollback(tap.id, update.effective_user.id)
        await query.edit_message_text(f"Restored version {tap.id} as model version {version}.")


TAP_ACTIONS = {
    keyboards.VOTE: _vote,
    keyboards.SKIP: _skip,
    keyboards.UNDO: _undo,
    keyboards.OTHER: _other,
    keyboards.BACK: _back,
    keyboards.NEW: _new_label,
    keyboards.APPROVE: _decide,
    keyboards.REJECT: _decide,
    keyboards.ROLLBACK: _rollback,
    keyboards.ROLLBACK_CONFIRM: _rollback,
    keyboards.ROLLBACK_CANCEL: _rollback,
}


# ---- admin commands ----------------------------------------------------------------------------


def admin_only(command):
    """Wraps an admin command: a polite refusal for everyone else, DeskError as a reply."""

    async def guarded(update: Update, context: Context) -> None:
        message = update.effective_message
        if not desk_of(context).is_admin(update.effective_user.id):
            await message.reply_text(texts.NOT_ADMIN)
            return
        try:
            await command(desk_of(context), message, _arguments(message))
        except DeskError as refused:
            await message.reply_text(str(refused))

    guarded.__name__ = command.__name__
    return guarded


def _arguments(message: Message) -> str:
    return (message.text or "").partition(" ")[2].strip()


@admin_only
async def add_label(desk: Desk, message: Message, args: str) -> None:
    if not args:
        raise DeskError("Usage: /addlabel NAME")
    label = await desk.add_label(args, message.from_user.id)
    await message.reply_text(f"Added label {label.name}. Send photos of it and tap its button.")


@admin_only
async def rename_label(desk: Desk, message: Message, args: str) -> None:
    old, label = await desk.rename_label(args, message.from_user.id)
    await message.reply_text(f"Renamed {old} to {label.name}; its examples are kept.")


@admin_only
async def retire_label(desk: Desk, message: Message, args: str) -> None:
    if not args:
        raise DeskError("Usage: /retirelabel NAME")
    label = await desk.retire_label(args, message.from_user.id)
    await message.reply_text(f"Retired {label.name}: it is no longer offered or guessed.")


@admin_only
async def stats(desk: Desk, message: Message, args: str) -> None:
    history = await desk.store.first_guess_history()
    chart = await asyncio.to_thread(stats_chart, desk.label_counts(), history)  # ~0.2 s of drawing
    right = sum(history)
    caption = f"{len(history)} votes; the first guess was right {right} times" + (
        f" ({right / len(history):.0%})." if history else "."
    )
    await message.reply_photo(chart, caption=caption)


@admin_only
async def model(desk: Desk, message: Message, args: str) -> None:
    snapshot = desk.snapshot
    versions = desk.service.versions()
    recent = [
        f"#{event_id} {kind}: {result or 'pending'}"
        for event_id, kind, result, _ in await desk.store.recent_events(5)
    ]
    older = [v for v in versions if v < snapshot.version][-5:]
    await message.reply_text(
        texts.model(snapshot.version, desk.settings.learner, versions, recent),
        reply_markup=keyboards.rollback_choices(older) if older else None,
    )


async def on_error(update: object, context: Context) -> None:
    """Logs the failure (never the token) and tells the person something went wrong."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        with contextlib.suppress(TelegramError):
            await update.effective_message.reply_text(
                "Sorry, something went wrong on my side. Please try again."
            )
