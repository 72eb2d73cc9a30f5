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


@pytest.mark.slow
def test_adding_a_column_is_one_edit_and_one_generated_revision(tmp_path):
    """The development docs' recipe, on a copy of the code: edit the schema, generate the
    revision, and a store written by an earlier labelbot comes up to it."""
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    for package in ("bot", "model_core"):
        shutil.copytree(root / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    schema = tmp_path / "bot" / "store" / "schema.py"
    hidden = '    sa.Column("hidden", INT, nullable=False, server_default="0"),\n'
    schema.write_text(
        schema.read_text().replace(hidden, hidden + '    sa.Column("language", TEXT),\n')
    )
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    generate = [sys.executable, "-m", "bot.migrations", "revision", "Each person's language"]
    made = subprocess.run(generate, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    revision = Path(made.stdout.strip().splitlines()[-1])  # after Alembic's own "Generating…"
    assert revision.name == f"{HEAD + 1:04d}_each_person_s_language.py"
    assert "add_column(sa.Column('language', sa.Text()" in revision.read_text()

    shutil.copy(DATA / "pre-alembic-v6.sqlite3", tmp_path / "old.sqlite3")
    opening = (
        "import asyncio, pathlib; from bot.store import Store\n"
        "async def main():\n"
        "    store = await Store.open(pathlib.Path('old.sqlite3'))\n"
        "    print(await store.schema_version()); await store.close()\n"
        "asyncio.run(main())"
    )
    opened = subprocess.run([sys.executable, "-c", opening], cwd=tmp_path, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert opened.stdout.strip() == str(HEAD + 1), opened.stderr
    with sqlite3.connect(tmp_path / "old.sqlite3") as db:
        assert "language" in [row[1] for row in db.execute("PRAGMA table_info(users)")]
