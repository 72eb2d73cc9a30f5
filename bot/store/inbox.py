"""The inbox's rows (`bot.inbox`): every update kept from its arrival until it is handled,
claimed by one process at a time, taken over when its claim goes stale."""

from __future__ import annotations

import time

from bot.store.database import Database
from bot.store.records import InboxEntry


class Inbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def receive(self, entry: InboxEntry, owner: str) -> bool:
        """Keeps an update claimed by `owner`; False if this update was received before (a
        redelivery, which must not be handled again)."""
        now = time.time()
        cursor = await self.db.commit_one(
            "INSERT INTO inbox (bot_id, update_id, user_id, payload, owner, claimed_at, "
            "attempts, received_at, in_order) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) "
            "ON CONFLICT (bot_id, update_id) DO NOTHING",
            (
                entry.bot_id,
                entry.update_id,
                entry.user_id,
                entry.payload,
                owner,
                now,
                now,
                int(entry.in_order),
            ),
        )
        return cursor.rowcount == 1

    async def done(self, bot_id: int, update_id: int) -> None:
        """Marks the update handled and drops its content: only its ids are kept, to
        recognise a redelivery, not what the person sent."""
        await self.db.commit_one(
            "UPDATE inbox SET done_at = ?, payload = '' WHERE bot_id = ? AND update_id = ?",
            (time.time(), bot_id, update_id),
        )

    async def renew(self, owner: str) -> None:
        """Tells the other processes that `owner` still works on its open updates."""
        await self.db.commit_one(
            "UPDATE inbox SET claimed_at = ? WHERE owner = ? AND done_at IS NULL",
            (time.time(), owner),
        )

    async def claim(
        self, owner: str, stale_before: float, started: float, max_attempts: int
    ) -> list[InboxEntry]:
        """Takes over the open updates whose claim went stale (their owner died), and those
        `owner` claimed before it `started` (it restarted). Each claim is a compare-and-set,
        so of two processes sweeping at once only one takes an update."""
        async with self.db.transaction():
            rows = await self.db.all(
                "SELECT bot_id, update_id, user_id, payload, owner, claimed_at FROM inbox "
                "WHERE done_at IS NULL AND attempts < ? AND (claimed_at < ? OR "
                "(owner = ? AND claimed_at < ?)) ORDER BY update_id",
                (max_attempts, stale_before, owner, started),
            )
            claimed, now = [], time.time()
            for bot_id, update_id, user_id, payload, was_owner, claimed_at in rows:
                cursor = await self.db.execute(
                    "UPDATE inbox SET owner = ?, claimed_at = ?, attempts = attempts + 1 "
                    "WHERE bot_id = ? AND update_id = ? AND owner = ? AND claimed_at = ? "
                    "AND done_at IS NULL",
                    (owner, now, bot_id, update_id, was_owner, claimed_at),
                )
                if cursor.rowcount == 1:
                    claimed.append(InboxEntry(bot_id, update_id, user_id, payload))
        return claimed

    async def give_up(self, stale_before: float, max_attempts: int) -> list[int]:
        """Closes the open updates whose last allowed attempt died with its process; their
        ids. Their content stays until pruned, for whoever looks into why."""
        async with self.db.transaction():
            candidates = await self.db.all(
                "SELECT bot_id, update_id FROM inbox WHERE done_at IS NULL AND attempts >= ? "
                "AND claimed_at < ? ORDER BY update_id",
                (max_attempts, stale_before),
            )
            given_up, now = [], time.time()
            for bot_id, update_id in candidates:  # closed by this process, or by another
                cursor = await self.db.execute(
                    "UPDATE inbox SET done_at = ?, owner = 'given up' WHERE bot_id = ? "
                    "AND update_id = ? AND done_at IS NULL",
                    (now, bot_id, update_id),
                )
                if cursor.rowcount == 1:
                    given_up.append(update_id)
        return given_up

    async def open_before(self, bot_id: int, user_id: int, update_id: int) -> bool:
        """Whether an older update of this person that keeps its order is still open, here or
        in another process."""
        row = await self.db.one(
            "SELECT 1 FROM inbox WHERE user_id = ? AND bot_id = ? AND update_id < ? "
            "AND done_at IS NULL AND in_order = 1 LIMIT 1",
            (user_id, bot_id, update_id),
        )
        return row is not None

    async def open_since(self) -> tuple[int, float | None]:
        """How many updates are open (received, not yet handled or given up), and when the
        oldest of them arrived."""
        count, oldest = await self.db.one(
            "SELECT COUNT(*), MIN(received_at) FROM inbox WHERE done_at IS NULL"
        )
        return int(count), oldest

    async def prune(self, before: float) -> None:
        """Forgets updates received before `before` that were handled or given up on."""
        await self.db.commit_one(
            "DELETE FROM inbox WHERE received_at < ? AND done_at IS NOT NULL", (before,)
        )
