"""Crowd consensus: what each photo teaches (contributions), verdicts, reliabilities, bans."""

from __future__ import annotations

from bot.migrations import by_statements

revision = "0002"
down_revision = "0001"

STATEMENTS = (
    "ALTER TABLE events ADD COLUMN weight DOUBLE PRECISION",
    """
        CREATE TABLE contributions (
            sample_id BIGINT NOT NULL REFERENCES samples(id), label_id BIGINT NOT NULL,
            weight DOUBLE PRECISION NOT NULL, PRIMARY KEY (sample_id, label_id))
    """,
    """
        CREATE TABLE verdicts (
            sample_id BIGINT PRIMARY KEY REFERENCES samples(id), label_id BIGINT NOT NULL,
            confidence DOUBLE PRECISION NOT NULL, settled BIGINT NOT NULL,
            decided_at DOUBLE PRECISION NOT NULL)
    """,
    """
        CREATE TABLE reliability (
            user_id BIGINT PRIMARY KEY, reliability DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL)
    """,
    """
        CREATE TABLE bans (
            user_id BIGINT PRIMARY KEY, banned_by BIGINT, created_at DOUBLE PRECISION NOT NULL)
    """,
    "CREATE INDEX votes_by_user ON votes(user_id)",
)
UNDO = (
    "DROP INDEX votes_by_user",
    "DROP TABLE bans",
    "DROP TABLE reliability",
    "DROP TABLE verdicts",
    "DROP TABLE contributions",
    "ALTER TABLE events DROP COLUMN weight",
)


upgrade, downgrade = by_statements(STATEMENTS, UNDO)
