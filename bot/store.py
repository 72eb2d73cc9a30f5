"""The bot's SQLite file: who sent which photo, who voted what, and the model's journal.

Every change to the model is first an `events` row (the journal, which doubles as the audit
trail); `bot.journal` applies the rows in id order through the model service, and after a crash
it replays the rows the last checkpoint does not include. Photos are not stored: Telegram keeps
them under their `file_id`; we keep a compact float16 embedding.

One connection; aiosqlite runs it on its own thread. Writes that must be atomic take
`self._lock`, since concurrent handlers share the connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import numpy as np

MIGRATIONS = (  # append only: each entry moves the schema from version i to i + 1
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, first_seen REAL NOT NULL,
        last_seen REAL NOT NULL);
    CREATE TABLE labels (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, retired INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL);
    CREATE TABLE samples (
        id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL, photo_message_id INTEGER NOT NULL,
        reply_message_id INTEGER, user_id INTEGER NOT NULL, file_id TEXT NOT NULL,
        file_unique_id TEXT NOT NULL, embedding BLOB NOT NULL, prediction TEXT NOT NULL,
        model_version INTEGER NOT NULL, created_at REAL NOT NULL);
    CREATE INDEX samples_by_file ON samples(file_unique_id);
    CREATE TABLE votes (
        id INTEGER PRIMARY KEY, sample_id INTEGER NOT NULL REFERENCES samples(id),
        user_id INTEGER NOT NULL, label_id INTEGER, first_guess_right INTEGER,
        created_at REAL NOT NULL, undone_at REAL);
    CREATE UNIQUE INDEX one_vote_per_person ON votes(sample_id, user_id) WHERE undone_at IS NULL;
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, user_id INTEGER,
        sample_id INTEGER, vote_id INTEGER, label_id INTEGER, name TEXT, version INTEGER,
        created_at REAL NOT NULL, result TEXT);
    CREATE TABLE proposals (
        id INTEGER PRIMARY KEY, sample_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL, prompt_message_id INTEGER, name TEXT,
        status TEXT NOT NULL, decided_by INTEGER, created_at REAL NOT NULL);
    CREATE TABLE model_versions (
        version INTEGER PRIMARY KEY, event_id INTEGER, created_at REAL NOT NULL);
    """,
)


class VoteRefused(Exception):
    """A vote or undo that must change nothing; the message is shown to the person."""


@dataclass(frozen=True)
class Sample:
    id: int
    chat_id: int
    photo_message_id: int
    reply_message_id: int | None
    user_id: int
    file_unique_id: str
    embedding: np.ndarray
    prediction: list[dict]
    model_version: int


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    user_id: int | None
    sample_id: int | None
    vote_id: int | None
    label_id: int | None
    name: str | None
    version: int | None


@dataclass(frozen=True)
class Proposal:
    id: int
    sample_id: int
    user_id: int
    chat_id: int
    name: str | None
    status: str


class Store:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Store:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA foreign_keys=ON")
        store = cls(connection)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            return (await cursor.fetchone())[0]

    async def _migrate(self) -> None:
        for version in range(await self.schema_version(), len(MIGRATIONS)):
            await self._db.executescript(
                f"BEGIN; {MIGRATIONS[version]} PRAGMA user_version = {version + 1}; COMMIT;"
            )

    # ---- users and samples ---------------------------------------------------------------------

    async def saw_user(self, user_id: int, name: str) -> None:
        now = time.time()
        async with self._lock:
            await self._db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "name = excluded.name, last_seen = excluded.last_seen",
                (user_id, name, now, now),
            )
            await self._db.commit()

    async def add_sample(
        self,
        *,
        chat_id: int,
        photo_message_id: int,
        user_id: int,
        file_id: str,
        file_unique_id: str,
        embedding: np.ndarray,
        prediction: list[dict],
        model_version: int,
    ) -> int:
        async with self._lock:
            cursor = await self._db.execute(
                "INSERT INTO samples (chat_id, photo_message_id, user_id, file_id, "
                "file_unique_id, embedding, prediction, model_version, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chat_id, photo_message_id, user_id, file_id, file_unique_id,
                 np.asarray(embedding, np.float16).tobytes(), json.dumps(prediction),
                 model_version, time.time()),
            )  # fmt: skip
            await self._db.commit()
            return cursor.lastrowid

    async def set_reply_message(self, sample_id: int, message_id: int) -> None:
        async with self._lock:
            await self._db.execute(
                "UPDATE samples SET reply_message_id = ? WHERE id = ?", (message_id, sample_id)
            )
            await self._db.commit()

    async def sample(self, sample_id: int) -> Sample | None:
        return await self._one_sample("SELECT * FROM samples WHERE id = ?", (sample_id,))

    async def sample_by_file(self, file_unique_id: str) -> Sample | None:
        """The earliest sample of the same photo (Telegram's file_unique_id), if any."""
        return await self._one_sample(
            "SELECT * FROM samples WHERE file_unique_id = ? ORDER BY id LIMIT 1", (file_unique_id,)
        )

    async def _one_sample(self, query: str, args: tuple) -> Sample | None:
        async with self._db.execute(query, args) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return Sample(
            row["id"], row["chat_id"], row["photo_message_id"], row["reply_message_id"],
            row["user_id"], row["file_unique_id"],
            np.frombuffer(row["embedding"], np.float16).astype(np.float32),
            json.loads(row["prediction"]), row["model_version"],
        )  # fmt: skip

    # ---- votes ---------------------------------------------------------------------------------

    async def record_vote(
        self, sample: Sample, user_id: int, label_id: int | None
    ) -> tuple[int, int | None]:
        """Commits a vote (label None = skip) and, for a label, its journal event, at once.

        Returns (vote id, event id or None). Raises VoteRefused for a second vote.
        """
        top = sample.prediction[0]["label_id"] if sample.prediction else None
        right = None if label_id is None else int(label_id == top)
        async with self._lock:
            try:
                cursor = await self._db.execute(
                    "INSERT INTO votes (sample_id, user_id, label_id, first_guess_right, "
                    "created_at) VALUES (?, ?, ?, ?, ?)",
                    (sample.id, user_id, label_id, right, time.time()),
                )
            except aiosqlite.IntegrityError as error:
                raise VoteRefused("You already voted on this photo.") from error
            vote_id = cursor.lastrowid
            event_id = None
            if label_id is not None:
                event_id = await self._insert_event(
                    "reinforce", user_id, sample_id=sample.id, vote_id=vote_id, label_id=label_id
                )
            await self._db.commit()
            return vote_id, event_id

    async def undo_vote(self, sample: Sample, user_id: int, window: float) -> int | None:
        """Withdraws the person's vote on the sample if it is younger than `window` seconds.

        Returns the journal event that unlearns it (None for a skip)."""
        async with self._lock:
            async with self._db.execute(
                "SELECT id, label_id, created_at FROM votes WHERE sample_id = ? AND user_id = ? "
                "AND undone_at IS NULL",
                (sample.id, user_id),
            ) as cursor:
                vote = await cursor.fetchone()
            if vote is None:
                raise VoteRefused("There is no vote of yours to undo on this photo.")
            if time.time() - vote["created_at"] > window:
                raise VoteRefused("Too late to undo this vote.")
            await self._db.execute(
                "UPDATE votes SET undone_at = ? WHERE id = ?", (time.time(), vote["id"])
            )
            event_id = None
            if vote["label_id"] is not None:
                event_id = await self._insert_event(
                    "unlearn", user_id, sample_id=sample.id, vote_id=vote["id"],
                    label_id=vote["label_id"],
                )  # fmt: skip
            await self._db.commit()
            return event_id

    async def tally(self, sample_id: int) -> dict[int | None, int]:
        """Live votes per label id (None: skips)."""
        async with self._db.execute(
            "SELECT label_id, COUNT(*) FROM votes WHERE sample_id = ? AND undone_at IS NULL "
            "GROUP BY label_id",
            (sample_id,),
        ) as cursor:
            return {row[0]: row[1] async for row in cursor}

    async def first_guess_history(self) -> list[bool]:
        """Whether the bot's top guess was what people chose, vote by vote (skips left out)."""
        async with self._db.execute(
            "SELECT first_guess_right FROM votes WHERE undone_at IS NULL AND "
            "first_guess_right IS NOT NULL ORDER BY id"
        ) as cursor:
            return [bool(row[0]) async for row in cursor]

    async def vote_count(self) -> int:
        async with self._db.execute("SELECT COUNT(*) FROM votes WHERE undone_at IS NULL") as c:
            return (await c.fetchone())[0]

    # ---- the model journal ---------------------------------------------------------------------

    async def add_event(self, kind: str, user_id: int | None, **fields) -> int:
        async with self._lock:
            event_id = await self._insert_event(kind, user_id, **fields)
            await self._db.commit()
            return event_id

    async def _insert_event(self, kind: str, user_id: int | None, **fields) -> int:
        columns = ["kind", "user_id", "created_at", *fields]
        cursor = await self._db.execute(
            f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            (kind, user_id, time.time(), *fields.values()),
        )
        return cursor.lastrowid

    async def events_after(self, event_id: int) -> list[Event]:
        """Committed events only: the lock keeps out a write transaction's rows that are on
        this shared connection but not yet committed (applying one that a crash then rolls
        back would let its id be reused and the next event be skipped)."""
        async with (
            self._lock,
            self._db.execute(
                "SELECT id, kind, user_id, sample_id, vote_id, label_id, name, version "
                "FROM events WHERE id > ? ORDER BY id",
                (event_id,),
            ) as cursor,
        ):
            return [Event(*row) async for row in cursor]

    async def event_applied(self, event_id: int, result: str, version: int | None) -> None:
        async with self._lock:
            await self._db.execute("UPDATE events SET result = ? WHERE id = ?", (result, event_id))
            if version is not None:
                await self._db.execute(
                    "INSERT OR IGNORE INTO model_versions VALUES (?, ?, ?)",
                    (version, event_id, time.time()),
                )
            await self._db.commit()

    async def recent_events(self, limit: int = 10) -> list[tuple[int, str, str | None, float]]:
        async with self._db.execute(
            "SELECT id, kind, result, created_at FROM events WHERE kind != 'reinforce' "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        ) as cursor:
            return [tuple(row) async for row in cursor]

    async def save_labels(self, labels: Iterable) -> None:
        """Mirrors the model's labels (id, name, retired) for SQL readers and exports."""
        async with self._lock:
            await self._db.executemany(
                "INSERT INTO labels VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = "
                "excluded.name, retired = excluded.retired, updated_at = excluded.updated_at",
                [(label.id, label.name, int(label.retired), time.time()) for label in labels],
            )
            await self._db.commit()

    # ---- label proposals -----------------------------------------------------------------------

    async def propose(self, sample_id: int, user_id: int, chat_id: int) -> int:
        async with self._lock:
            cursor = await self._db.execute(
                "INSERT INTO proposals (sample_id, user_id, chat_id, status, created_at) "
                "VALUES (?, ?, ?, 'awaiting_name', ?)",
                (sample_id, user_id, chat_id, time.time()),
            )
            await self._db.commit()
            return cursor.lastrowid

    async def set_prompt(self, proposal_id: int, message_id: int) -> None:
        async with self._lock:
            await self._db.execute(
                "UPDATE proposals SET prompt_message_id = ? WHERE id = ?", (message_id, proposal_id)
            )
            await self._db.commit()

    async def proposal_for_reply(
        self, chat_id: int, message_id: int, user_id: int
    ) -> Proposal | None:
        """The proposal whose name prompt a reply answers. A quick reply may arrive before the
        prompt's id is stored; then it is the person's own proposal still without a prompt."""
        return await self._one_proposal(
            "SELECT * FROM proposals WHERE chat_id = ? AND status = 'awaiting_name' AND "
            "(prompt_message_id = ? OR (prompt_message_id IS NULL AND user_id = ?)) "
            "ORDER BY id DESC LIMIT 1",
            (chat_id, message_id, user_id),
        )

    async def proposal(self, proposal_id: int) -> Proposal | None:
        return await self._one_proposal("SELECT * FROM proposals WHERE id = ?", (proposal_id,))

    async def _one_proposal(self, query: str, args: tuple) -> Proposal | None:
        async with self._db.execute(query, args) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return Proposal(
            row["id"], row["sample_id"], row["user_id"], row["chat_id"], row["name"], row["status"]
        )

    async def move_proposal(
        self, proposal_id: int, before: str, after: str, *, name=None, by=None
    ) -> bool:
        """Moves a proposal between states atomically; False if it was not in `before`."""
        async with self._lock:
            cursor = await self._db.execute(
                "UPDATE proposals SET status = ?, name = COALESCE(?, name), decided_by = ? "
                "WHERE id = ? AND status = ?",
                (after, name, by, proposal_id, before),
            )
            await self._db.commit()
            return cursor.rowcount == 1
