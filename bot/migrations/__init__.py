"""PostgreSQL's schema migrations, run by Alembic (`upgrade`); SQLite's are `bot.store.MIGRATIONS`.

Revision NNNN brings a database to the schema SQLite calls `user_version` NNNN, so the two
engines are always at the same numbered schema. To change the schema, append to
`bot.store.MIGRATIONS` and add `versions/NNNN_what.py` with the same change in PostgreSQL's
types and what undoes it (the newest revision's shape: `revision`, `down_revision`,
`STATEMENTS`, `UNDO`, then `by_statements`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from alembic import command, op
from alembic.config import Config
from alembic.script import ScriptDirectory

HERE = Path(__file__).parent
_ONE_AT_A_TIME = threading.Lock()  # Alembic's `context` and `op` are module-wide proxies


def by_statements(
    statements: Sequence[str], undo: Sequence[str]
) -> tuple[Callable[[], None], Callable[[], None]]:
    """A revision's `upgrade` and `downgrade`: its SQL statements run one by one (asyncpg
    prepares each statement, so a script of several cannot be one `op.execute`)."""

    def upgrade() -> None:
        for statement in statements:
            op.execute(statement)

    def downgrade() -> None:
        for statement in undo:
            op.execute(statement)

    return upgrade, downgrade


def config(url: str) -> Config:
    """Alembic's configuration, from code: no alembic.ini to ship or to get out of step."""
    alembic = Config()
    alembic.set_main_option("script_location", str(HERE))
    alembic.attributes["url"] = url
    return alembic


def head() -> int:
    """The newest revision's number."""
    return int(ScriptDirectory.from_config(config("")).get_current_head())


def _upgrade(url: str) -> None:
    with _ONE_AT_A_TIME:
        command.upgrade(config(url), "head")


async def upgrade(url: str) -> None:
    """Brings the database at `url` to the newest schema. Alembic drives SQLAlchemy's own
    event loop in a worker thread (env.py), so the caller's loop is not blocked."""
    await asyncio.to_thread(_upgrade, url)
