"""Updates kept from arrival until handled (bot.inbox), and samples found by their message."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import INT, REAL, TEXT

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("bot_id", INT, primary_key=True, autoincrement=False),
        sa.Column("update_id", INT, primary_key=True, autoincrement=False),
        sa.Column("user_id", INT),
        sa.Column("payload", TEXT, nullable=False),
        sa.Column("owner", TEXT, nullable=False),
        sa.Column("claimed_at", REAL, nullable=False),
        sa.Column("attempts", INT, nullable=False),
        sa.Column("received_at", REAL, nullable=False),
        sa.Column("done_at", REAL),
    )
    op.create_index("inbox_open", "inbox", ["done_at", "claimed_at"])
    op.create_index("inbox_by_user", "inbox", ["user_id"])
    op.create_index("samples_by_message", "samples", ["chat_id", "photo_message_id"])


def downgrade() -> None:
    op.drop_index("samples_by_message", "samples")
    op.drop_table("inbox")
