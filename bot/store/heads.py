"""Published heads: the model's read-out per version, written by the trainer and followed by
replicas (`bot.heads`)."""

from __future__ import annotations

import time

from bot.store.database import Database
from bot.store.records import HEADS_CHANNEL

HEADS_KEPT = 5  # published heads kept: a replica only ever needs the newest


class Heads:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def publish(self, version: int, last_event_id: int, meta: str, arrays: bytes) -> None:
        """Stores a model version's read-out (again, if only its meta changed) and wakes the
        replicas that follow it."""
        async with self.db.transaction():
            await self.db.execute(
                "INSERT INTO model_heads VALUES (?, ?, ?, ?, ?) ON CONFLICT(version) DO UPDATE "
                "SET meta = excluded.meta, arrays = excluded.arrays",
                (version, last_event_id, meta, arrays, time.time()),
            )
            await self.db.execute(
                "DELETE FROM model_heads WHERE version NOT IN (SELECT version FROM model_heads "
                "ORDER BY version DESC LIMIT ?)",
                (HEADS_KEPT,),
            )
        await self.db.notify(HEADS_CHANNEL, str(version))

    async def latest_meta(self) -> tuple[int, str] | None:
        """The newest published head's version and meta (small: polled), or None before the
        trainer's first."""
        row = await self.db.one(
            "SELECT version, meta FROM model_heads ORDER BY version DESC LIMIT 1"
        )
        return None if row is None else (row[0], row[1])

    async def arrays(self, version: int) -> bytes:
        row = await self.db.one("SELECT arrays FROM model_heads WHERE version = ?", (version,))
        return bytes(row[0])
