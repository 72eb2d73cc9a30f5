"""The model's read-out per version, published by the trainer for replicas (bot.heads)."""

from __future__ import annotations

from bot.migrations import by_statements

revision = "0005"
down_revision = "0004"

STATEMENTS = (
    """
        CREATE TABLE model_heads (
            version BIGINT PRIMARY KEY, last_event_id BIGINT NOT NULL, meta TEXT NOT NULL,
            arrays BYTEA NOT NULL, created_at DOUBLE PRECISION NOT NULL)
    """,
)
UNDO = ("DROP TABLE model_heads",)


upgrade, downgrade = by_statements(STATEMENTS, UNDO)
