"""Moves a bot's store from its SQLite file to PostgreSQL (`labelbot migrate-db`).

Both ends are first brought to the newest schema by the store itself; every table is then
copied row for row with PostgreSQL's COPY, in one transaction (an interrupted move leaves the
target empty), and the id sequences continue after the highest copied id. The target must be
empty: a move never merges two bots.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from bot.store import Store, StoreError
from bot.store.schema import ASSIGNED_IDS
from bot.store.schema import COPIED as TABLES  # parents before the rows that reference them
from model_core.progress import Progress, ProgressFactory, no_progress

CHUNK = 2000  # rows read and copied at a time


async def copy_store(
    source: Path, url: str, progress: ProgressFactory = no_progress
) -> dict[str, int]:
    """Copies every row of the SQLite store at `source` into the empty PostgreSQL store at
    `url`; the number of rows per table."""
    if not Path(source).is_file():
        raise StoreError(f"no SQLite store at {source}")
    await (await Store.open(Path(source))).close()  # the newest schema on both ends
    await (await Store.connect(url)).close()
    reader = sqlite3.connect(Path(source))
    target = await asyncpg.connect(url)
    try:
        async with target.transaction():
            await _refuse_if_not_empty(target)
            total = sum(reader.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES)
            done = progress("copying rows", total)
            counts = {table: await _copy(reader, target, table, done) for table in TABLES}
            for table in sorted(ASSIGNED_IDS):
                await target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE(MAX(id), 0) + 1, false) FROM {table}"
                )
    finally:
        reader.close()
        await target.close()
    return counts


async def _refuse_if_not_empty(target: asyncpg.Connection) -> None:
    for table in TABLES:
        if await target.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            raise StoreError(
                f"the target database already holds a store (its {table} table has rows); "
                "migrate-db moves a bot into an empty database only"
            )


async def _copy(reader: sqlite3.Connection, target, table: str, progress: Progress) -> int:
    cursor = reader.execute(f"SELECT * FROM {table}")
    columns = [column[0] for column in cursor.description]
    copied = 0
    while rows := cursor.fetchmany(CHUNK):
        await target.copy_records_to_table(table, records=rows, columns=columns)
        copied += len(rows)
        progress(len(rows))
    return copied
