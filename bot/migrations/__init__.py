"""The store's schema migrations, for SQLite and PostgreSQL alike, run by Alembic.

Revisions are written with Alembic's operations in SQLAlchemy's types (`bot.store.schema`'s
`ID`, `INT`, `REAL`, `TEXT`, `BYTES`), so one revision serves both engines; SQLite's ALTERs
run in Alembic's batch mode. A test migrates a fresh database of each engine and checks that
the result is exactly `bot.store.schema`. To change the schema: edit `bot/store/schema.py`,
then `python -m bot.migrations revision "what changed"` writes the revision (see the docs'
Development page).

Stores written before Alembic ran SQLite's migrations are stamped first: SQLite's
`PRAGMA user_version` N is revision N (and after each upgrade `user_version` is set to the
revision, so that opening a current store needs no Alembic); a PostgreSQL database's
`labelbot_schema` table likewise.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

HERE = Path(__file__).parent
HEAD = max(int(p.name[:4]) for p in (HERE / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
_ONE_AT_A_TIME = threading.Lock()  # Alembic's `context` and `op` are module-wide proxies


class MigrationError(Exception):
    """The schema cannot be brought to this labelbot's revision; the message says why."""


def newer_schema(version: int) -> str:
    return (
        f"its schema is revision {version}, newer than this labelbot's {HEAD}; "
        "is it a newer labelbot's?"
    )


def revision_name(number: int) -> str:
    return f"{number:04d}"


def config(url: str):
    """Alembic's configuration, from code: no alembic.ini to ship or to get out of step."""
    from alembic.config import Config

    alembic = Config()
    alembic.set_main_option("script_location", str(HERE))
    alembic.attributes["url"] = url
    return alembic


def _upgrade(url: str) -> None:
    import alembic.util
    import sqlalchemy.exc
    from alembic import command

    with _ONE_AT_A_TIME:
        try:
            command.upgrade(config(url), "head")
        except alembic.util.CommandError as error:  # e.g. a newer labelbot's revision
            raise MigrationError(
                f"its schema is not one this labelbot knows ({error}); is it a newer version's?"
            ) from None
        except sqlalchemy.exc.SQLAlchemyError as error:
            cause = getattr(error, "orig", None) or error
            raise MigrationError(f"the schema cannot be brought up to date: {cause}") from None


async def upgrade(url: str) -> None:
    """Brings the database at `url` to the newest schema. Alembic runs in a worker thread
    (for PostgreSQL, with an event loop of its own: env.py), so the caller's loop is not
    blocked. Alembic and SQLAlchemy load here, only when a database is behind."""
    await asyncio.to_thread(_upgrade, url)
