"""The console's login links already used (`bot.web.auth`): a link works once."""

from __future__ import annotations

from bot.store.database import Database


class Logins:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def use(self, nonce: str, expires_at: float, now: float) -> bool:
        """Marks the link used; False if it was used before. Links past their expiry are
        forgotten meanwhile: they are refused by their signature's time anyway."""
        async with self.db.transaction():
            await self.db.execute("DELETE FROM console_logins WHERE expires_at < ?", (now,))
            cursor = await self.db.execute(
                "INSERT INTO console_logins (nonce, expires_at) VALUES (?, ?) "
                "ON CONFLICT (nonce) DO NOTHING",
                (nonce, expires_at),
            )
        return cursor.rowcount == 1
