"""`/export`: the data set's tables, written to a new folder."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bot.desk.context import DeskContext
from bot.desk.views import DataExport
from bot.export import read_rows, write_table, write_tables


class Exports:
    def __init__(self, context: DeskContext) -> None:
        self.ctx = context

    async def tables(self, user_id: int) -> DataExport:
        """The data set's tables (see `bot.export`), written to a new folder under `exports`."""
        self.ctx.check_admin(user_id)
        rows = await read_rows(self.ctx.store)
        folder = self.ctx.exports / datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
        files = await asyncio.to_thread(write_tables, rows, folder)
        return DataExport(folder, files, len(rows), sum(row.label is not None for row in rows))

    async def table(self, user_id: int, name: str, out: Path) -> Path:
        """One of the tables written into `out` (the console's downloads: the rest, the
        embeddings above all, are not written for nothing)."""
        self.ctx.check_admin(user_id)
        rows = await read_rows(self.ctx.store)
        return await asyncio.to_thread(write_table, rows, name, out)
