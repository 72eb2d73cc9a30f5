"""One schema: `bot.store.schema` declares it, Alembic's revisions bring SQLite and PostgreSQL
stores to it (PostgreSQL: test_postgres.py), and stores written before Alembic are stamped and
carried on. Real SQLite files, some written by earlier labelbots (tests/data)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers import schema_drift

from bot.migrations import HEAD
from bot.store import Store, StoreError
from bot.store.schema import ASSIGNED_IDS, COPIED, PERSON, PHOTO, metadata

DATA = Path(__file__).parent / "data"


async def test_a_new_sqlite_store_is_exactly_the_declared_schema(tmp_path):
    path = tmp_path / "labelbot.sqlite3"
    await (await Store.open(path)).close()
    assert await schema_drift(f"sqlite:///{path}") == []
    with sqlite3.connect(path) as db:  # mirrored, so that a current store opens without Alembic
        assert db.execute("PRAGMA user_version").fetchone()[0] == HEAD


@pytest.mark.parametrize("version", [1, 6])
async def test_a_store_written_before_alembic_keeps_its_rows_and_comes_up_to_date(
    tmp_path, version
):
    """Schema 1 is stamped as revision 1 and upgraded by Alembic; schema 6 is the newest
    revision already, and opens as it is (it is stamped when a later revision comes)."""
    path = tmp_path / "labelbot.sqlite3"
    shutil.copy(DATA / f"pre-alembic-v{version}.sqlite3", path)
    store = await Store.open(path)
    try:
        assert await store.schema_version() == HEAD
        assert [label.name for label in await store.labels.all()] == ["cat", "dog"]
        assert await store.votes.count() == 1 and await store.consensus.contributions()
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        stamped = db.execute("SELECT name FROM sqlite_master WHERE name = 'alembic_version'")
        assert (stamped.fetchone() is not None) == (version < HEAD)


async def test_a_store_from_a_newer_labelbot_is_refused_in_one_line(tmp_path):
    path = tmp_path / "labelbot.sqlite3"
    await (await Store.open(path)).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match=r"revision 99, newer than this labelbot's"):
        await Store.open(path)


def test_every_column_naming_a_person_or_a_photo_says_what_forgetting_does():
    """A new column naming a person must be marked, or /forgetme would leave it behind."""
    person_like = {
        (table.name, column.name)
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name in ("user_id", "decided_by", "banned_by")
        or (table.name, column.name) == ("users", "id")
    }
    assert {(table, column) for table, column, _ in PERSON} == person_like
    photo_like = {
        (table.name, "sample_id") for table in metadata.sorted_tables if "sample_id" in table.c
    }
    assert {(table, column) for table, column, _ in PHOTO} == photo_like


def test_the_lists_of_tables_come_from_the_schema():
    assert {"samples", "votes", "events", "proposals", "reviews"} == ASSIGNED_IDS
    assert "model_heads" not in COPIED and len(COPIED) == len(metadata.tables) - 1
    assert COPIED.index("samples") < min(COPIED.index(t) for t in ("votes", "reviews"))
