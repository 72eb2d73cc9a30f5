"""A photo Telegram no longer sends leaves the review queue."""

from __future__ import annotations

from bot.migrations import by_statements

revision = "0004"
down_revision = "0003"

STATEMENTS = ("ALTER TABLE samples ADD COLUMN unavailable_since DOUBLE PRECISION",)
UNDO = ("ALTER TABLE samples DROP COLUMN unavailable_since",)


upgrade, downgrade = by_statements(STATEMENTS, UNDO)
