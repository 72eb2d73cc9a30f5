"""The model's read-out per version, published by the trainer for replicas (bot.heads)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import BYTES, INT, REAL, TEXT

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "model_heads",
        sa.Column("version", INT, primary_key=True, autoincrement=False),
        sa.Column("last_event_id", INT, nullable=False),
        sa.Column("meta", TEXT, nullable=False),
        sa.Column("arrays", BYTES, nullable=False),
        sa.Column("created_at", REAL, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_heads")
