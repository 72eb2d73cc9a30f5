"""Alembic's entry point: runs the revisions over asyncpg, in one transaction, under a lock.

Two processes starting at once (replicas, the trainer) must not both migrate: the first takes
a transaction-level advisory lock and the second, once it gets it, finds the schema current.
A database migrated before Alembic came (its `labelbot_schema` table) is stamped with the
revision of the same number first.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATION_LOCK = 0x6C61_6265_6C63  # pg_advisory_xact_lock key of schema changes
LEGACY_STAMP = """
CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))
"""


def _stamp_legacy_schema(connection: sa.Connection) -> None:
    tables = set(sa.inspect(connection).get_table_names())
    if "labelbot_schema" in tables and "alembic_version" not in tables:
        version = connection.execute(sa.text("SELECT max(version) FROM labelbot_schema")).scalar()
        connection.execute(sa.text(LEGACY_STAMP))
        connection.execute(
            sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": f"{version:04d}"}
        )
        connection.execute(sa.text("DROP TABLE labelbot_schema"))


def _migrate(connection: sa.Connection) -> None:
    context.configure(connection=connection, transaction_per_migration=False)
    with context.begin_transaction():
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        _stamp_legacy_schema(connection)
        context.run_migrations()


async def _run() -> None:
    url = sa.make_url(context.config.attributes["url"]).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(url, poolclass=sa.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


asyncio.run(_run())
