"""The review queue: candidates for someone's vote, and the messages that re-sent them."""

from __future__ import annotations

import time
from collections.abc import Iterable

from bot.store.database import Database
from bot.store.records import IMPORT_USER, Candidate
from bot.store.samples import prediction


class Reviews:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def candidates(
        self, user_id: int, gold: Iterable[int], limit: int = 2000
    ) -> list[Candidate]:
        """Recent photos from Telegram that this person neither sent nor voted on, with what
        ranks them: their verdict, whether a `gold` voter (an admin) voted on them, how many
        labels their votes name, and their stored guesses."""
        gold = sorted(set(gold)) or [IMPORT_USER]
        marks = ", ".join("?" * len(gold))
        rows = await self.db.all(
            "SELECT s.id, s.prediction, v.settled, EXISTS (SELECT 1 FROM votes WHERE sample_id "
            f"= s.id AND undone_at IS NULL AND user_id IN ({marks})), (SELECT COUNT(DISTINCT "
            "label_id) FROM votes WHERE sample_id = s.id AND undone_at IS NULL AND label_id IS "
            "NOT NULL) FROM samples s LEFT JOIN verdicts v ON v.sample_id = s.id "
            "WHERE s.user_id NOT IN (?, ?) AND s.unavailable_since IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM votes WHERE sample_id = s.id AND user_id = ?) "
            "ORDER BY s.id DESC LIMIT ?",
            (*gold, user_id, IMPORT_USER, user_id, limit),
        )
        return [
            Candidate(row[0], prediction(row[1]), bool(row[2]), bool(row[3]), row[4])
            for row in rows
        ]

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
