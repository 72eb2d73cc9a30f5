"""Label proposals: a name asked for on a photo, then approved or rejected by an admin."""

from __future__ import annotations

import time

from bot.store.database import Database
from bot.store.records import Proposal, ProposalState


class Proposals:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self, sample_id: int, user_id: int, chat_id: int) -> int:
        cursor = await self.db.commit_one(
            "INSERT INTO proposals (sample_id, user_id, chat_id, status, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (sample_id, user_id, chat_id, str(ProposalState.AWAITING_NAME), time.time()),
        )
        return cursor.lastrowid

    async def set_prompt(self, proposal_id: int, message_id: int) -> None:
        await self.db.commit_one(
            "UPDATE proposals SET prompt_message_id = ? WHERE id = ?", (message_id, proposal_id)
        )

    async def for_reply(self, chat_id: int, message_id: int, user_id: int) -> Proposal | None:
        """The proposal whose name prompt a reply answers. A quick reply may arrive before the
        prompt's id is stored; then it is the person's own proposal still without a prompt."""
        return await self._one(
            "SELECT * FROM proposals WHERE chat_id = ? AND status = ? AND "
            "(prompt_message_id = ? OR (prompt_message_id IS NULL AND user_id = ?)) "
            "ORDER BY id DESC LIMIT 1",
            (chat_id, str(ProposalState.AWAITING_NAME), message_id, user_id),
        )

    async def get(self, proposal_id: int) -> Proposal | None:
        return await self._one("SELECT * FROM proposals WHERE id = ?", (proposal_id,))

    async def move(
        self,
        proposal_id: int,
        before: ProposalState,
        after: ProposalState,
        *,
        name: str | None = None,
        by: int | None = None,
    ) -> bool:
        """Moves a proposal between states atomically; False if it was not in `before`."""
        cursor = await self.db.commit_one(
            "UPDATE proposals SET status = ?, name = COALESCE(?, name), decided_by = ? "
            "WHERE id = ? AND status = ?",
            (str(after), name, by, proposal_id, str(before)),
        )
        return cursor.rowcount == 1

    async def _one(self, query: str, args: tuple) -> Proposal | None:
        row = await self.db.one(query, args)
        if row is None:
            return None
        return Proposal(
            row["id"], row["sample_id"], row["user_id"], row["chat_id"], row["name"],
            ProposalState(row["status"]),
        )  # fmt: skip
