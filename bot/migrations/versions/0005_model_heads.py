"""The model's read-out per version, published by the trainer for replicas (bot.heads)."""

from __future__ import annotations

from alembic import op

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


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for statement in UNDO:
        op.execute(statement)
