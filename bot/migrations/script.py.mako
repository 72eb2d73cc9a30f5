"""${message}"""

from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}

STATEMENTS = ()  # the same change as bot.store.MIGRATIONS[${up_revision} - 1], in PostgreSQL's types


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError
