"""${message}"""

from __future__ import annotations

from bot.migrations import by_statements

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}

STATEMENTS = ()  # bot.store.MIGRATIONS' newest entry, in PostgreSQL's types
UNDO = ()  # what takes it back, in reverse order

upgrade, downgrade = by_statements(STATEMENTS, UNDO)
