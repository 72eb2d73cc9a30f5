"""The review queue, and display names hidden from the leaderboard on request."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import ID, INT, REAL

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", ID, sa.Identity(always=False), primary_key=True),
        sa.Column("sample_id", INT, sa.ForeignKey("samples.id"), nullable=False),
        sa.Column("user_id", INT, nullable=False),
        sa.Column("chat_id", INT, nullable=False),
        sa.Column("photo_message_id", INT, nullable=False),
        sa.Column("message_id", INT),
        sa.Column("created_at", REAL, nullable=False),
    )
    op.create_index("reviews_by_message", "reviews", ["chat_id", "message_id"])
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("hidden", INT, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.drop_column("hidden")
    op.drop_table("reviews")
