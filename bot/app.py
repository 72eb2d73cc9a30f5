"""Wiring in one place: the handlers, the store, the model and their lifecycle.

`build_application` returns a python-telegram-bot Application; `post_init` opens the store and
the model and replays the journal, `post_shutdown` applies what is pending, writes a checkpoint
and closes the store, so a stop (SIGTERM included) loses no vote.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from bot import handlers
from bot.desk import Desk
from bot.journal import Journal
from bot.settings import Settings
from bot.store import Store
from model_core.backbone.registry import input_size_of

log = logging.getLogger(__name__)

PUBLIC_COMMANDS = [BotCommand("start", "what this bot does"), BotCommand("help", "how to help"),
                   BotCommand("labels", "the labels and their examples")]  # fmt: skip
ADMIN_COMMANDS = [
    BotCommand("addlabel", "add a label: /addlabel NAME"),
    BotCommand("renamelabel", "rename a label: /renamelabel OLD NEW"),
    BotCommand("retirelabel", "retire a label: /retirelabel NAME"),
    BotCommand("stats", "chart of examples and first-guess accuracy"),
    BotCommand("model", "model versions and rollback"),
]
NOT_PHOTOS = (
    filters.Sticker.ALL
    | filters.VIDEO
    | filters.ANIMATION
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO_NOTE
    | (filters.Document.ALL & ~filters.Document.IMAGE)
)


def build_application(
    settings: Settings,
    token: str,
    *,
    base_url: str | None = None,
    base_file_url: str | None = None,
    backbone=None,
) -> Application:
    """The bot, ready for `run_polling` or `start`; `backbone` overrides loading one (tests)."""
    # Every answer quotes the message it answers: in a busy group it is clear whose photo it is.
    defaults = Defaults(do_quote=True)
    builder = ApplicationBuilder().token(token).defaults(defaults).concurrent_updates(True)
    if base_url:
        builder = builder.base_url(base_url)
    if base_file_url:
        builder = builder.base_file_url(base_file_url)
    application = (
        builder.post_init(lambda app: _open(app, settings, backbone)).post_shutdown(_close).build()
    )
    _add_handlers(application)
    return application


def _add_handlers(app: Application) -> None:
    app.add_handler(CommandHandler(["start", "help"], handlers.start))
    app.add_handler(CommandHandler("labels", handlers.show_labels))
    app.add_handler(CommandHandler("addlabel", handlers.add_label))
    app.add_handler(CommandHandler("renamelabel", handlers.rename_label))
    app.add_handler(CommandHandler("retirelabel", handlers.retire_label))
    app.add_handler(CommandHandler("stats", handlers.stats))
    app.add_handler(CommandHandler("model", handlers.model))
    app.add_handler(MessageHandler(filters.PHOTO | filters.Document.IMAGE, handlers.on_photo))
    app.add_handler(MessageHandler(NOT_PHOTOS & filters.ChatType.PRIVATE, handlers.on_other_media))
    app.add_handler(
        MessageHandler(filters.TEXT & filters.REPLY & ~filters.COMMAND, handlers.on_label_name)
    )
    app.add_handler(CallbackQueryHandler(handlers.on_tap))
    app.add_error_handler(handlers.on_error)


async def _open(app: Application, settings: Settings, backbone) -> None:
    store = await Store.open(settings.data_dir / "labelbot.sqlite3")
    service = await asyncio.to_thread(open_model, settings, backbone)
    journal = Journal(store, service)
    replayed = await journal.catch_up()
    if replayed:
        log.info("replayed %d journal events the last checkpoint did not hold", replayed)
    await store.save_labels(service.snapshot.labels)
    app.bot_data["desk"] = Desk(settings, store, service, journal, input_size_of(settings.backbone))
    await _register_commands(app, settings)
    log.info(
        "labelbot is up as @%s: model version %d, %d labels",
        app.bot.username,
        service.snapshot.version,
        len(service.snapshot.labels),
    )


def open_model(settings: Settings, backbone=None):
    """The model service with the backbone behind it (built once, then cached on disk)."""
    from bot.model_commands import load_backbone_for, models_dir
    from model_core.embedder import ImageEmbedder
    from model_core.service import ModelService

    backbone = backbone or load_backbone_for(settings)
    return ModelService.open(
        Path(models_dir(settings)), settings.learner, embed=ImageEmbedder(backbone)
    )


async def _register_commands(app: Application, settings: Settings) -> None:
    await app.bot.set_my_commands(PUBLIC_COMMANDS, scope=BotCommandScopeDefault())
    for admin in settings.admins:
        try:
            await app.bot.set_my_commands(
                PUBLIC_COMMANDS + ADMIN_COMMANDS, scope=BotCommandScopeChat(admin)
            )
        except TelegramError as error:  # the admin has not opened a chat with the bot yet
            log.warning("could not set admin commands for %s: %s", admin, error)


async def _close(app: Application) -> None:
    desk: Desk | None = app.bot_data.get("desk")
    if desk is None:
        return
    await desk.journal.catch_up()
    await desk.service.close()
    await desk.store.close()
    log.info("stopped cleanly at model version %d", desk.service.snapshot.version)
