"""The first schema: users, labels, samples, votes, the journal, proposals, model versions."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import BYTES, ID, INT, REAL, TEXT

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", INT, primary_key=True, autoincrement=False),
        sa.Column("name", TEXT, nullable=False),
        sa.Column("first_seen", REAL, nullable=False),
        sa.Column("last_seen", REAL, nullable=False),
    )
    op.create_table(
        "labels",
        sa.Column("id", INT, primary_key=True, autoincrement=False),
        sa.Column("name", TEXT, nullable=False),
        sa.Column("retired", INT, nullable=False, server_default="0"),
        sa.Column("updated_at", REAL, nullable=False),
    )
    op.create_table(
        "samples",
        sa.Column("id", ID, sa.Identity(always=False), primary_key=True),
        sa.Column("chat_id", INT, nullable=False),
        sa.Column("photo_message_id", INT, nullable=False),
        sa.Column("reply_message_id", INT),
        sa.Column("user_id", INT, nullable=False),
        sa.Column("file_id", TEXT, nullable=False),
        sa.Column("file_unique_id", TEXT, nullable=False),
        sa.Column("embedding", BYTES, nullable=False),
        sa.Column("prediction", TEXT, nullable=False),
        sa.Column("model_version", INT, nullable=False),
        sa.Column("created_at", REAL, nullable=False),
    )
    op.create_index("samples_by_file", "samples", ["file_unique_id"])
    op.create_table(
        "votes",
        sa.Column("id", ID, sa.Identity(always=False), primary_key=True),
        sa.Column("sample_id", INT, sa.ForeignKey("samples.id"), nullable=False),
        sa.Column("user_id", INT, nullable=False),
        sa.Column("label_id", INT),
        sa.Column("first_guess_right", INT),
        sa.Column("created_at", REAL, nullable=False),
        sa.Column("undone_at", REAL),
    )
    live = sa.text("undone_at IS NULL")
    op.create_index("one_vote_per_person", "votes", ["sample_id", "user_id"], unique=True,
                    sqlite_where=live, postgresql_where=live)  # fmt: skip
    op.create_table(
        "events",
        sa.Column("id", ID, sa.Identity(always=False), primary_key=True),
        sa.Column("kind", TEXT, nullable=False),
        sa.Column("user_id", INT),
        sa.Column("sample_id", INT),
        sa.Column("vote_id", INT),
        sa.Column("label_id", INT),
        sa.Column("name", TEXT),
        sa.Column("version", INT),
        sa.Column("created_at", REAL, nullable=False),
        sa.Column("result", TEXT),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "proposals",
        sa.Column("id", ID, sa.Identity(always=False), primary_key=True),
        sa.Column("sample_id", INT, nullable=False),
        sa.Column("user_id", INT, nullable=False),
        sa.Column("chat_id", INT, nullable=False),
        sa.Column("prompt_message_id", INT),
        sa.Column("name", TEXT),
        sa.Column("status", TEXT, nullable=False),
        sa.Column("decided_by", INT),
        sa.Column("created_at", REAL, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("version", INT, primary_key=True, autoincrement=False),
        sa.Column("event_id", INT),
        sa.Column("created_at", REAL, nullable=False),
    )


def downgrade() -> None:
    for table in ("model_versions", "proposals", "events", "votes", "samples", "labels", "users"):
        op.drop_table(table)
