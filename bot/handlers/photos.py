"""Photos in: the guesses under each, in private chats and groups; and the review queue's
photos sent again for someone else's vote."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot import keyboards, texts
from bot.desk.desk import Desk
from bot.desk.views import GuessView, PhotoIn
from bot.export import PhotoGone
from bot.handlers.common import Context, desk_of, guess_message, quoting, refusals_as_replies
from bot.handlers.console import console_url
from bot.store import Sample


@refusals_as_replies
async def on_photo(update: Update, context: Context) -> None:
    """A photo or an image file: the model's guesses, with a button per answer."""
    message, desk = update.effective_message, desk_of(context)
    if not _addressed(message, context):
        return

    async def show(view: GuessView) -> int:
        text, markup = guess_message(view)
        sent = await message.reply_text(text, reply_markup=markup)
        context.bot_data.metrics.photos_answered.inc()
        return sent.message_id

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


@refusals_as_replies
async def review(update: Update, context: Context) -> None:
    """/review: a photo someone else sent, for this person's vote (in a group: for anyone's)."""
    message = update.effective_message
    await send_review(
        desk_of(context), context, message.from_user.id, message.chat_id, message.message_id
    )


@refusals_as_replies
async def disputed(update: Update, context: Context) -> None:
    """/disputed (admins): a photo the crowd could not settle, for the admin's deciding vote."""
    message = update.effective_message
    await send_review(
        desk_of(context), context, message.from_user.id, message.chat_id, message.message_id,
        disputed=True,
    )  # fmt: skip


async def send_review(
    desk: Desk, context: Context, user_id: int, chat_id: int, asked: int | None = None,
    *, disputed: bool = False,
) -> None:  # fmt: skip
    """Re-sends the queue's next photo by its Telegram file id (photos are not stored here),
    quoting the /review that `asked` for it, then the guesses and buttons quoting the photo."""
    photo_messages: list[int] = []
    to_asker = quoting(asked)

    async def send(sample: Sample) -> int:
        try:
            sent = await context.bot.send_photo(chat_id, sample.file_id, reply_parameters=to_asker)
        except BadRequest:  # it came as an image file: a document's id is no photo's
            try:
                sent = await context.bot.send_document(
                    chat_id, sample.file_id, reply_parameters=to_asker
                )
            except BadRequest as error:
                raise PhotoGone(error.message) from None
        photo_messages.append(sent.message_id)
        return sent.message_id

    async def show(view: GuessView) -> int:
        text, markup = guess_message(view)
        url = console_url(context, private=chat_id > 0)  # private chats' ids are their users'
        if url is not None:
            markup = InlineKeyboardMarkup([*markup.inline_keyboard, keyboards.console_row(url)])
        sent = await context.bot.send_message(
            chat_id, text, reply_markup=markup, reply_parameters=quoting(photo_messages[-1])
        )
        return sent.message_id

    await desk.review.send_next(user_id, chat_id, send, show, disputed=disputed)
