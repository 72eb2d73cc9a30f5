"""PostgreSQL under the store, through asyncpg, speaking the part of aiosqlite the store uses.

The store's repositories (`bot.store`) are written once, in SQL both engines accept (`?`
placeholders, `ON CONFLICT` upserts). `PostgresConnection` gives them what an aiosqlite
connection gives:

- `execute(sql, args)`, awaitable or an async context, returning a cursor with `fetchone`,
  `fetchall`, async iteration, `lastrowid` and `rowcount`; `executemany`; `commit`; `rollback`.
- sqlite3's transactions: a data-changing statement opens a transaction if none is open, and
  it lasts until `commit` or `rollback`; reads outside one see committed data.
- One operation at a time on the connection, as aiosqlite's one thread does.

A server restart or a dropped connection is survived: the connection is re-opened and a
statement that lost nothing (a read, or the first statement of a transaction) runs again; one
that would lose an open transaction's work raises `DatabaseUnavailable` instead, and the next
operation starts afresh.

What differs is kept here: `$n` placeholders, `RETURNING id` for the row id of an insert, and
an advisory lock that makes journal ids commit in id order when several processes write
(`lock_journal`). The schema is `bot.store.schema`, brought about by Alembic (`bot.migrations`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import asyncpg

log = logging.getLogger(__name__)
T = TypeVar("T")


class DatabaseUnavailable(RuntimeError):
    """The connection to PostgreSQL was lost with work in flight, or cannot be re-opened."""


INTEGRITY_ERRORS: tuple[type[Exception], ...] = (asyncpg.IntegrityConstraintViolationError,)
DATABASE_ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError, OSError, DatabaseUnavailable)
CONNECTION_LOST = (  # the server went away (restart, network): reconnect
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    OSError,
)
RECONNECT_WAITS = (0.1, 0.3, 1.0, 2.0, 4.0)  # seconds between attempts to re-open
JOURNAL_LOCK = 0x6C61_6265_6C62  # pg_advisory_xact_lock key of the journal ("labelb")


_CHANGES_DATA = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
_INSERT_INTO = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)


def is_postgres_url(database: object) -> bool:
    """Whether `database` names a PostgreSQL server (else it is an SQLite file)."""
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


def to_dollar_placeholders(sql: str) -> str:
    """`?` -> `$1, $2, …` outside quoted strings and identifiers."""
    out, n, quote = [], 0, None
    for char in sql:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(char)
    return "".join(out)


class PostgresCursor:
    """The rows of one statement, fetched at once (the store's results are small)."""

    def __init__(self, rows: Sequence[Any], lastrowid: int | None, rowcount: int) -> None:
        self._rows = list(rows)
        self.lastrowid = lastrowid
        self.rowcount = rowcount

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    def __aiter__(self):
        return self._iterate()

    async def _iterate(self):
        while self._rows:
            yield self._rows.pop(0)


class _Pending:
    """`execute`'s result: awaitable, or usable as `async with … as cursor`, like aiosqlite's."""

    def __init__(self, run) -> None:
        self._run = run

    def __await__(self):
        return self._run().__await__()

    async def __aenter__(self) -> PostgresCursor:
        return await self._run()

    async def __aexit__(self, *exc) -> None:
        return None


class PostgresConnection:
    """One asyncpg connection behaving like the store's aiosqlite connection."""

    def __init__(
        self, connection: asyncpg.Connection, url: str, assigned_ids: frozenset[str]
    ) -> None:
        self._connection = connection
        self._url = url
        self._assigned_ids = assigned_ids  # tables whose inserts report the id they wrote
        self._busy = asyncio.Lock()
        self._transaction: asyncpg.transaction.Transaction | None = None

    @classmethod
    async def connect(cls, url: str, assigned_ids: frozenset[str]) -> PostgresConnection:
        return cls(await asyncpg.connect(url, timeout=10), url, assigned_ids)

    async def _call(self, work: Callable[[], Awaitable[T]], *, opens: bool = False) -> T:
        """Runs `work` (under `_busy`); after a lost connection, re-opens it and runs `work`
        again unless that would drop an open transaction's earlier statements. `opens`: this
        statement is the first of its transaction."""
        try:
            return await work()
        except CONNECTION_LOST as error:
            if not self._connection.is_closed() and not isinstance(error, OSError):
                raise  # e.g. a misuse of the driver, not a lost connection
            lost_work = self._transaction is not None and not opens
            self._transaction = None
            await self._reconnect()
            if lost_work:
                raise DatabaseUnavailable(
                    "the connection to the database was lost during a change; please try again"
                ) from error
            return await work()

    async def _reconnect(self) -> None:
        log.warning("the connection to PostgreSQL was lost; reconnecting")
        for wait in RECONNECT_WAITS:
            await asyncio.sleep(wait)
            try:
                self._connection = await asyncpg.connect(self._url, timeout=10)
                return
            except (*CONNECTION_LOST, asyncpg.PostgresError) as error:
                last = error
        raise DatabaseUnavailable(f"cannot reach the database again: {last}")

    def execute(self, sql: str, args: Sequence[Any] = ()) -> _Pending:
        return _Pending(lambda: self._execute(sql, tuple(args)))

    async def _execute(self, sql: str, args: tuple) -> PostgresCursor:
        query = to_dollar_placeholders(sql)
        table = _INSERT_INTO.match(sql)
        returns_id = table is not None and table.group(1).lower() in self._assigned_ids
        if returns_id and "RETURNING" not in sql.upper():
            query += " RETURNING id"

        async def run() -> PostgresCursor:
            await self._begin_if_changing(sql)
            if _CHANGES_DATA.match(sql) and not returns_id:
                status = await self._connection.execute(query, *args)
                return PostgresCursor([], None, _affected(status))
            rows = await self._connection.fetch(query, *args)
            lastrowid = rows[-1]["id"] if returns_id and rows else None
            return PostgresCursor(rows, lastrowid, len(rows))

        async with self._busy:
            return await self._call(run, opens=self._opens(sql))

    def _opens(self, sql: str) -> bool:
        return self._transaction is None and bool(_CHANGES_DATA.match(sql))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(row) for row in rows]
        if not rows:
            return

        async def run() -> None:
            await self._begin_if_changing(sql)
            await self._connection.executemany(to_dollar_placeholders(sql), rows)

        async with self._busy:
            await self._call(run, opens=self._opens(sql))

    async def _begin_if_changing(self, sql: str) -> None:
        if self._transaction is None and _CHANGES_DATA.match(sql):
            self._transaction = self._connection.transaction()
            await self._transaction.start()

    async def commit(self) -> None:
        async with self._busy:
            if self._transaction is not None:
                await self._call(self._end_transaction)

    async def _end_transaction(self, commit: bool = True) -> None:
        transaction = self._transaction
        await (transaction.commit() if commit else transaction.rollback())
        self._transaction = None

    async def rollback(self) -> None:
        async with self._busy:
            if self._transaction is not None:
                try:
                    await self._end_transaction(commit=False)
                except CONNECTION_LOST:  # the server rolled it back with the connection
                    self._transaction = None

    async def lock_journal(self) -> None:
        """Holds, until this transaction ends, the lock every journal writer takes before it
        inserts an event: ids are drawn and committed in the same order, so a reader applying
        `id > last` never skips an id that commits later."""

        async def run() -> None:
            await self._begin_if_changing("INSERT")
            await self._connection.execute("SELECT pg_advisory_xact_lock($1)", JOURNAL_LOCK)

        async with self._busy:
            await self._call(run, opens=self._transaction is None)

    async def notify(self, channel: str, payload: str) -> None:
        async with self._busy:
            await self._call(
                lambda: self._connection.execute("SELECT pg_notify($1, $2)", channel, payload)
            )

    async def schema_version(self) -> int:
        """The Alembic revision the database is at (revision N is SQLite's user_version N)."""
        async with self._busy:
            exists = await self._connection.fetchval("SELECT to_regclass('alembic_version')")
            if exists is None:
                return 0
            version = await self._connection.fetchval(
                "SELECT max(version_num) FROM alembic_version"
            )
            return int(version or 0)

    async def migrate(self) -> None:
        """Brings the schema up to date with Alembic (`bot.migrations`), which serialises two
        processes starting at once."""
        from bot.migrations import MigrationError, upgrade

        before = await self.schema_version()
        try:
            await upgrade(self._url)
        except MigrationError as error:
            raise DatabaseUnavailable(str(error)) from None
        after = await self.schema_version()
        if after != before:
            log.info("PostgreSQL schema upgraded from revision %d to %d", before, after)

    async def close(self) -> None:
        await self._connection.close()


def _affected(status: str) -> int:
    """asyncpg's command tag ("UPDATE 1", "INSERT 0 1") -> the number of rows it touched."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
