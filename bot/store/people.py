"""People: display names and who hides from the leaderboard, reliabilities, bans, and the
deletion of every row that names a person (`/forgetme`), derived from `bot.store.schema`."""

from __future__ import annotations

import time

from bot.store.database import Database
from bot.store.schema import DELETE, PERSON, PHOTO


class People:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def touch(self, user_id: int, name: str) -> None:
        """Remembers a person's display name (for the leaderboard) and when they were seen."""
        now = time.time()
        await self.db.commit_one(
            "INSERT INTO users (id, name, first_seen, last_seen) VALUES (?, ?, ?, ?) ON "
            "CONFLICT(id) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen",
            (user_id, name, now, now),
        )

    async def names(self) -> dict[int, tuple[str, bool]]:
        """Display name and whether they hide from the leaderboard, by user id."""
        rows = await self.db.all("SELECT id, name, hidden FROM users")
        return {row[0]: (row[1], bool(row[2])) for row in rows}

    async def set_hidden(self, user_id: int, hidden: bool) -> None:
        now = time.time()
        await self.db.commit_one(
            "INSERT INTO users (id, name, first_seen, last_seen, hidden) VALUES "
            "(?, '', ?, ?, ?) ON CONFLICT(id) DO UPDATE SET hidden = excluded.hidden",
            (user_id, now, now, int(hidden)),
        )

    async def reliabilities(self) -> dict[int, float]:
        return dict(await self.db.all("SELECT user_id, reliability FROM reliability"))

    async def save_reliabilities(self, reliability: dict[int, float]) -> None:
        now = time.time()
        async with self.db.transaction():
            await self.db.execute("DELETE FROM reliability")
            await self.db.execute_many(
                "INSERT INTO reliability VALUES (?, ?, ?)",
                [(user, p, now) for user, p in reliability.items()],
            )

    async def banned(self) -> frozenset[int]:
        return frozenset(row[0] for row in await self.db.all("SELECT user_id FROM bans"))

    async def set_banned(self, user_id: int, banned: bool, by: int | None) -> None:
        if banned:
            await self.db.commit_one(
                "INSERT INTO bans VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (user_id, by, time.time()),
            )
        else:
            await self.db.commit_one("DELETE FROM bans WHERE user_id = ?", (user_id,))

    async def delete(self, user_id: int) -> None:
        """Deletes every row that names the person (the schema's `PERSON` columns), and every
        row that hangs on their photos (`PHOTO` columns); where the schema says "forget", the
        column is set to NULL and the row kept (the journal keeps its events, anonymous).
        Call once what their photos taught has been withdrawn and checkpointed."""
        sent = "SELECT id FROM samples WHERE user_id = ?"
        async with self.db.transaction():
            for table, column, action in PHOTO:
                await self.db.execute(removal(table, column, action, f"IN ({sent})"), (user_id,))
            for table, column, action in _samples_last(PERSON):
                await self.db.execute(removal(table, column, action, "= ?"), (user_id,))

    async def rows_naming(self, user_id: int) -> int:
        """How many rows still name the person (what `/forgetme` must bring to zero)."""
        total = 0
        for table, column, _ in PERSON:
            query = f"SELECT COUNT(*) FROM {table} WHERE {column} = ?"
            total += await self.db.value(query, (user_id,))
        return total


def removal(table: str, column: str, action: str, condition: str) -> str:
    """The statement that deletes the rows where `column` meets `condition`, or forgets it."""
    if action == DELETE:
        return f"DELETE FROM {table} WHERE {column} {condition}"
    return f"UPDATE {table} SET {column} = NULL WHERE {column} {condition}"


def _samples_last(columns: tuple[tuple[str, str, str], ...]) -> list[tuple[str, str, str]]:
    """The person's photos go after what hangs on them (their votes name the photos)."""
    return sorted(columns, key=lambda c: c[0] == "samples")
