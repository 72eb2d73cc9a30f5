"""A photo Telegram no longer sends leaves the review queue."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import REAL

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("samples") as samples:
        samples.add_column(sa.Column("unavailable_since", REAL))


def downgrade() -> None:
    with op.batch_alter_table("samples") as samples:
        samples.drop_column("unavailable_since")
