"""`labelbot migrate-db`: a bot's store moves from its SQLite file into PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.postgres import is_postgres_url
from bot.store_copy import copy_store
from labelbot.cli.errors import CommandError
from labelbot.cli.progress import bar
from labelbot.house import House
from labelbot.settings import Settings

SQLITE_PREFIX = "sqlite:///"


def migrate_db(settings: Settings, source: str | None, target: str | None) -> int:
    """Copies every row; the bot is then started with LABELBOT_DATABASE_URL set to `target`.
    Takes the data dir's writer lock, so the bot must be stopped first."""
    path = _sqlite_path(source) if source else House(settings).data.database
    url = target or (settings.database_url.reveal() if settings.database_url else None)
    if not is_postgres_url(url):
        raise CommandError(
            "--to must be a PostgreSQL URL such as postgresql://labelbot@localhost/labelbot "
            "(or set LABELBOT_DATABASE_URL)"
        )
    house = House(settings, command="labelbot migrate-db")
    house.claim()  # no bot may write the SQLite file while it is copied
    try:
        counts = asyncio.run(copy_store(path, url, bar))
    finally:
        house.release()
    rows = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
    print(f"moved {sum(counts.values())} rows ({rows or 'an empty store'}) from {path}")
    print("start the bot with LABELBOT_DATABASE_URL set to the new database")
    return 0


def _sqlite_path(source: str) -> Path:
    if not source.startswith(SQLITE_PREFIX):
        raise CommandError(
            f"--from must look like sqlite:///path/to/labelbot.sqlite3; got {source!r}"
        )
    return Path(source[len(SQLITE_PREFIX) :])
