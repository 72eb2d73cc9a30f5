"""Photos as samples: where each came from, what the model saw in it (a float16 embedding and
the guesses shown), and the message that carries its buttons. Telegram keeps the photos."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping

import numpy as np

from bot.store.database import Database
from bot.store.people import removal
from bot.store.records import NewSample, Prediction, Sample, StoredPhoto, StoredVote
from bot.store.schema import PHOTO
from model_core.consensus import State, Verdict


class Samples:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, new: NewSample) -> Sample:
        async with self.db.transaction():
            sample_id = await self.insert(new)
        return Sample(**vars(new), id=sample_id)

    async def insert(self, new: NewSample) -> int:
        """Inside the caller's transaction; the new sample's id."""
        prediction = json.dumps([vars(p) for p in new.prediction])
        cursor = await self.db.execute(
            "INSERT INTO samples (chat_id, photo_message_id, user_id, file_id, file_unique_id, "
            "embedding, prediction, model_version, created_at, certainty) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (new.chat_id, new.photo_message_id, new.user_id, new.file_id, new.file_unique_id,
             _stored(new.embedding), prediction, new.model_version,
             time.time(), margin(new.prediction)),
        )  # fmt: skip
        return cursor.lastrowid

    async def set_reply_message(self, sample_id: int, message_id: int) -> None:
        await self.db.commit_one(
            "UPDATE samples SET reply_message_id = ? WHERE id = ?", (message_id, sample_id)
        )

    async def mark_unavailable(self, sample_id: int) -> None:
        """Telegram no longer sends the photo: it leaves the review queue."""
        await self.db.commit_one(
            "UPDATE samples SET unavailable_since = ? WHERE id = ?", (time.time(), sample_id)
        )

    async def get(self, sample_id: int) -> Sample | None:
        return await self._one("SELECT * FROM samples WHERE id = ?", (sample_id,))

    async def by_file(self, file_unique_id: str) -> Sample | None:
        """The earliest sample of the same photo (Telegram's file_unique_id), if any."""
        return await self._one(
            "SELECT * FROM samples WHERE file_unique_id = ? ORDER BY id LIMIT 1", (file_unique_id,)
        )

    async def by_message(self, chat_id: int, message_id: int) -> Sample | None:
        """The sample stored from this very message, if it was handled before."""
        return await self._one(
            "SELECT * FROM samples WHERE chat_id = ? AND photo_message_id = ? ORDER BY id LIMIT 1",
            (chat_id, message_id),
        )

    async def ids(self) -> list[int]:
        return [row[0] for row in await self.db.all("SELECT id FROM samples ORDER BY id")]

    async def backbone(self) -> str | None:
        """The backbone whose embeddings the photos hold; None before a bot recorded it."""
        return await self.db.value("SELECT value FROM store_meta WHERE key = 'backbone'")

    async def record_backbone(self, name: str) -> None:
        await self.db.commit_one(_SET_BACKBONE, (name,))

    async def sources(self) -> list[tuple[int, int, str, str]]:
        """(id, sender, file_id, file_unique_id) of every photo, in id order: how to fetch
        each one again."""
        rows = await self.db.all(
            "SELECT id, user_id, file_id, file_unique_id FROM samples ORDER BY id"
        )
        return [tuple(row) for row in rows]

    async def embeddings(self) -> dict[int, np.ndarray]:
        """Every photo's stored embedding, by id."""
        rows = await self.db.all("SELECT id, embedding FROM samples")
        return {row[0]: _embedding(row[1]) for row in rows}

    async def switch_backbone(
        self, name: str, embeddings: Mapping[int, np.ndarray], gone: Iterable[int]
    ) -> None:
        """In one transaction: each photo's embedding by the backbone `name`, the photos it
        could not read forgotten with all that hangs on them (as `/forgetme` forgets a
        person's photos), and `name` recorded as the photos' backbone."""
        async with self.db.transaction():
            await self.db.execute_many(
                "UPDATE samples SET embedding = ? WHERE id = ?",
                [(_stored(e), sample_id) for sample_id, e in embeddings.items()],
            )
            for sample_id in gone:
                for table, column, action in PHOTO:
                    await self.db.execute(removal(table, column, action, "= ?"), (sample_id,))
                await self.db.execute("DELETE FROM samples WHERE id = ?", (sample_id,))
            await self.db.execute(_SET_BACKBONE, (name,))

    async def known_files(self, file_unique_ids: Iterable[str]) -> set[str]:
        """Which of these photos are stored already (how an import skips what it learned)."""
        wanted = list(file_unique_ids)
        found: set[str] = set()
        for start in range(0, len(wanted), 500):  # SQLite's limit on bound parameters
            part = wanted[start : start + 500]
            query = "SELECT file_unique_id FROM samples WHERE file_unique_id IN (%s)"
            found.update(
                row[0] for row in await self.db.all(query % ",".join("?" * len(part)), part)
            )
        return found

    async def for_export(self, since: float = 0.0) -> list[StoredPhoto]:
        """Every photo stored at or after `since` (epoch seconds), with its live votes (skips
        left out), in sample order."""
        votes: dict[int, list[StoredVote]] = {}
        for row in await self.db.all(
            "SELECT sample_id, user_id, label_id, created_at FROM votes WHERE undone_at IS NULL "
            "AND label_id IS NOT NULL ORDER BY id"
        ):
            votes.setdefault(row[0], []).append(StoredVote(row[1], row[2], row[3]))
        rows = await self.db.all(
            "SELECT id, chat_id, photo_message_id, samples.user_id, file_id, file_unique_id, "
            "embedding, prediction, model_version, created_at, verdicts.label_id, confidence, "
            "standing FROM samples LEFT JOIN verdicts ON verdicts.sample_id = samples.id "
            "WHERE created_at >= ? ORDER BY id",
            (since,),
        )
        return [_stored_photo(row, votes.get(row[0], [])) for row in rows]

    async def _one(self, query: str, args: tuple) -> Sample | None:
        row = await self.db.one(query, args)
        if row is None:
            return None
        return Sample(
            chat_id=row["chat_id"], photo_message_id=row["photo_message_id"],
            user_id=row["user_id"], file_id=row["file_id"], file_unique_id=row["file_unique_id"],
            embedding=_embedding(row["embedding"]), prediction=prediction(row["prediction"]),
            model_version=row["model_version"], id=row["id"],
            reply_message_id=row["reply_message_id"],
        )  # fmt: skip


def prediction(stored: str) -> tuple[Prediction, ...]:
    return tuple(
        Prediction(int(p["label_id"]), float(p["probability"])) for p in json.loads(stored)
    )


def margin(guesses: tuple[Prediction, ...]) -> float:
    """How much surer the model is of its first guess than of its second: the review queue
    asks first about the photos it is least sure of."""
    p = [guess.probability for guess in guesses] + [0.0, 0.0]
    return p[0] - p[1]


_SET_BACKBONE = (
    "INSERT INTO store_meta VALUES ('backbone', ?) ON CONFLICT(key) DO UPDATE SET "
    "value = excluded.value"
)


def _stored(embedding: np.ndarray) -> bytes:
    return np.asarray(embedding, np.float16).tobytes()


def _embedding(stored: bytes) -> np.ndarray:
    return np.frombuffer(stored, np.float16).astype(np.float32)


def _stored_photo(row, votes: list[StoredVote]) -> StoredPhoto:
    return StoredPhoto(
        id=row[0], chat_id=row[1], message_id=row[2], sender_id=row[3], file_id=row[4],
        file_unique_id=row[5], embedding=_embedding(row[6]), prediction=prediction(row[7]),
        model_version=row[8], created_at=row[9], votes=tuple(votes),
        verdict=None if row[10] is None else Verdict(row[10], row[11], State(row[12])),
    )  # fmt: skip
