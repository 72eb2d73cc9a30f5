"""The review queue: the photo most in need of someone's vote, and the messages that re-sent
photos for it.

The queue's order is kept on the photos themselves (`samples.standing`, `votes`,
`certainty`, updated with every vote and re-estimate: see `bot.store.consensus`), and one
index holds it, so a pick walks that index to the first photo this person may vote on
instead of ranking the campaign's photos: the fewest votes first (a photo never waits behind
one that has had more), then the least sure, then the oldest.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable

from bot.store.database import Database
from bot.store.records import IMPORT_USER
from model_core.consensus import State

ELIGIBLE = (  # photos from Telegram this person did not send and has no live vote on
    "s.user_id NOT IN (?, ?) AND s.unavailable_since IS NULL AND NOT EXISTS (SELECT 1 FROM "
    "votes WHERE sample_id = s.id AND user_id = ? AND undone_at IS NULL)"  # its unique index
)


def _not_in(skip: Collection[int]) -> str:
    return f" AND s.id NOT IN ({', '.join('?' * len(skip))})" if skip else ""


class Reviews:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def first(self, state: State, user_id: int, skip: Collection[int] = ()) -> int | None:
        """The first photo in `state` in the queue's order that this person may vote on,
        `skip` aside (photos they are being shown already)."""
        return await self.db.value(
            f"SELECT s.id FROM samples s WHERE s.standing = ? AND {ELIGIBLE}{_not_in(skip)} "
            "ORDER BY s.standing, s.votes, s.certainty, s.id LIMIT 1",
            (int(state), user_id, IMPORT_USER, user_id, *skip),
        )

    async def gold(
        self, user_id: int, gold: Iterable[int], skip: Collection[int] = (), limit: int = 50
    ) -> list[int]:
        """Photos a `gold` voter (an admin) labeled most recently that this person may vote
        on (`skip` aside): their label is known, so a vote on one measures the voter."""
        gold = sorted(set(gold))
        if not gold:
            return []
        rows = await self.db.all(
            f"SELECT DISTINCT s.id FROM votes g JOIN samples s ON s.id = g.sample_id WHERE "
            f"g.user_id IN ({', '.join('?' * len(gold))}) AND g.undone_at IS NULL AND {ELIGIBLE}"
            f"{_not_in(skip)} ORDER BY s.id DESC LIMIT ?",
            (*gold, user_id, IMPORT_USER, user_id, *skip, limit),
        )
        return [row[0] for row in rows]

    async def add(self, sample_id: int, user_id: int, chat_id: int, photo: int) -> int:
        cursor = await self.db.commit_one(
            "INSERT INTO reviews (sample_id, user_id, chat_id, photo_message_id, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (sample_id, user_id, chat_id, photo, time.time()),
        )
        return cursor.lastrowid

    async def set_message(self, review_id: int, message_id: int) -> None:
        await self.db.commit_one(
            "UPDATE reviews SET message_id = ? WHERE id = ?", (message_id, review_id)
        )

    async def carries(
        self, sample_id: int, chat_id: int, message_id: int, quoted: int | None
    ) -> bool:
        """Whether the message carries this photo's buttons as a review (right after sending,
        before its id is stored, the re-sent photo it quotes tells)."""
        row = await self.db.one(
            "SELECT 1 FROM reviews WHERE sample_id = ? AND chat_id = ? AND (message_id = ? OR "
            "(message_id IS NULL AND photo_message_id = ?))",
            (sample_id, chat_id, message_id, quoted),
        )
        return row is not None
