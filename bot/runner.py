"""Starting the bot. The Telegram bot itself arrives with the bot issue; until then this says so."""

from __future__ import annotations

import sys

from bot.settings import Settings

TOKEN_HELP = """\
No TELEGRAM_BOT_TOKEN is set.

To run labelbot on Telegram:
  1. Open Telegram, talk to @BotFather, send /newbot and follow the questions.
  2. Copy the token it gives you (it looks like 123456789:AA...).
  3. Put it in a file named .env next to README.md:
       TELEGRAM_BOT_TOKEN=123456789:AA...
       LABELBOT_ADMINS=<your numeric Telegram user id>
  4. Run the same command again.
"""


def run(settings: Settings) -> int:
    """Runs the bot, or explains how to get a token when there is none."""
    if settings.token is None:
        print(TOKEN_HELP, file=sys.stderr)
    print(
        "The Telegram bot and its offline demo are not built yet (see the open bot issue); "
        "`labelbot embed` works today.",
        file=sys.stderr,
    )
    return 0 if settings.token is None else 1
