"""A photo Telegram no longer sends leaves the review queue."""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"

STATEMENTS = ("ALTER TABLE samples ADD COLUMN unavailable_since DOUBLE PRECISION",)
UNDO = ("ALTER TABLE samples DROP COLUMN unavailable_since",)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for statement in UNDO:
        op.execute(statement)
