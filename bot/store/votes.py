"""Votes: one live vote per person and photo (None: a skip), undone within a window, each
committed together with the journal events that make the model follow the photo's consensus."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from bot.postgres import INTEGRITY_ERRORS
from bot.store.consensus import Consensus
from bot.store.database import Database
from bot.store.records import (
    IMPORT_USER,
    EventKind,
    Judge,
    NewSample,
    Prediction,
    Sample,
    VoteRefused,
)
from bot.store.samples import Samples, prediction

DUPLICATE_VOTE = (*INTEGRITY_ERRORS, sqlite3.IntegrityError)


class Votes:
    def __init__(self, db: Database, samples: Samples, consensus: Consensus) -> None:
        self.db = db
        self.samples = samples
        self.consensus = consensus

    async def record(
        self, sample: Sample, user_id: int, label_id: int | None, judge: Judge
    ) -> int | None:
        """Commits a vote (label None = skip) and the consensus's journal events together.

        Returns the last event id (None when the model has nothing to change). Raises
        VoteRefused for a second vote; the same vote again (a tap handled twice, see
        `bot.inbox`) changes nothing and returns None.
        """
        try:
            async with self.db.transaction():
                await self._refuse_retired(label_id)
                vote_id = await self._insert(sample, user_id, label_id)
                return await self.consensus.follow(sample.id, judge, user_id, vote_id=vote_id)
        except DUPLICATE_VOTE as error:
            live = await self.db.one(
                "SELECT label_id FROM votes WHERE sample_id = ? AND user_id = ? "
                "AND undone_at IS NULL",
                (sample.id, user_id),
            )
            if live is not None and live[0] == label_id:
                return None
            raise VoteRefused("already_voted") from error

    async def import_samples(
        self, samples: Sequence[tuple[NewSample, int]], judge: Judge
    ) -> int | None:
        """Stores imported photos, each with its label's vote by IMPORT_USER and its journal
        events, in one transaction: an interrupted import keeps whole photos or none. Returns
        the last event id (None for no photo)."""
        event_id = None
        async with self.db.transaction():
            for new, label_id in samples:
                sample = Sample(**vars(new), id=await self.samples.insert(new))
                vote_id = await self._insert(sample, IMPORT_USER, label_id)
                followed = await self.consensus.follow(
                    sample.id, judge, IMPORT_USER, vote_id=vote_id
                )
                event_id = followed or event_id
        return event_id

    async def _refuse_retired(self, label_id: int | None) -> None:
        """A label retired, or being retired (its event committed, not applied yet), takes no
        vote: checked under the journal's lock, in the vote's own transaction, so that no vote
        event can follow the retirement's in the journal."""
        if label_id is None:
            return
        await self.db.lock_journal()
        retiring = await self.db.one(
            "SELECT 1 FROM labels WHERE id = ? AND retired = 1 UNION ALL SELECT 1 FROM events "
            "WHERE kind = ? AND label_id = ? AND result IS NULL",
            (label_id, str(EventKind.RETIRE_LABEL), label_id),
        )
        if retiring is not None:
            raise VoteRefused("label_retired")

    async def _insert(self, sample: Sample, user_id: int, label_id: int | None) -> int:
        top = sample.prediction[0].label_id if sample.prediction else None
        right = None if label_id is None else int(label_id == top)
        cursor = await self.db.execute(
            "INSERT INTO votes (sample_id, user_id, label_id, first_guess_right, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (sample.id, user_id, label_id, right, time.time()),
        )
        return cursor.lastrowid

    async def undo(self, sample: Sample, user_id: int, window: float, judge: Judge) -> int | None:
        """Withdraws the person's vote on the sample if it is younger than `window` seconds.

        Returns the last journal event that makes the model follow the consensus without it.
        """
        async with self.db.transaction():
            vote = await self.db.one(
                "SELECT id, created_at FROM votes WHERE sample_id = ? AND user_id = ? "
                "AND undone_at IS NULL",
                (sample.id, user_id),
            )
            if vote is None:
                raise VoteRefused("nothing_to_undo")
            if time.time() - vote["created_at"] > window:
                raise VoteRefused("too_late_to_undo")
            await self.db.execute(
                "UPDATE votes SET undone_at = ? WHERE id = ?", (time.time(), vote["id"])
            )
            return await self.consensus.follow(sample.id, judge, user_id, vote_id=vote["id"])

    async def forget(self, user_id: int, judge: Judge) -> int | None:
        """Deletes the person's votes and journals the corrections of the photos they voted
        on, in one transaction; returns the last event id."""
        async with self.db.transaction():
            voted = await self.db.all(
                "SELECT DISTINCT sample_id FROM votes WHERE user_id = ?", (user_id,)
            )
            await self.db.execute("DELETE FROM votes WHERE user_id = ?", (user_id,))
            event_id = None
            for (sample_id,) in voted:
                event_id = await self.consensus.follow(sample_id, judge, None) or event_id
        return event_id

    async def last_id(self) -> int:
        """The newest vote's id (0 before the first): how many votes were cast since a mark,
        by whichever process, in one index lookup."""
        return await self.db.value("SELECT COALESCE(MAX(id), 0) FROM votes")

    async def live(self) -> list[tuple[int, int, int]]:
        """(sample id, user id, label id) of every live vote naming a label, in vote order."""
        rows = await self.db.all(
            "SELECT sample_id, user_id, label_id FROM votes WHERE undone_at IS NULL AND "
            "label_id IS NOT NULL ORDER BY id"
        )
        return [tuple(row) for row in rows]

    async def samples_voted_by(self, user_id: int) -> list[int]:
        rows = await self.db.all(
            "SELECT DISTINCT sample_id FROM votes WHERE user_id = ? AND undone_at IS NULL "
            "ORDER BY sample_id",
            (user_id,),
        )
        return [row[0] for row in rows]

    async def tally(self, sample_id: int) -> dict[int | None, int]:
        """Live votes per label id (None: skips)."""
        return dict(
            await self.db.all(
                "SELECT label_id, COUNT(*) FROM votes WHERE sample_id = ? AND undone_at IS NULL "
                "GROUP BY label_id",
                (sample_id,),
            )
        )

    async def first_guess_history(self) -> list[bool]:
        """Whether the bot's top guess was what people chose, vote by vote (skips and imports
        left out)."""
        rows = await self.db.all(
            "SELECT first_guess_right FROM votes WHERE undone_at IS NULL AND "
            "first_guess_right IS NOT NULL AND user_id != ? ORDER BY id",
            (IMPORT_USER,),
        )
        return [bool(row[0]) for row in rows]

    async def timeline(self) -> list[tuple[float, bool]]:
        """When each live vote for a label came, and whether the bot's top guess was it
        (skips and imports left out): the campaign's progress over time."""
        rows = await self.db.all(
            "SELECT created_at, first_guess_right FROM votes WHERE undone_at IS NULL AND "
            "first_guess_right IS NOT NULL AND user_id != ? ORDER BY id",
            (IMPORT_USER,),
        )
        return [(row[0], bool(row[1])) for row in rows]

    async def against_guesses(self) -> list[tuple[int, tuple[Prediction, ...]]]:
        """Each live vote's label with the guesses the photo got when it arrived (skips and
        imports left out): which labels the model mixes up, and how sure it was."""
        rows = await self.db.all(
            "SELECT v.label_id, s.prediction FROM votes v JOIN samples s ON s.id = v.sample_id "
            "WHERE v.undone_at IS NULL AND v.label_id IS NOT NULL AND v.user_id != ? "
            "ORDER BY v.id",
            (IMPORT_USER,),
        )
        return [(row[0], prediction(row[1])) for row in rows]

    async def count(self) -> int:
        return await self.db.value("SELECT COUNT(*) FROM votes WHERE undone_at IS NULL")

    async def label_names(self) -> list[str]:
        """The label name of every live vote, in vote order, as the store names it."""
        rows = await self.db.all(
            "SELECT labels.name FROM votes JOIN labels ON labels.id = votes.label_id "
            "WHERE votes.undone_at IS NULL ORDER BY votes.id"
        )
        return [row[0] for row in rows]
