"""`labelbot run`: the bot on Telegram by long polling, or the offline demo without a token."""

from __future__ import annotations

import dataclasses
import logging
import sys

from bot.settings import Settings

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
    """Polls Telegram (or the Bot API server given) until SIGINT or SIGTERM."""
    if settings.token is None:
        print(TOKEN_HELP, file=sys.stderr)
        from bot.demo import run_demo

        return run_demo(settings, data=None, labels=5, rounds=4, per_round=4)
    from telegram import Update

    from bot.app import build_application

    settings = dataclasses.replace(
        settings,
        api_base_url=api_base_url or settings.api_base_url,
        api_file_url=api_file_url or settings.api_file_url,
    )
    if not settings.admins:
        log.warning("LABELBOT_ADMINS is empty: nobody can add labels except through proposals")
    app = build_application(
        settings,
        settings.token.reveal(),
        base_url=settings.api_base_url,
        base_file_url=settings.api_file_url,
    )
    # run_polling stops on SIGINT/SIGTERM; post_shutdown applies pending votes and checkpoints.
    app.run_polling(allowed_updates=Update.ALL_TYPES, timeout=10)
    return 0
