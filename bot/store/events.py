"""The journal: every change to the model is first an `events` row (doubling as the audit
trail), applied in id order by `bot.journal`; with the model versions applying them produced,
and the labels mirrored from the model for SQL readers and exports."""

from __future__ import annotations

import time
from collections.abc import Iterable

from bot.store.database import Database
from bot.store.records import Event, EventKind, EventRecord
from model_core.labels import Label, LabelSet

COLUMNS = "id, kind, user_id, sample_id, vote_id, label_id, name, version, weight"  # Event's


class Events:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, kind: EventKind, user_id: int | None, **fields) -> int:
        async with self.db.transaction():
            return await self.db.insert_event(kind, user_id, **fields)

    async def last_id(self) -> int:
        """The journal's newest event id (0 for an empty journal)."""
        return await self.db.value("SELECT COALESCE(MAX(id), 0) FROM events")

    async def origin(self) -> float | None:
        """When the journal began: its first event's time (None while it is empty). Events are
        never deleted, so this names the store for as long as it lives, and a copy of it
        (`labelbot migrate-db`, a backup) keeps it."""
        return await self.db.value("SELECT created_at FROM events ORDER BY id LIMIT 1")

    async def waiting(self, event_id: int) -> tuple[int, float | None]:
        """How many events come after `event_id` (the model's last), and when the oldest of
        them was committed: how far, and how long, the model is behind its journal."""
        count, oldest = await self.db.one(
            "SELECT COUNT(*), MIN(created_at) FROM events WHERE id > ?", (event_id,)
        )
        return int(count), oldest

    async def after(self, event_id: int) -> list[Event]:
        """Committed events only: the lock keeps out a write transaction's rows that are on
        this shared connection but not yet committed (applying one that a crash then rolls
        back would let its id be reused and the next event be skipped)."""
        async with self.db.lock:
            rows = await self.db.all(
                f"SELECT {COLUMNS} FROM events WHERE id > ? ORDER BY id", (event_id,)
            )
        return [Event(row[0], EventKind(row[1]), *row[2:]) for row in rows]

    async def applied(self, event_id: int, result: str, version: int | None) -> None:
        async with self.db.transaction():
            await self.db.execute("UPDATE events SET result = ? WHERE id = ?", (result, event_id))
            if version is not None:
                await self.db.execute(
                    "INSERT INTO model_versions VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (version, event_id, time.time()),
                )

    async def outcome(self, event_id: int) -> tuple[Event, str | None, int | None]:
        """An event, its result ("ok", "refused: …" or None while pending), and the model
        version that applying it produced."""
        row = await self.db.one(
            f"SELECT {COLUMNS}, result, (SELECT version FROM model_versions WHERE "
            "event_id = events.id) FROM events WHERE id = ?",
            (event_id,),
        )
        return Event(row[0], EventKind(row[1]), *row[2:9]), row[9], row[10]

    async def recent(self, limit: int = 10) -> list[EventRecord]:
        """The newest events other than votes, newest first."""
        rows = await self.db.all(
            "SELECT id, kind, result FROM events WHERE kind != ? ORDER BY id DESC LIMIT ?",
            (str(EventKind.REINFORCE), limit),
        )
        return [EventRecord(row[0], EventKind(row[1]), row[2]) for row in rows]


class Labels:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, labels: Iterable[Label]) -> None:
        """Mirrors the model's labels. Rows are never deleted: the highest id here is a
        high-water mark that a rollback cannot lower."""
        async with self.db.transaction():
            await self.db.execute_many(
                "INSERT INTO labels VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = "
                "excluded.name, retired = excluded.retired, updated_at = excluded.updated_at",
                [(label.id, label.name, int(label.retired), time.time()) for label in labels],
            )

    async def all(self) -> LabelSet:
        """Every label the store has seen, in id order."""
        rows = await self.db.all("SELECT id, name, retired FROM labels ORDER BY id")
        return LabelSet(tuple(Label(r[0], r[1], bool(r[2])) for r in rows))
