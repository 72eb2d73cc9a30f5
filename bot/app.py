"""Wiring in one place: the handlers and the desk's lifecycle.

`build_application` returns a python-telegram-bot Application; `post_init` opens the desk (the
store, the model, the journal replayed) and the inbox (every update kept until it is handled,
see `bot.inbox`), `post_shutdown` closes them: pending votes are applied and a checkpoint is
written first, so a stop (SIGTERM included) loses no vote, and a kill loses no update.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Protocol

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    MenuButtonWebApp,
    WebAppInfo,
)
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bot import handlers
from bot.desk.desk import Desk
from bot.handlers import BotData
from bot.inbox import DurableApplication, DurableQueue, Inbox, InboxSweeper
from bot.metrics import Metrics

log = logging.getLogger(__name__)

PUBLIC_COMMANDS = [BotCommand("start", "what this bot does"), BotCommand("help", "how to help"),
                   BotCommand("labels", "the labels and their examples"),
                   BotCommand("review", "label a photo someone else sent"),
                   BotCommand("me", "your votes and your standing"),
                   BotCommand("top", "the most active contributors"),
                   BotCommand("hideme", "leave the leaderboard (/showme to rejoin)"),
                   BotCommand("forgetme", "delete your votes, photos and data")]  # fmt: skip
CONSOLE_COMMAND = BotCommand("console", "open the console: review, campaign, more")
ADMIN_COMMANDS = [
    BotCommand("addlabel", "add a label: /addlabel NAME"),
    BotCommand("renamelabel", "rename a label: /renamelabel OLD NEW"),
    BotCommand("retirelabel", "retire a label: /retirelabel NAME"),
    BotCommand("stats", "chart of examples and first-guess accuracy"),
    BotCommand("model", "model versions and rollback"),
    BotCommand("export", "the labels as files (JSONL, CSV)"),
    BotCommand("contributors", "every voter's record, likely spam flagged"),
    BotCommand("disputed", "decide a photo the crowd could not settle"),
    BotCommand("ban", "stop a contributor's votes counting: /ban USER_ID"),
    BotCommand("unban", "let them count again: /unban USER_ID"),
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


class Workplace(Protocol):
    """Where the desk comes from: opened after the bot connects, closed when it stops.

    `labelbot.house.House` is the one real implementation (the composition root); the bot
    only needs these two calls, so it never learns how a data dir is laid out.
    """

    async def open_desk(self) -> Desk: ...

    async def close(self) -> None: ...


def build_application(
    token: str,
    workplace: Workplace,
    *,
    base_url: str | None = None,
    base_file_url: str | None = None,
    instance: str = "labelbot",
    public_url: str | None = None,
) -> Application:
    """The bot, ready for `bot.web.server.BotServer`. `instance` names this process in the
    inbox: a restart under the same name takes over its unhandled updates at once.
    `public_url`: where the console opens (`bot.web.console`), offered in private chats."""
    # python-telegram-bot's time periods (RetryAfter.retry_after, durations) become timedeltas
    # in its next major version. labelbot reads none of them, so it opts in now, which also
    # stops the deprecation warning PTB's own RetryAfter raises at every flood wait.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    # Every answer quotes the message it answers: in a busy group it is clear whose photo it is.
    metrics = Metrics()
    builder = (
        ApplicationBuilder()
        .application_class(DurableApplication)
        .update_queue(DurableQueue(metrics))
        .token(token)
        .defaults(Defaults(do_quote=True))
        .context_types(ContextTypes(bot_data=BotData))
        .concurrent_updates(True)
        # Telegram's own limits on what a bot sends (30 messages a second overall, 20 a minute
        # per group), and its "retry after" answers waited out instead of failing the reply.
        .rate_limiter(AIORateLimiter(max_retries=3))
        .post_init(lambda app: _open(app, workplace, instance))
        .post_shutdown(lambda app: _close(app, workplace))
    )
    if base_url:
        builder = builder.base_url(base_url)
    if base_file_url:
        builder = builder.base_file_url(base_file_url)
    application = builder.build()
    application.bot_data.metrics = metrics
    application.bot_data.public_url = public_url
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
    app.add_handler(CommandHandler("export", handlers.export))
    app.add_handler(CommandHandler("ban", handlers.ban))
    app.add_handler(CommandHandler("unban", handlers.unban))
    app.add_handler(CommandHandler("forgetme", handlers.forget_me))
    app.add_handler(CommandHandler("review", handlers.review))
    app.add_handler(CommandHandler("disputed", handlers.disputed))
    app.add_handler(CommandHandler("me", handlers.me))
    app.add_handler(CommandHandler("top", handlers.top))
    app.add_handler(CommandHandler("hideme", handlers.hide_me))
    app.add_handler(CommandHandler("showme", handlers.show_me))
    app.add_handler(CommandHandler("contributors", handlers.contributors))
    app.add_handler(CommandHandler("console", handlers.console))
    app.add_handler(MessageHandler(filters.PHOTO | filters.Document.IMAGE, handlers.on_photo))
    app.add_handler(MessageHandler(NOT_PHOTOS & filters.ChatType.PRIVATE, handlers.on_other_media))
    app.add_handler(
        MessageHandler(filters.TEXT & filters.REPLY & ~filters.COMMAND, handlers.on_label_name)
    )
    app.add_handler(CallbackQueryHandler(handlers.on_tap))
    app.add_error_handler(handlers.on_error)


async def _open(app: Application, workplace: Workplace, instance: str) -> None:
    desk = await workplace.open_desk()
    app.bot_data.desk = desk
    inbox = Inbox(desk.store, instance, app.bot)
    await inbox.prune()  # before the first update: ids seen long ago may come again
    app.update_queue.inbox = inbox
    app.bot_data.sweeper = InboxSweeper(app, inbox)
    await app.bot_data.sweeper.start()
    await _register_commands(app, desk.policy.admins, app.bot_data.public_url)
    snapshot = desk.snapshot
    log.info(
        "labelbot is up as @%s: model version %d, %d labels",
        app.bot.username,
        snapshot.version,
        len(snapshot.labels),
    )
    # Last: the backbone starts loading beside the running bot, once it has got up.
    app.bot_data.watcher = asyncio.get_running_loop().create_task(_stop_if_blind(app, desk))


async def _stop_if_blind(app: Application, desk: Desk) -> None:
    """The bot answers while its backbone loads (see `model_core.backbone.background`); if it
    cannot load, photos could never be read, so the bot stops and `labelbot run` says why."""
    try:
        await desk.service.ready()
    except Exception as error:
        log.error("the backbone cannot be loaded, so no photo can be read: stopping")
        app.bot_data.fault = error
        app.bot_data.stop()


async def _register_commands(
    app: Application, admins: frozenset[int], public_url: str | None
) -> None:
    """The command menus, and with a console the menu button that opens it in private chats."""
    public = PUBLIC_COMMANDS + ([CONSOLE_COMMAND] if public_url else [])
    await app.bot.set_my_commands(public, scope=BotCommandScopeDefault())
    for admin in admins:
        try:
            await app.bot.set_my_commands(public + ADMIN_COMMANDS, scope=BotCommandScopeChat(admin))
        except TelegramError as error:  # the admin has not opened a chat with the bot yet
            log.warning("could not set admin commands for %s: %s", admin, error)
    if public_url:
        console = WebAppInfo(f"{public_url}/console")
        try:
            await app.bot.set_chat_menu_button(menu_button=MenuButtonWebApp("Console", console))
        except TelegramError as error:  # e.g. Telegram refuses a URL that is not https
            log.warning("could not set the console's menu button: %s", error)


async def _close(app: Application, workplace: Workplace) -> None:
    desk = app.bot_data.desk
    if app.bot_data.watcher is not None:
        app.bot_data.watcher.cancel()
    if app.bot_data.sweeper is not None:
        await app.bot_data.sweeper.stop()
    await workplace.close()
    if desk is not None:
        log.info("stopped cleanly at model version %d", desk.snapshot.version)
