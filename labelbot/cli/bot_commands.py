"""`labelbot run` (the bot on Telegram by long polling) and `labelbot demo` (offline)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from labelbot.cli.errors import CommandError
from labelbot.house import House
from labelbot.settings import Settings, check_role

if TYPE_CHECKING:
    from telegram.ext import Application

    from bot.web.console import Console
    from bot.web.server import BotServer, Listen

log = logging.getLogger(__name__)

TOKEN_HELP = """\
No TELEGRAM_BOT_TOKEN is set, so here is the offline demo instead.

To run labelbot on Telegram:
  1. Open Telegram, talk to @BotFather, send /newbot and follow the questions.
  2. Copy the token it gives you (it looks like 123456789:AA...).
  3. Put it in a file named .env next to README.md:
       TELEGRAM_BOT_TOKEN=123456789:AA...
       LABELBOT_ADMINS=<your numeric Telegram user id>
  4. Run the same command again.
"""


def run(settings: Settings, api_base_url: str | None, api_file_url: str | None) -> int:
    """Polls Telegram (or the Bot API server given) until SIGINT or SIGTERM; or, with
    `role="trainer"`, applies the replicas' events to the model (no Telegram at all)."""
    check_role(settings)
    if settings.role == "trainer":
        from labelbot.trainer import run_trainer

        run_trainer(House(settings, command="labelbot run --role trainer"))
        return 0
    if settings.token is None:
        print(TOKEN_HELP, file=sys.stderr)
        return demo(settings, data=None, labels=5, rounds=4, per_round=4)
    from telegram.error import InvalidToken, NetworkError

    from bot.app import build_application

    if not settings.admins:
        log.warning("LABELBOT_ADMINS is empty: nobody can add labels except through proposals")
    server = api_base_url or settings.api_base_url
    house = House(settings, command="labelbot run")
    if settings.role == "all":  # a replica writes no model: many share a data dir
        house.claim()  # a second bot on this data dir is refused before Telegram is asked
    app = build_application(
        settings.token.reveal(),
        house,
        base_url=server,
        base_file_url=api_file_url or settings.api_file_url,
        instance=settings.instance_name,
        public_url=settings.public_url,
    )
    bot_server, listen = _server_for(app, settings, house.console(app.bot))
    try:
        # Stops on SIGINT/SIGTERM; post_shutdown applies pending votes, checkpoints.
        asyncio.run(bot_server.serve())
    except InvalidToken:
        raise CommandError(
            "the Bot API server refused the token; check TELEGRAM_BOT_TOKEN with @BotFather"
        ) from None
    except OSError as error:  # the web server's port is taken or not ours to bind
        if listen is None:
            raise
        raise CommandError(
            f"cannot listen on {listen.host}:{listen.port}: {error.strerror or error}"
        ) from None
    except NetworkError as error:  # the message may quote the token: main redacts it
        raise CommandError(
            f"cannot reach the Bot API server ({server or 'api.telegram.org'}): {error}"
        ) from None
    finally:
        house.release()
    if app.bot_data.fault is not None:
        raise CommandError(f"the backbone cannot be loaded: {app.bot_data.fault}")
    return 0


def _server_for(
    app: Application, settings: Settings, console: Console | None
) -> tuple[BotServer, Listen | None]:
    """The webhook with the web app on its port, or long polling with the web app on
    loopback if LABELBOT_CONSOLE_PORT asks for it."""
    from bot.web.server import BotServer, Listen, Polling, Webhook

    if console is not None:
        log.info("the console opens at %s/console", console.public_url)
    if settings.webhook_url:
        log.info("receiving updates by webhook at %s", settings.webhook_url)
        listen = Listen(settings.webhook_listen, settings.webhook_port)
        webhook = Webhook(settings.webhook_url, settings.webhook_secret.reveal())
        return BotServer(app, webhook, listen, console), listen
    port = settings.console_port
    listen = None if port is None else Listen(settings.webhook_listen, port)
    return BotServer(app, Polling(), listen, console), listen


def demo(settings: Settings, data: Path | None, labels: int, rounds: int, per_round: int) -> int:
    """The scripted demo (see `labelbot.demo`)."""
    from labelbot.demo import run_demo
    from model_core.datasets import DatasetError

    if min(labels, rounds, per_round) < 1 or labels < 2:
        raise CommandError("--labels must be at least 2, --rounds and --per-round at least 1")
    try:
        return run_demo(settings, data, labels, rounds, per_round)
    except DatasetError as error:
        raise CommandError(str(error)) from error
