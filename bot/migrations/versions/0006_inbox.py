"""Updates kept from arrival until handled (bot.inbox), and samples found by their message."""

from __future__ import annotations

from bot.migrations import by_statements

revision = "0006"
down_revision = "0005"

STATEMENTS = (
    """
        CREATE TABLE inbox (
            bot_id BIGINT NOT NULL, update_id BIGINT NOT NULL, user_id BIGINT,
            payload TEXT NOT NULL, owner TEXT NOT NULL, claimed_at DOUBLE PRECISION NOT NULL,
            attempts BIGINT NOT NULL, received_at DOUBLE PRECISION NOT NULL,
            done_at DOUBLE PRECISION, PRIMARY KEY (bot_id, update_id))
    """,
    "CREATE INDEX inbox_open ON inbox(done_at, claimed_at)",
    "CREATE INDEX inbox_by_user ON inbox(user_id)",
    "CREATE INDEX samples_by_message ON samples(chat_id, photo_message_id)",
)
UNDO = (
    "DROP INDEX samples_by_message",
    "DROP TABLE inbox",
)


upgrade, downgrade = by_statements(STATEMENTS, UNDO)
