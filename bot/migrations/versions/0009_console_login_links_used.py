"""The console's login links already used: each works once (bot.web.auth)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import REAL, TEXT

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "console_logins",
        sa.Column("nonce", TEXT, primary_key=True),
        sa.Column("expires_at", REAL, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("console_logins")
