"""Crowd consensus: what each photo teaches (contributions), verdicts, reliabilities, bans. A
photo voted on before this revision teaches one example per live vote until its next vote."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import INT, REAL

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("events") as events:
        events.add_column(sa.Column("weight", REAL))
    op.create_table(
        "contributions",
        sa.Column("sample_id", INT, sa.ForeignKey("samples.id"), primary_key=True),
        sa.Column("label_id", INT, primary_key=True, autoincrement=False),
        sa.Column("weight", REAL, nullable=False),
    )
    op.execute(
        "INSERT INTO contributions SELECT sample_id, label_id, COUNT(*) FROM votes "
        "WHERE undone_at IS NULL AND label_id IS NOT NULL GROUP BY sample_id, label_id"
    )
    op.create_table(
        "verdicts",
        sa.Column("sample_id", INT, sa.ForeignKey("samples.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("label_id", INT, nullable=False),
        sa.Column("confidence", REAL, nullable=False),
        sa.Column("settled", INT, nullable=False),
        sa.Column("decided_at", REAL, nullable=False),
    )  # fmt: skip
    op.create_table(
        "reliability",
        sa.Column("user_id", INT, primary_key=True, autoincrement=False),
        sa.Column("reliability", REAL, nullable=False),
        sa.Column("updated_at", REAL, nullable=False),
    )
    op.create_table(
        "bans",
        sa.Column("user_id", INT, primary_key=True, autoincrement=False),
        sa.Column("banned_by", INT),
        sa.Column("created_at", REAL, nullable=False),
    )
    op.create_index("votes_by_user", "votes", ["user_id"])


def downgrade() -> None:
    op.drop_index("votes_by_user", "votes")
    for table in ("bans", "reliability", "verdicts", "contributions"):
        op.drop_table(table)
    with op.batch_alter_table("events") as events:
        events.drop_column("weight")
