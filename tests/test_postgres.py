"""PostgreSQL as the store: the journal's order across writers, and `labelbot migrate-db`.

The desk and store tests (test_desk.py) run against both SQLite and this real server."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys

import asyncpg
import pytest
from desk_helpers import ADMIN, ALICE, BOB, accept, open_desk, photo
from helpers import labelbot

from bot.migrations import HEAD
from bot.store import EventKind, Store
from labelbot.house import House
from labelbot.settings import Secret, Settings

pytestmark = pytest.mark.slow  # every test here starts `labelbot` or PostgreSQL as a process


async def test_journal_ids_commit_in_id_order_across_writers(postgres):
    """A second writer's event waits for the first writer's transaction, so a reader that
    applies events above the last id it saw can never skip one that commits later."""
    url = postgres.new_database()
    first, second = await Store.connect(url), await Store.connect(url)
    try:
        async with first.database.transaction():  # a vote's transaction, not yet committed
            held = await first.database.insert_event(EventKind.ADD_LABEL, ADMIN, name="cat")
            later = asyncio.create_task(second.events.add(EventKind.ADD_LABEL, ADMIN, name="dog"))
            await asyncio.sleep(0.5)
            assert not later.done()  # waits for the journal lock, with no id drawn yet
        assert await later == held + 1
        assert [e.id for e in await second.events.after(0)] == [held, held + 1]
    finally:
        await first.close()
        await second.close()


async def build_sqlite_bot(data) -> dict[str, list[tuple]]:
    """A bot with labels, photos, votes, an undo, a ban and a review: every table has rows."""
    house = House(Settings(admins=frozenset({ADMIN}), data_dir=data), command="labelbot run")
    desk = await open_desk(house)
    try:
        for name in ("cat", "dog", "bird"):
            await desk.labels.add(ADMIN, name)
        for n in range(1, 6):
            tap, sample_id = await photo(desk, n)
            await desk.votes.vote(tap, sample_id, n % 3, accept)
        await desk.store.people.touch(ALICE, "Alice")
        await desk.people.ban(ADMIN, str(BOB))
    finally:
        await house.close()
    return dump_sqlite(data / "labelbot.sqlite3")


def dump_sqlite(path) -> dict[str, list[tuple]]:
    from bot.store_copy import TABLES

    with sqlite3.connect(path) as db:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}


async def dump_postgres(url) -> dict[str, list[tuple]]:
    from bot.store_copy import TABLES

    connection = await asyncpg.connect(url)
    try:
        return {
            t: [tuple(r) for r in await connection.fetch(f"SELECT * FROM {t} ORDER BY 1, 2")]
            for t in TABLES
        }
    finally:
        await connection.close()


async def test_migrate_db_moves_every_row_and_the_bot_carries_on(postgres, tmp_path):
    data = tmp_path / "data"
    before = await build_sqlite_bot(data)
    assert all(before[t] for t in ("users", "samples", "votes", "events", "verdicts", "bans"))
    url = postgres.new_database()
    done = labelbot("migrate-db", "--to", url, cwd=tmp_path, LABELBOT_DATA_DIR=str(data))
    assert done.returncode == 0, done.stderr
    assert "moved" in done.stdout and "5 samples" in done.stdout
    assert await dump_postgres(url) == before

    # The bot now runs on PostgreSQL: same labels and model, new ids after the copied ones.
    settings = Settings(admins=frozenset({ADMIN}), data_dir=data, database_url=Secret(url))
    house = House(settings, command="labelbot run")
    desk = await open_desk(house)
    try:
        assert [label.name for label in desk.snapshot.labels] == ["cat", "dog", "bird"]
        tap, sample_id = await photo(desk, 9)
        assert sample_id == max(row[0] for row in before["samples"]) + 1
        await desk.votes.vote(tap, sample_id, 1, accept)
        events = await desk.store.events.after(0)
        assert events[-1].id == max(row[0] for row in before["events"]) + 1
    finally:
        await house.close()

    again = labelbot("migrate-db", "--to", url, cwd=tmp_path, LABELBOT_DATA_DIR=str(data))
    assert again.returncode == 2 and "already holds a store" in again.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--to", "mysql://x"], "--to must be a PostgreSQL URL"),
        (["--from", "/tmp/x.sqlite3", "--to", "postgresql://a@b/c"], "--from must look like"),
        (["--from", "sqlite:///nowhere.sqlite3", "--to", "postgresql://a@b/c"], "no SQLite store"),
    ],
)
def test_migrate_db_refuses_bad_arguments_in_one_line(tmp_path, arguments, message):
    done = labelbot("migrate-db", *arguments, cwd=tmp_path, LABELBOT_DATA_DIR=str(tmp_path))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_the_database_password_never_reaches_the_output(tmp_path):
    url = "postgresql://labelbot:hunter2secret@127.0.0.1:1/nothing"
    environment = {"LABELBOT_DATABASE_URL": url, "LABELBOT_DATA_DIR": str(tmp_path)}
    done = labelbot("export", "data", "--out", "out", cwd=tmp_path, **environment)
    assert done.returncode == 2, done.stderr
    assert "cannot use the database postgresql://labelbot:***@127.0.0.1:1/nothing" in done.stderr
    assert "hunter2secret" not in done.stdout + done.stderr


async def test_the_store_survives_a_server_restart(tmp_path):
    """Reads and new changes go on after the connection drops; a change whose transaction was
    open when it dropped is refused in one clear error, and nothing half-done remains."""
    from bot.postgres import DatabaseUnavailable
    from labelbot_testkit.pg_server import PostgresServer

    server = PostgresServer().start()  # its own server: the restart must not hit other tests
    url = Secret(server.new_database())
    house = House(Settings(admins=frozenset({ADMIN}), data_dir=tmp_path, database_url=url))
    desk = await open_desk(house)
    try:
        await desk.labels.add(ADMIN, "cat")
        tap, sample_id = await photo(desk, 1)
        server.restart()
        assert [label.name for label in await desk.store.labels.all()] == ["cat"]  # a read
        await desk.votes.vote(tap, sample_id, 0, accept)  # a change, in a new transaction
        assert await desk.store.votes.tally(sample_id) == {0: 1}

        database = desk.store.database
        async with database.lock:  # a transaction open when the server goes away
            await database.insert_event(EventKind.ADD_LABEL, ADMIN, name="ghost")
            server.restart()
            with pytest.raises(DatabaseUnavailable, match="try again"):
                await database.connection.commit()
        assert "ghost" not in [e.name for e in await desk.store.events.after(0)]
        tap, second = await photo(desk, 2)  # and the next change works
        await desk.votes.vote(tap, second, 0, accept)
    finally:
        await house.close()
        server.stop()


async def test_alembic_brings_the_schema_to_the_newest_revision_once_across_processes(postgres):
    from bot.migrations import HEAD

    url = postgres.new_database()
    migrate = f"import asyncio; from bot.migrations import upgrade; asyncio.run(upgrade({url!r}))"
    processes = [subprocess.Popen([sys.executable, "-c", migrate]) for _ in range(3)]  # at once
    assert [p.wait(timeout=120) for p in processes] == [0, 0, 0]
    stores = await asyncio.gather(*(Store.connect(url) for _ in range(3)))
    try:
        assert [await s.schema_version() for s in stores] == [HEAD] * 3
        connection = await asyncpg.connect(url)
        assert await connection.fetchval("SELECT COUNT(*) FROM alembic_version") == 1
        await connection.close()
    finally:
        for store in stores:
            await store.close()


async def test_a_database_migrated_before_alembic_is_stamped_and_upgraded(postgres):
    """A database from before Alembic (its own `labelbot_schema` table at version 5) keeps
    its rows and gets the revisions after 5."""
    from alembic import command

    from bot.migrations import config

    url = postgres.new_database()
    await asyncio.to_thread(command.upgrade, config(url), "0005")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "DROP TABLE alembic_version; CREATE TABLE labelbot_schema (version BIGINT NOT NULL);"
            "INSERT INTO labelbot_schema VALUES (1), (2), (3), (4), (5);"
            "INSERT INTO labels VALUES (0, 'cat', 0, 0)"
        )
        store = await Store.connect(url)
        assert await store.schema_version() == HEAD and await store.labels.all()
        await store.close()
        assert await connection.fetchval("SELECT to_regclass('labelbot_schema')") is None
        assert await connection.fetchval("SELECT to_regclass('inbox')") == "inbox"
    finally:
        await connection.close()


async def test_every_revision_can_be_undone_and_redone(postgres):
    from alembic import command

    from bot.migrations import config

    url = postgres.new_database()
    await (await Store.connect(url)).close()
    await asyncio.to_thread(command.downgrade, config(url), "base")
    connection = await asyncpg.connect(url)
    tables = "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'"
    try:
        assert await connection.fetchval(tables) == 1  # alembic_version alone
        store = await Store.connect(url)
        assert await store.schema_version() == HEAD
        await store.close()
        assert await connection.fetchval(tables) > 10
    finally:
        await connection.close()


async def test_a_schema_from_a_newer_labelbot_is_refused_in_one_line(postgres):
    from bot.store import StoreError

    url = postgres.new_database()
    await (await Store.connect(url)).close()
    connection = await asyncpg.connect(url)
    await connection.execute("UPDATE alembic_version SET version_num = '0099'")
    await connection.close()
    with pytest.raises(StoreError, match=r"not one this labelbot knows.*0099"):
        await Store.connect(url)


async def test_a_migrated_postgresql_database_is_exactly_the_declared_schema(postgres):
    """The revisions and `bot.store.schema` cannot drift (SQLite: tests/test_schema.py)."""
    from helpers import schema_drift as drift

    url = postgres.new_database()
    await (await Store.connect(url)).close()
    assert await drift(url) == []
