"""Alembic's entry point: runs the revisions in one transaction, for SQLite or PostgreSQL.

PostgreSQL: over asyncpg, under a transaction-level advisory lock, so that of two processes
starting at once (replicas, the trainer) the second finds the schema current. SQLite: over the
standard library's driver with its own transaction handling off, so that the revisions' DDL is
inside the transaction too (a crash mid-migration leaves the file as it was); ALTERs in batch
mode. Stores migrated before Alembic are stamped with the revision of the same number first
(`bot.migrations`).
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from bot.migrations import revision_name
from bot.store.schema import metadata

MIGRATION_LOCK = 0x6C61_6265_6C63  # pg_advisory_xact_lock key of schema changes
STAMP = """
CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))
"""


def _legacy_version(connection: sa.Connection, tables: set[str]) -> int:
    """The schema version a store migrated before Alembic holds (0: none)."""
    if connection.dialect.name == "sqlite":
        return connection.exec_driver_sql("PRAGMA user_version").scalar() or 0
    if "labelbot_schema" in tables:
        version = connection.exec_driver_sql("SELECT max(version) FROM labelbot_schema").scalar()
        connection.exec_driver_sql("DROP TABLE labelbot_schema")
        return version or 0
    return 0


def _stamp_legacy_schema(connection: sa.Connection) -> None:
    tables = set(sa.inspect(connection).get_table_names())
    if "alembic_version" in tables:
        return
    version = _legacy_version(connection, tables)
    if version:
        connection.exec_driver_sql(STAMP)
        connection.execute(
            sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": revision_name(version)}
        )


def _migrate(connection: sa.Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=sqlite,
        transactional_ddl=True, transaction_per_migration=False,
    )  # fmt: skip
    with context.begin_transaction():
        if not sqlite:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        _stamp_legacy_schema(connection)
        context.run_migrations()
        if sqlite:  # mirrors the revision, so that a current store opens without Alembic
            head = int(context.get_context().get_current_revision() or 0)
            connection.exec_driver_sql(f"PRAGMA user_version = {head}")


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args={"isolation_level": None})

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


async def _run_postgres(url: sa.URL) -> None:
    engine = create_async_engine(url.set(drivername="postgresql+asyncpg"), poolclass=sa.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


def _run() -> None:
    url = sa.make_url(context.config.attributes["url"])
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
        try:
            with engine.connect() as connection:
                _migrate(connection)
        finally:
            engine.dispose()
    else:
        asyncio.run(_run_postgres(url))


_run()
