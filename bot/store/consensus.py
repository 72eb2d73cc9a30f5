"""What each photo teaches the model: the crowd's verdict on its live votes, and the
contribution (label and weight) the model was told to hold for it. When a verdict moves, the
journal gets the events that take the old contribution back and teach the new one, in the same
transaction as whatever moved it."""

from __future__ import annotations

import time
from collections.abc import Iterable

from bot.store.database import Database
from bot.store.records import IMPORT_USER, EventKind, Judge
from bot.store.samples import margin, prediction
from model_core.consensus import Ballot, Judgement, State, Verdict

STANDING = (
    "SELECT v.label_id, v.confidence, s.standing FROM verdicts v "
    "JOIN samples s ON s.id = v.sample_id"
)


class Consensus:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def follow(
        self, sample_id: int, judge: Judge, user_id: int | None, *,
        vote_id: int | None = None, tolerance: float = 0.0,
    ) -> int | None:  # fmt: skip
        """Records the photo's verdict on its live votes and where it stands and, when what
        the photo teaches changes, journals an unlearn of the old contribution and a reinforce
        of the new one (each weighted, each naming the vote that moved it). Inside the
        caller's transaction; the last event id, or None when nothing changed."""
        rows = await self.db.all(
            "SELECT user_id, label_id FROM votes WHERE sample_id = ? AND undone_at IS NULL "
            "AND label_id IS NOT NULL ORDER BY id",
            (sample_id,),
        )
        judgement = judge([Ballot(row[0], row[1]) for row in rows])
        verdict = judgement.verdict
        await self._save_verdict(sample_id, verdict)
        await self._save_standing(sample_id, judgement)
        held = dict(
            await self.db.all(
                "SELECT label_id, weight FROM contributions WHERE sample_id = ?", (sample_id,)
            )
        )
        wanted = {} if verdict is None else {verdict.label_id: verdict.confidence}
        if held.keys() == wanted.keys() and all(
            abs(held[k] - wanted[k]) <= tolerance for k in held
        ):
            return None
        event_id = None
        for label_id, weight in held.items():
            event_id = await self.db.insert_event(
                EventKind.UNLEARN, user_id, sample_id=sample_id, vote_id=vote_id,
                label_id=label_id, weight=weight,
            )  # fmt: skip
        await self.db.execute("DELETE FROM contributions WHERE sample_id = ?", (sample_id,))
        for label_id, weight in wanted.items():
            event_id = await self.db.insert_event(
                EventKind.REINFORCE, user_id, sample_id=sample_id, vote_id=vote_id,
                label_id=label_id, weight=weight,
            )  # fmt: skip
            await self.db.execute(
                "INSERT INTO contributions VALUES (?, ?, ?)", (sample_id, label_id, weight)
            )
        return event_id

    async def refollow(
        self, sample_ids: Iterable[int], judge: Judge, tolerance: float = 0.0
    ) -> int | None:
        """Decides the photos again (after a ban, or reliabilities re-estimated) and journals
        the corrections of those whose label changed or whose weight moved by more than
        `tolerance`, in one transaction. Returns the last event id."""
        event_id = None
        async with self.db.transaction():
            for sample_id in sample_ids:
                followed = await self.follow(sample_id, judge, None, tolerance=tolerance)
                event_id = followed or event_id
        return event_id

    async def policy(self) -> str | None:
        """The crowd policy the photos' standings were last judged under (see
        `bot.desk.people.Reliabilities.follow_policy`); None before any was."""
        return await self.db.value("SELECT value FROM store_meta WHERE key = 'crowd_policy'")

    async def set_policy(self, policy: str) -> None:
        await self.db.commit_one(
            "INSERT INTO store_meta VALUES ('crowd_policy', ?) ON CONFLICT(key) DO UPDATE SET "
            "value = excluded.value",
            (policy,),
        )

    async def withdraw_photos(self, user_id: int) -> int | None:
        """Journals taking back all that the person's own photos teach; returns the last
        event id. `People.delete` removes the photos once these events are checkpointed."""
        event_id = None
        async with self.db.transaction():
            sent = await self.db.all("SELECT id FROM samples WHERE user_id = ?", (user_id,))
            for (sample_id,) in sent:
                event_id = await self.follow(sample_id, _nothing, None) or event_id
        return event_id

    async def _save_verdict(self, sample_id: int, verdict: Verdict | None) -> None:
        if verdict is None:
            await self.db.execute("DELETE FROM verdicts WHERE sample_id = ?", (sample_id,))
            return
        await self.db.execute(
            "INSERT INTO verdicts VALUES (?, ?, ?, ?) ON CONFLICT(sample_id) DO UPDATE SET "
            "label_id = excluded.label_id, confidence = excluded.confidence, "
            "decided_at = excluded.decided_at",
            (sample_id, verdict.label_id, verdict.confidence, time.time()),
        )

    async def _save_standing(self, sample_id: int, judgement: Judgement) -> None:
        """The review queue's keys (see `bot.store.schema.samples`): how sure the crowd is of
        a photo it has votes on, else how sure the model was when the photo came."""
        if judgement.verdict is not None:
            certainty = judgement.verdict.confidence
        elif judgement.votes:
            certainty = 0.0
        else:
            stored = await self.db.value(
                "SELECT prediction FROM samples WHERE id = ?", (sample_id,)
            )
            certainty = margin(prediction(stored)) if stored is not None else 0.0
        await self.db.execute(
            "UPDATE samples SET standing = ?, votes = ?, certainty = ? WHERE id = ?",
            (int(judgement.state), judgement.votes, certainty, sample_id),
        )

    async def rebuild(self, version: int) -> None:
        """Makes `contributions` say what the model held at `version` again, after a rollback
        restored that version: the applied reinforce and unlearn events up to the last event
        the version held, folded per photo and label, each earlier rollback folded the same
        way from the version it restored."""
        events = await self.db.all(
            "SELECT id, kind, sample_id, label_id, weight, version FROM events WHERE result = "
            "'ok' ORDER BY id"
        )
        produced = await self.db.all("SELECT version, event_id FROM model_versions")

        def last_event(v: int) -> int:
            return max((e for ver, e in produced if ver <= v and e is not None), default=0)

        def fold(upto: int) -> dict[tuple[int, int], float]:
            held: dict[tuple[int, int], float] = {}
            for event_id, kind, sample_id, label_id, weight, target in events:
                if event_id > upto:
                    break
                if kind == EventKind.ROLLBACK:
                    held = fold(last_event(target))
                elif kind in (EventKind.REINFORCE, EventKind.UNLEARN) and sample_id is not None:
                    sign = 1 if kind == EventKind.REINFORCE else -1
                    key = (sample_id, label_id)
                    held[key] = held.get(key, 0.0) + sign * (1.0 if weight is None else weight)
            return held

        held = fold(last_event(version))
        async with self.db.transaction():
            await self.db.execute("DELETE FROM contributions")
            await self.db.execute_many(
                "INSERT INTO contributions VALUES (?, ?, ?)",
                [(s, label, w) for (s, label), w in held.items() if w > 1e-9],
            )

    async def contributions(self) -> list[tuple[int, int, float]]:
        """(sample id, label id, weight) of everything the model has been told to hold."""
        rows = await self.db.all(
            "SELECT sample_id, label_id, weight FROM contributions ORDER BY sample_id, label_id"
        )
        return [tuple(row) for row in rows]

    async def verdicts(self) -> dict[int, int]:
        """Each decided photo's consensus label id, by sample id."""
        return dict(await self.db.all("SELECT sample_id, label_id FROM verdicts"))

    async def progress(self) -> dict[State, tuple[int, int, int]]:
        """Per standing, of the photos from Telegram: how many, their votes, how many unvoted."""
        rows = await self.db.all(
            "SELECT standing, COUNT(*), SUM(votes), SUM(CASE WHEN votes = 0 THEN 1 ELSE 0 END) "
            "FROM samples WHERE user_id <> ? GROUP BY standing",
            (IMPORT_USER,),
        )
        return {State(row[0]): (int(row[1]), int(row[2] or 0), int(row[3] or 0)) for row in rows}

    async def standings(self) -> dict[State, int]:
        """How many photos stand where, imports (settled by their folder) included: one walk
        of the queue's index, for a scrape of `/metrics`."""
        rows = await self.db.all("SELECT standing, COUNT(*) FROM samples GROUP BY standing")
        return {State(row[0]): int(row[1]) for row in rows}

    async def standing(self, sample_id: int) -> tuple[State, float | None]:
        """Where the photo stands, and the confidence of its verdict if it has one."""
        row = await self.db.one(
            "SELECT s.standing, v.confidence FROM samples s LEFT JOIN verdicts v ON "
            "v.sample_id = s.id WHERE s.id = ?",
            (sample_id,),
        )
        return (State.WAITING, None) if row is None else (State(row[0]), row[1])

    async def verdict(self, sample_id: int) -> Verdict | None:
        row = await self.db.one(f"{STANDING} WHERE v.sample_id = ?", (sample_id,))
        return None if row is None else Verdict(row[0], row[1], State(row[2]))

    async def verdict_for_file(self, file_unique_id: str) -> Verdict | None:
        """The newest verdict on any photo of this file (the same photo sent again is a new
        sample; the crowd may have decided on any of them)."""
        row = await self.db.one(
            f"{STANDING} WHERE s.file_unique_id = ? ORDER BY s.id DESC LIMIT 1", (file_unique_id,)
        )
        return None if row is None else Verdict(row[0], row[1], State(row[2]))


def _nothing(ballots: list[Ballot]) -> Judgement:
    """The judgement on a photo about to be deleted: it teaches nothing."""
    return Judgement(None, 0, State.WAITING)
