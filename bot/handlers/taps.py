"""Taps on inline buttons: parsed strictly, routed by action, answered exactly once; and the
replies that name a proposed label."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, ForceReply, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError

from bot import keyboards, texts
from bot.desk.desk import Desk
from bot.desk.views import AfterTap, DeskError, TapIn
from bot.handlers.common import Context, desk_of, guess_message, quoting
from bot.handlers.photos import send_review
from bot.keyboards import Action, Tap, parse_tap
from bot.store import Proposal, Sample

log = logging.getLogger(__name__)


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
        try:
            await self._query.answer(text, show_alert=alert)
        except BadRequest as error:  # answered before: this tap is handled a second time
            if not _says(error, *ALREADY_ANSWERED):
                raise
            log.debug("tap %s was answered before: %s", self._query.id, error.message)

    async def finish(self, text: str = "") -> None:
        if not self.answered:
            await self(text)

    async def refuse(self, text: str) -> None:
        if not self.answered:
            await self(text, alert=True)
        elif self._query.message is not None:
            await self._query.message.reply_text(text)


ALREADY_ANSWERED = ("query is too old", "query id is invalid")
NOT_MODIFIED = "message is not modified"


def _says(error: BadRequest, *phrases: str) -> bool:
    return any(phrase in error.message.lower() for phrase in phrases)


async def edit_text(
    query: CallbackQuery, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    await _unchanged_is_fine(query.edit_message_text(text, reply_markup=reply_markup))


async def edit_markup(query: CallbackQuery, markup: InlineKeyboardMarkup) -> None:
    await _unchanged_is_fine(query.edit_message_reply_markup(markup))


async def _unchanged_is_fine(edit: Awaitable[object]) -> None:
    """Telegram refuses an edit of the tapped message that changes nothing: the message
    already says this (a tap handled twice), which is success."""
    try:
        await edit
    except BadRequest as error:
        if not _says(error, NOT_MODIFIED):
            raise


TapAction = Callable[[Desk, Update, Context, Tap, TapAnswer], Awaitable[str | None]]


async def on_tap(update: Update, context: Context) -> None:
    """Every inline button: parsed strictly, routed by its action, answered exactly once."""
    query = update.callback_query
    answer = TapAnswer(query)
    tap = parse_tap(query.data)
    try:
        if tap is None:
            raise texts.refused("bad_button")
        notice = await TAP_ACTIONS[tap.action](desk_of(context), update, context, tap, answer)
    except DeskError as refused:
        await answer.refuse(texts.refusal(refused.code, **refused.details))
        return
    await answer.finish(notice or "")


def _tap_in(update: Update) -> TapIn:
    message = update.callback_query.message
    if message is None:  # too old for Telegram to include: nothing to bind the button to
        raise texts.refused("bad_button")
    quoted = message.reply_to_message
    return TapIn(
        user_id=update.effective_user.id, chat_id=message.chat.id, message_id=message.message_id,
        user_name=update.effective_user.full_name,
        quoted_message_id=quoted.message_id if quoted else None,
        private=message.chat.type == ChatType.PRIVATE,
    )  # fmt: skip


async def _vote(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    after = await desk.votes.vote(_tap_in(update), tap.id, tap.arg, answer)
    _count(context, "vote")
    await _show_after(update, after)


async def _skip(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    after = await desk.votes.skip(_tap_in(update), tap.id)
    _count(context, "skip")
    await _show_after(update, after)
    return texts.SKIPPED_SHORT


async def _undo(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    after = await desk.votes.undo(_tap_in(update), tap.id)
    _count(context, "undo")
    await _show_after(update, after)
    return texts.UNDONE


def _count(context: Context, action: str) -> None:
    context.bot_data.metrics.votes.labels(action=action, via="chat").inc()


async def _show_after(update: Update, after: AfterTap) -> None:
    """Private: the outcome and how settled the photo is, with Undo (or, after an undo, the
    guesses again). Group: the guesses, the tally and the keyboard for the others, with Undo
    for each voter."""
    query = update.callback_query
    if after.private and after.undoable:
        await edit_text(
            query, f"{after.outcome}\n{texts.tally(after.tally)}",
            reply_markup=keyboards.undo(after.view.sample.id),
        )  # fmt: skip
        return
    if after.private:
        text, markup = guess_message(dataclasses.replace(after.view, note=after.outcome))
        await edit_text(query, text, reply_markup=markup)
        return
    text, markup = guess_message(after.view)
    await edit_text(
        query,
        f"{text}\n\n{texts.tally(after.tally)}",
        reply_markup=keyboards.with_undo(markup, after.view.sample.id),
    )


async def _other(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    labels = await desk.photos.label_page(_tap_in(update), tap.id)
    page = keyboards.label_page(tap.id, labels, tap.arg or 0)
    await edit_markup(update.callback_query, page)


async def _back(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    _, markup = guess_message(await desk.photos.guesses_again(_tap_in(update), tap.id))
    await edit_markup(update.callback_query, markup)


async def _new_label(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    user = update.effective_user

    async def ask(sample: Sample) -> int:
        await answer(texts.NAME_HINT)
        prompt = await context.bot.send_message(
            sample.chat_id,
            f"{user.first_name}: {texts.NAME_PROMPT}",
            reply_parameters=quoting(sample.photo_message_id),
            reply_markup=ForceReply(selective=True, input_field_placeholder=texts.NAME_FIELD),
        )
        return prompt.message_id

    await desk.proposals.propose(_tap_in(update), tap.id, ask)


async def _decide(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    admin = update.effective_user
    decision = await desk.proposals.decide(admin.id, tap.id, approve=tap.action == Action.APPROVE)
    await answer(texts.decided_short(decision.approved))
    await edit_text(
        update.callback_query,
        texts.decided(decision.proposal.name, decision.approved, admin.full_name),
    )
    await context.bot.send_message(
        decision.proposal.chat_id,
        decision.announcement,
        reply_parameters=quoting(decision.photo_message_id),
    )


async def _rollback(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    query, user_id = update.callback_query, update.effective_user.id
    if tap.action == Action.ROLLBACK:
        version = desk.model.rollback_offer(user_id, tap.id)
        await edit_text(
            query,
            texts.rollback_question(version),
            reply_markup=keyboards.rollback_confirm(version),
        )
    elif tap.action == Action.ROLLBACK_CANCEL:
        desk.model.cancel_rollback(user_id)
        await edit_text(query, texts.ROLLBACK_CANCELLED)
    else:
        done = await desk.model.rollback(user_id, tap.id)
        await edit_text(query, texts.restored(done.restored, done.version))


async def _next(desk: Desk, update: Update, context: Context, tap: Tap, answer: TapAnswer):
    chat = update.effective_chat
    await send_review(desk, context, update.effective_user.id, chat.id)
    return texts.ANOTHER_PHOTO


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
