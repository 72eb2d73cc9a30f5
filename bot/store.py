"""The bot's database: who sent which photo, who voted what, and the model's journal.

Every change to the model is first an `events` row (the journal, which doubles as the audit
trail); `bot.journal` applies the rows in id order through the model service, and after a crash
it replays the rows the last checkpoint does not include. Photos are not stored: Telegram keeps
them under their `file_id`; we keep a compact float16 embedding.

One connection; aiosqlite runs it on its own thread. Writes that must be atomic take
`self._lock`, since concurrent handlers share the connection. SQLite by default; PostgreSQL
through `bot.postgres.PostgresConnection`, which speaks the same part of aiosqlite, so every
query below is written once, in SQL both accept.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import aiosqlite
import numpy as np

from bot.postgres import DATABASE_ERRORS, INTEGRITY_ERRORS, PostgresConnection, is_postgres_url
from model_core.consensus import Ballot, Verdict
from model_core.labels import Label, LabelSet

MIGRATIONS = (  # append only: each entry moves the schema from version i to i + 1
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, first_seen REAL NOT NULL,
        last_seen REAL NOT NULL);
    CREATE TABLE labels (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, retired INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL);
    CREATE TABLE samples (
        id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL, photo_message_id INTEGER NOT NULL,
        reply_message_id INTEGER, user_id INTEGER NOT NULL, file_id TEXT NOT NULL,
        file_unique_id TEXT NOT NULL, embedding BLOB NOT NULL, prediction TEXT NOT NULL,
        model_version INTEGER NOT NULL, created_at REAL NOT NULL);
    CREATE INDEX samples_by_file ON samples(file_unique_id);
    CREATE TABLE votes (
        id INTEGER PRIMARY KEY, sample_id INTEGER NOT NULL REFERENCES samples(id),
        user_id INTEGER NOT NULL, label_id INTEGER, first_guess_right INTEGER,
        created_at REAL NOT NULL, undone_at REAL);
    CREATE UNIQUE INDEX one_vote_per_person ON votes(sample_id, user_id) WHERE undone_at IS NULL;
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, user_id INTEGER,
        sample_id INTEGER, vote_id INTEGER, label_id INTEGER, name TEXT, version INTEGER,
        created_at REAL NOT NULL, result TEXT);
    CREATE TABLE proposals (
        id INTEGER PRIMARY KEY, sample_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL, prompt_message_id INTEGER, name TEXT,
        status TEXT NOT NULL, decided_by INTEGER, created_at REAL NOT NULL);
    CREATE TABLE model_versions (
        version INTEGER PRIMARY KEY, event_id INTEGER, created_at REAL NOT NULL);
    """,
    # Crowd consensus: what each photo teaches the model now (contributions), the verdict on
    # its votes, each voter's estimated reliability, and bans. A photo voted on before this
    # version taught one example per live vote: that is what it holds until its next vote.
    """
    ALTER TABLE events ADD COLUMN weight REAL;
    CREATE TABLE contributions (
        sample_id INTEGER NOT NULL REFERENCES samples(id), label_id INTEGER NOT NULL,
        weight REAL NOT NULL, PRIMARY KEY (sample_id, label_id));
    INSERT INTO contributions SELECT sample_id, label_id, COUNT(*) FROM votes
        WHERE undone_at IS NULL AND label_id IS NOT NULL GROUP BY sample_id, label_id;
    CREATE TABLE verdicts (
        sample_id INTEGER PRIMARY KEY REFERENCES samples(id), label_id INTEGER NOT NULL,
        confidence REAL NOT NULL, settled INTEGER NOT NULL, decided_at REAL NOT NULL);
    CREATE TABLE reliability (
        user_id INTEGER PRIMARY KEY, reliability REAL NOT NULL, updated_at REAL NOT NULL);
    CREATE TABLE bans (
        user_id INTEGER PRIMARY KEY, banned_by INTEGER, created_at REAL NOT NULL);
    CREATE INDEX votes_by_user ON votes(user_id);
    """,
    # The review queue: photos re-sent to someone else for their vote, and the messages that
    # carry their buttons; display names shown on the leaderboard unless hidden.
    """
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY, sample_id INTEGER NOT NULL REFERENCES samples(id),
        user_id INTEGER NOT NULL, chat_id INTEGER NOT NULL, photo_message_id INTEGER NOT NULL,
        message_id INTEGER, created_at REAL NOT NULL);
    CREATE INDEX reviews_by_message ON reviews(chat_id, message_id);
    ALTER TABLE users ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
    """,
    # A photo Telegram no longer sends (its file id refused) leaves the review queue.
    """
    ALTER TABLE samples ADD COLUMN unavailable_since REAL;
    """,
    # The model's read-out per version, published by the trainer for replicas (bot.heads).
    """
    CREATE TABLE model_heads (
        version INTEGER PRIMARY KEY, last_event_id INTEGER NOT NULL, meta TEXT NOT NULL,
        arrays BLOB NOT NULL, created_at REAL NOT NULL);
    """,
    # Updates kept from their arrival until they are handled, so that a process killed in
    # between leaves them for its restart or another replica (bot.inbox).
    """
    CREATE TABLE inbox (
        bot_id INTEGER NOT NULL, update_id INTEGER NOT NULL, user_id INTEGER,
        payload TEXT NOT NULL, owner TEXT NOT NULL, claimed_at REAL NOT NULL,
        attempts INTEGER NOT NULL, received_at REAL NOT NULL, done_at REAL,
        PRIMARY KEY (bot_id, update_id));
    CREATE INDEX inbox_open ON inbox(done_at, claimed_at);
    CREATE INDEX inbox_by_user ON inbox(user_id);
    CREATE INDEX samples_by_message ON samples(chat_id, photo_message_id);
    """,
)
HEADS_KEPT = 5  # published heads kept: a replica only ever needs the newest


IMPORT_USER = 0  # `labelbot import` votes as this user id; Telegram never uses 0
EVENT_COLUMNS = "id, kind, user_id, sample_id, vote_id, label_id, name, version, weight"  # Event
HEADS_CHANNEL = "labelbot_heads"  # notified with a version when the trainer publishes it
EVENTS_CHANNEL = "labelbot_events"  # notified when a replica has committed journal events
Decide = Callable[[list[Ballot]], Verdict | None]
"""A photo's verdict from its live votes in vote order (`model_core.consensus.Crowd.decide`)."""


class VoteRefused(Exception):
    """A vote or undo that must change nothing; the message is shown to the person."""


class StoreError(RuntimeError):
    """The database cannot be opened or written; the message says which file and why."""


class ProposalState(StrEnum):
    AWAITING_NAME = "awaiting_name"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class EventKind(StrEnum):
    REINFORCE = "reinforce"
    UNLEARN = "unlearn"
    ADD_LABEL = "add_label"
    RENAME_LABEL = "rename_label"
    RETIRE_LABEL = "retire_label"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Prediction:
    """One guess as it was shown: a label id (names change, ids never do) and its probability."""

    label_id: int
    probability: float


@dataclass(frozen=True)
class NewSample:
    """A photo about to be stored: where it came from and what the model saw in it."""

    chat_id: int
    photo_message_id: int
    user_id: int
    file_id: str
    file_unique_id: str
    embedding: np.ndarray
    prediction: tuple[Prediction, ...]
    model_version: int


@dataclass(frozen=True)
class Sample(NewSample):
    id: int
    reply_message_id: int | None = None


@dataclass(frozen=True)
class StoredVote:
    user_id: int
    label_id: int
    created_at: float


@dataclass(frozen=True)
class StoredPhoto:
    """A sample as an export reads it: where it came from, what the model saw, who voted."""

    id: int
    chat_id: int
    message_id: int
    sender_id: int
    file_id: str
    file_unique_id: str
    embedding: np.ndarray
    prediction: tuple[Prediction, ...]
    model_version: int
    created_at: float
    votes: tuple[StoredVote, ...]
    verdict: Verdict | None  # None: no vote yet, or voted on before consensus was kept


@dataclass(frozen=True)
class Candidate:
    """A photo the review queue could send, and what ranks it."""

    sample_id: int
    prediction: tuple[Prediction, ...]
    settled: bool
    gold: bool  # settled by an admin (or an import): its label is known
    labels_named: int  # distinct labels its live votes name: more than one is disagreement

    @property
    def margin(self) -> float:
        """How much surer the model is of its first guess than of its second."""
        p = [guess.probability for guess in self.prediction] + [0.0, 0.0]
        return p[0] - p[1]


@dataclass(frozen=True)
class Event:
    id: int
    kind: EventKind
    user_id: int | None
    sample_id: int | None
    vote_id: int | None
    label_id: int | None
    name: str | None
    version: int | None
    weight: float | None = None  # of a reinforce or unlearn: None means 1


@dataclass(frozen=True)
class EventRecord:
    """An event as the audit trail shows it."""

    id: int
    kind: EventKind
    result: str | None


@dataclass(frozen=True)
class InboxEntry:
    """An update as the inbox keeps it: Telegram's ids, its sender, and its JSON."""

    bot_id: int
    update_id: int
    user_id: int | None
    payload: str


@dataclass(frozen=True)
class Proposal:
    id: int
    sample_id: int
    user_id: int
    chat_id: int
    name: str | None
    state: ProposalState


class Store:
    def __init__(self, connection: aiosqlite.Connection | PostgresConnection) -> None:
        self._db = connection
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, database: Path | str) -> Store:
        """A `postgresql://` URL, or the path of the SQLite file."""
        if is_postgres_url(database):
            return await cls.open_postgres(database)
        return await cls.open(Path(database))

    @classmethod
    async def open_postgres(cls, url: str) -> Store:
        """Connects to (and migrates) a PostgreSQL database; StoreError says why it cannot."""
        try:
            connection = await PostgresConnection.connect(url)
            await connection.migrate()
        except DATABASE_ERRORS as error:
            raise StoreError(f"cannot use the database {_without_password(url)}: {error}") from None
        return cls(connection)

    @classmethod
    async def open(cls, path: Path) -> Store:
        """Opens (and migrates) the database; StoreError says why it cannot be used."""
        try:
            connection = await aiosqlite.connect(path, timeout=5)
            connection.row_factory = aiosqlite.Row
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA foreign_keys=ON")
            store = cls(connection)
            await store._migrate()
        except sqlite3.Error as error:
            raise StoreError(f"cannot use the database {path}: {error}") from error
        return store

    async def close(self) -> None:
        await self._db.close()

    async def _commit_one(self, query: str, args: tuple) -> int:
        """Runs one statement in a transaction of its own; the row id it wrote."""
        async with self._lock:
            cursor = await self._db.execute(query, args)
            await self._db.commit()
            return cursor.lastrowid

    async def schema_version(self) -> int:
        if isinstance(self._db, PostgresConnection):
            return await self._db.schema_version()
        async with self._db.execute("PRAGMA user_version") as cursor:
            return (await cursor.fetchone())[0]

    async def _migrate(self) -> None:
        for version in range(await self.schema_version(), len(MIGRATIONS)):
            await self._db.executescript(
                f"BEGIN; {MIGRATIONS[version]} PRAGMA user_version = {version + 1}; COMMIT;"
            )

    # ---- samples -------------------------------------------------------------------------------

    async def add_sample(self, new: NewSample) -> Sample:
        async with self._lock:
            sample_id = await self._insert_sample(new)
            await self._db.commit()
        return Sample(**vars(new), id=sample_id)

    async def _insert_sample(self, new: NewSample) -> int:
        prediction = json.dumps([vars(p) for p in new.prediction])
        cursor = await self._db.execute(
            "INSERT INTO samples (chat_id, photo_message_id, user_id, file_id, file_unique_id, "
            "embedding, prediction, model_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (new.chat_id, new.photo_message_id, new.user_id, new.file_id, new.file_unique_id,
             np.asarray(new.embedding, np.float16).tobytes(), prediction, new.model_version,
             time.time()),
        )  # fmt: skip
        return cursor.lastrowid

    async def set_reply_message(self, sample_id: int, message_id: int) -> None:
        async with self._lock:
            await self._db.execute(
                "UPDATE samples SET reply_message_id = ? WHERE id = ?", (message_id, sample_id)
            )
            await self._db.commit()

    async def sample(self, sample_id: int) -> Sample | None:
        return await self._one_sample("SELECT * FROM samples WHERE id = ?", (sample_id,))

    async def sample_by_file(self, file_unique_id: str) -> Sample | None:
        """The earliest sample of the same photo (Telegram's file_unique_id), if any."""
        return await self._one_sample(
            "SELECT * FROM samples WHERE file_unique_id = ? ORDER BY id LIMIT 1", (file_unique_id,)
        )

    async def last_vote_id(self) -> int:
        """The newest vote's id (0 before the first): how many votes were cast since a mark,
        by whichever process, in one index lookup."""
        async with self._db.execute("SELECT COALESCE(MAX(id), 0) FROM votes") as cursor:
            return (await cursor.fetchone())[0]

    async def sample_by_message(self, chat_id: int, message_id: int) -> Sample | None:
        """The sample stored from this very message, if it was handled before."""
        return await self._one_sample(
            "SELECT * FROM samples WHERE chat_id = ? AND photo_message_id = ? ORDER BY id LIMIT 1",
            (chat_id, message_id),
        )

    async def known_files(self, file_unique_ids: Iterable[str]) -> set[str]:
        """Which of these photos are stored already (how an import skips what it learned)."""
        wanted = list(file_unique_ids)
        found: set[str] = set()
        for start in range(0, len(wanted), 500):  # SQLite's limit on bound parameters
            part = wanted[start : start + 500]
            query = "SELECT file_unique_id FROM samples WHERE file_unique_id IN (%s)"
            async with self._db.execute(query % ",".join("?" * len(part)), part) as cursor:
                found.update([row[0] async for row in cursor])
        return found

    async def _one_sample(self, query: str, args: tuple) -> Sample | None:
        async with self._db.execute(query, args) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        prediction = _prediction(row["prediction"])
        return Sample(
            chat_id=row["chat_id"], photo_message_id=row["photo_message_id"],
            user_id=row["user_id"], file_id=row["file_id"], file_unique_id=row["file_unique_id"],
            embedding=np.frombuffer(row["embedding"], np.float16).astype(np.float32),
            prediction=prediction, model_version=row["model_version"], id=row["id"],
            reply_message_id=row["reply_message_id"],
        )  # fmt: skip

    # ---- votes ---------------------------------------------------------------------------------

    async def record_vote(
        self, sample: Sample, user_id: int, label_id: int | None, decide: Decide
    ) -> int | None:
        """Commits a vote (label None = skip) and, in the same transaction, the journal events
        that make the model follow the photo's new consensus (see `_follow`).

        Returns the last event id (None when the model has nothing to change). Raises
        VoteRefused for a second vote; the same vote again (a tap handled twice, see
        `bot.inbox`) changes nothing and returns None.
        """
        async with self._lock:
            try:
                await self._insert_vote(sample, user_id, label_id)
            except (aiosqlite.IntegrityError, *INTEGRITY_ERRORS) as error:
                await self._db.rollback()
                async with self._db.execute(
                    "SELECT label_id FROM votes WHERE sample_id = ? AND user_id = ? "
                    "AND undone_at IS NULL",
                    (sample.id, user_id),
                ) as cursor:
                    live = await cursor.fetchone()
                if live is not None and live[0] == label_id:
                    return None
                raise VoteRefused("You already voted on this photo.") from error
            event_id = await self._follow(sample.id, decide, user_id)
            await self._db.commit()
            return event_id

    async def import_samples(
        self, samples: Sequence[tuple[NewSample, int]], decide: Decide
    ) -> int | None:
        """Stores imported photos, each with its label's vote by IMPORT_USER and its journal
        events, in one transaction: an interrupted import keeps whole photos or none. Returns
        the last event id (None for no photo)."""
        event_id = None
        async with self._lock:
            for new, label_id in samples:
                sample = Sample(**vars(new), id=await self._insert_sample(new))
                await self._insert_vote(sample, IMPORT_USER, label_id)
                event_id = await self._follow(sample.id, decide, IMPORT_USER) or event_id
            await self._db.commit()
        return event_id

    async def _insert_vote(self, sample: Sample, user_id: int, label_id: int | None) -> None:
        top = sample.prediction[0].label_id if sample.prediction else None
        right = None if label_id is None else int(label_id == top)
        await self._db.execute(
            "INSERT INTO votes (sample_id, user_id, label_id, first_guess_right, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (sample.id, user_id, label_id, right, time.time()),
        )

    async def undo_vote(
        self, sample: Sample, user_id: int, window: float, decide: Decide
    ) -> int | None:
        """Withdraws the person's vote on the sample if it is younger than `window` seconds.

        Returns the last journal event that makes the model follow the consensus without it.
        """
        async with self._lock:
            async with self._db.execute(
                "SELECT id, created_at FROM votes WHERE sample_id = ? AND user_id = ? "
                "AND undone_at IS NULL",
                (sample.id, user_id),
            ) as cursor:
                vote = await cursor.fetchone()
            if vote is None:
                raise VoteRefused("There is no vote of yours to undo on this photo.")
            if time.time() - vote["created_at"] > window:
                raise VoteRefused("Too late to undo this vote.")
            await self._db.execute(
                "UPDATE votes SET undone_at = ? WHERE id = ?", (time.time(), vote["id"])
            )
            event_id = await self._follow(sample.id, decide, user_id)
            await self._db.commit()
            return event_id

    async def refollow(
        self, sample_ids: Iterable[int], decide: Decide, tolerance: float = 0.0
    ) -> int | None:
        """Decides the photos again (after a ban, or reliabilities re-estimated) and journals
        the corrections of those whose label changed or whose weight moved by more than
        `tolerance`, in one transaction. Returns the last event id."""
        event_id = None
        async with self._lock:
            for sample_id in sample_ids:
                event_id = await self._follow(sample_id, decide, None, tolerance) or event_id
            await self._db.commit()
        return event_id

    async def _follow(
        self, sample_id: int, decide: Decide, user_id: int | None, tolerance: float = 0.0
    ) -> int | None:
        """Records the photo's verdict on its live votes, and when what the photo teaches the
        model changes, the journal events that take the old contribution back and teach the
        new one (an unlearn and a reinforce, each weighted). Inside the caller's transaction.
        """
        async with self._db.execute(
            "SELECT user_id, label_id FROM votes WHERE sample_id = ? AND undone_at IS NULL "
            "AND label_id IS NOT NULL ORDER BY id",
            (sample_id,),
        ) as cursor:
            verdict = decide([Ballot(row[0], row[1]) async for row in cursor])
        await self._save_verdict(sample_id, verdict)
        async with self._db.execute(
            "SELECT label_id, weight FROM contributions WHERE sample_id = ?", (sample_id,)
        ) as cursor:
            held = {row[0]: row[1] async for row in cursor}
        wanted = {} if verdict is None else {verdict.label_id: verdict.confidence}
        if held.keys() == wanted.keys() and all(
            abs(held[k] - wanted[k]) <= tolerance for k in held
        ):
            return None
        event_id = None
        for label_id, weight in held.items():
            event_id = await self._insert_event(EventKind.UNLEARN, user_id, sample_id=sample_id,
                                                label_id=label_id, weight=weight)  # fmt: skip
        await self._db.execute("DELETE FROM contributions WHERE sample_id = ?", (sample_id,))
        for label_id, weight in wanted.items():
            event_id = await self._insert_event(EventKind.REINFORCE, user_id, sample_id=sample_id,
                                                label_id=label_id, weight=weight)  # fmt: skip
            await self._db.execute(
                "INSERT INTO contributions VALUES (?, ?, ?)", (sample_id, label_id, weight)
            )
        return event_id

    async def _save_verdict(self, sample_id: int, verdict: Verdict | None) -> None:
        if verdict is None:
            await self._db.execute("DELETE FROM verdicts WHERE sample_id = ?", (sample_id,))
            return
        await self._db.execute(
            "INSERT INTO verdicts VALUES (?, ?, ?, ?, ?) ON CONFLICT(sample_id) DO UPDATE SET "
            "label_id = excluded.label_id, confidence = excluded.confidence, "
            "settled = excluded.settled, decided_at = excluded.decided_at",
            (sample_id, verdict.label_id, verdict.confidence, int(verdict.settled), time.time()),
        )

    async def rebuild_contributions(self, version: int) -> None:
        """Makes `contributions` say what the model held at `version` again, after a rollback
        restored that version: the applied reinforce and unlearn events up to the last event
        the version held, folded per photo and label, each earlier rollback folded the same
        way from the version it restored."""
        async with self._db.execute(
            "SELECT id, kind, sample_id, label_id, weight, version FROM events WHERE result = "
            "'ok' ORDER BY id"
        ) as cursor:
            events = [tuple(row) async for row in cursor]
        async with self._db.execute("SELECT version, event_id FROM model_versions") as cursor:
            produced = [tuple(row) async for row in cursor]

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
        async with self._lock:
            await self._db.execute("DELETE FROM contributions")
            await self._db.executemany(
                "INSERT INTO contributions VALUES (?, ?, ?)",
                [(s, label, w) for (s, label), w in held.items() if w > 1e-9],
            )
            await self._db.commit()

    async def contributions(self) -> list[tuple[int, int, float]]:
        """(sample id, label id, weight) of everything the model has been told to hold."""
        async with self._db.execute(
            "SELECT sample_id, label_id, weight FROM contributions ORDER BY sample_id, label_id"
        ) as cursor:
            return [tuple(row) async for row in cursor]

    # ---- people ------------------------------------------------------------------------------

    async def touch_user(self, user_id: int, name: str) -> None:
        """Remembers a person's display name (for the leaderboard) and when they were seen."""
        now = time.time()
        await self._commit_one(
            "INSERT INTO users (id, name, first_seen, last_seen) VALUES (?, ?, ?, ?) ON "
            "CONFLICT(id) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen",
            (user_id, name, now, now),
        )

    async def people(self) -> dict[int, tuple[str, bool]]:
        """Display name and whether they hide from the leaderboard, by user id."""
        async with self._db.execute("SELECT id, name, hidden FROM users") as cursor:
            return {row[0]: (row[1], bool(row[2])) async for row in cursor}

    async def set_hidden(self, user_id: int, hidden: bool) -> None:
        now = time.time()
        await self._commit_one(
            "INSERT INTO users (id, name, first_seen, last_seen, hidden) VALUES "
            "(?, '', ?, ?, ?) ON CONFLICT(id) DO UPDATE SET hidden = excluded.hidden",
            (user_id, now, now, int(hidden)),
        )

    async def verdicts(self) -> dict[int, int]:
        """Each decided photo's consensus label id, by sample id."""
        async with self._db.execute("SELECT sample_id, label_id FROM verdicts") as cursor:
            return {row[0]: row[1] async for row in cursor}

    # ---- the review queue --------------------------------------------------------------------

    async def review_candidates(
        self, user_id: int, gold: Iterable[int], limit: int = 2000
    ) -> list[Candidate]:
        """Recent photos from Telegram that this person neither sent nor voted on, with what
        ranks them: their verdict, whether a `gold` voter (an admin) voted on them, how many
        labels their votes name, and their stored guesses."""
        gold = sorted(set(gold)) or [IMPORT_USER]
        marks = ", ".join("?" * len(gold))
        async with self._db.execute(
            "SELECT s.id, s.prediction, v.settled, EXISTS (SELECT 1 FROM votes WHERE sample_id "
            f"= s.id AND undone_at IS NULL AND user_id IN ({marks})), (SELECT COUNT(DISTINCT "
            "label_id) FROM votes WHERE sample_id = s.id AND undone_at IS NULL AND label_id IS "
            "NOT NULL) FROM samples s LEFT JOIN verdicts v ON v.sample_id = s.id "
            "WHERE s.user_id NOT IN (?, ?) AND s.unavailable_since IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM votes WHERE sample_id = s.id AND user_id = ?) "
            "ORDER BY s.id DESC LIMIT ?",
            (*gold, user_id, IMPORT_USER, user_id, limit),
        ) as cursor:
            return [
                Candidate(row[0], _prediction(row[1]), bool(row[2]), bool(row[3]), row[4])
                async for row in cursor
            ]

    async def mark_unavailable(self, sample_id: int) -> None:
        await self._commit_one(
            "UPDATE samples SET unavailable_since = ? WHERE id = ?", (time.time(), sample_id)
        )

    async def add_review(self, sample_id: int, user_id: int, chat_id: int, photo: int) -> int:
        return await self._commit_one(
            "INSERT INTO reviews (sample_id, user_id, chat_id, photo_message_id, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (sample_id, user_id, chat_id, photo, time.time()),
        )

    async def set_review_message(self, review_id: int, message_id: int) -> None:
        await self._commit_one(
            "UPDATE reviews SET message_id = ? WHERE id = ?", (message_id, review_id)
        )

    async def is_review(
        self, sample_id: int, chat_id: int, message_id: int, quoted: int | None
    ) -> bool:
        """Whether the message carries this photo's buttons as a review (right after sending,
        before its id is stored, the re-sent photo it quotes tells)."""
        async with self._db.execute(
            "SELECT 1 FROM reviews WHERE sample_id = ? AND chat_id = ? AND (message_id = ? OR "
            "(message_id IS NULL AND photo_message_id = ?))",
            (sample_id, chat_id, message_id, quoted),
        ) as cursor:
            return await cursor.fetchone() is not None

    # ---- the crowd ---------------------------------------------------------------------------

    async def live_votes(self) -> list[tuple[int, int, int]]:
        """(sample id, user id, label id) of every live vote naming a label, in vote order."""
        async with self._db.execute(
            "SELECT sample_id, user_id, label_id FROM votes WHERE undone_at IS NULL AND "
            "label_id IS NOT NULL ORDER BY id"
        ) as cursor:
            return [tuple(row) async for row in cursor]

    async def samples_voted_by(self, user_id: int) -> list[int]:
        async with self._db.execute(
            "SELECT DISTINCT sample_id FROM votes WHERE user_id = ? AND undone_at IS NULL "
            "ORDER BY sample_id",
            (user_id,),
        ) as cursor:
            return [row[0] async for row in cursor]

    async def reliabilities(self) -> dict[int, float]:
        async with self._db.execute("SELECT user_id, reliability FROM reliability") as cursor:
            return {row[0]: row[1] async for row in cursor}

    async def save_reliabilities(self, reliability: dict[int, float]) -> None:
        async with self._lock:
            await self._db.execute("DELETE FROM reliability")
            now = time.time()
            await self._db.executemany(
                "INSERT INTO reliability VALUES (?, ?, ?)",
                [(user, p, now) for user, p in reliability.items()],
            )
            await self._db.commit()

    async def banned(self) -> frozenset[int]:
        async with self._db.execute("SELECT user_id FROM bans") as cursor:
            return frozenset([row[0] async for row in cursor])

    async def set_banned(self, user_id: int, banned: bool, by: int | None) -> None:
        async with self._lock:
            if banned:
                await self._db.execute(
                    "INSERT INTO bans VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (user_id, by, time.time()),
                )
            else:
                await self._db.execute("DELETE FROM bans WHERE user_id = ?", (user_id,))
            await self._db.commit()

    async def forget_votes(self, user_id: int, decide: Decide) -> int | None:
        """Deletes the person's votes and journals the corrections of the photos they voted
        on, in one transaction; returns the last event id."""
        async with self._lock:
            async with self._db.execute(
                "SELECT DISTINCT sample_id FROM votes WHERE user_id = ?", (user_id,)
            ) as cursor:
                voted = [row[0] async for row in cursor]
            await self._db.execute("DELETE FROM votes WHERE user_id = ?", (user_id,))
            event_id = None
            for sample_id in voted:
                event_id = await self._follow(sample_id, decide, None) or event_id
            await self._db.commit()
        return event_id

    async def withdraw_photos(self, user_id: int) -> int | None:
        """Journals taking back all that the person's own photos teach; returns the last
        event id. `delete_person` removes the photos once these events are checkpointed."""
        async with self._lock:
            async with self._db.execute(
                "SELECT id FROM samples WHERE user_id = ?", (user_id,)
            ) as cursor:
                sent = [row[0] async for row in cursor]
            event_id = None
            for sample_id in sent:
                event_id = await self._follow(sample_id, lambda ballots: None, None) or event_id
            await self._db.commit()
        return event_id

    async def delete_person(self, user_id: int) -> None:
        """Deletes every row that names the person: their photos (with the votes, verdicts and
        proposals on them), proposals, reliability, ban and user row; their events keep no
        user id. Call once what their photos taught has been withdrawn and checkpointed."""
        async with self._lock:
            sent = "SELECT id FROM samples WHERE user_id = ?"
            for table in ("votes", "verdicts", "contributions", "proposals", "reviews"):
                await self._db.execute(
                    f"DELETE FROM {table} WHERE sample_id IN ({sent})", (user_id,)
                )
            await self._db.execute("UPDATE events SET sample_id = NULL WHERE sample_id IN "
                                   f"({sent})", (user_id,))  # fmt: skip
            await self._db.execute("DELETE FROM samples WHERE user_id = ?", (user_id,))
            for table, column in (("votes", "user_id"), ("proposals", "user_id"),
                                  ("reviews", "user_id"), ("inbox", "user_id"),
                                  ("reliability", "user_id"), ("bans", "user_id"),
                                  ("users", "id")):  # fmt: skip
                await self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (user_id,))
            await self._db.execute("UPDATE events SET user_id = NULL WHERE user_id = ?", (user_id,))
            await self._db.execute(
                "UPDATE proposals SET decided_by = NULL WHERE decided_by = ?", (user_id,)
            )
            await self._db.execute("UPDATE bans SET banned_by = NULL WHERE banned_by = ?",
                                   (user_id,))  # fmt: skip
            await self._db.commit()

    async def rows_naming(self, user_id: int) -> int:
        """How many rows still name the person (what `/forgetme` must bring to zero)."""
        checks = ("SELECT COUNT(*) FROM samples WHERE user_id = ?",
                  "SELECT COUNT(*) FROM votes WHERE user_id = ?",
                  "SELECT COUNT(*) FROM events WHERE user_id = ?",
                  "SELECT COUNT(*) FROM proposals WHERE user_id = ? OR decided_by = ?",
                  "SELECT COUNT(*) FROM reliability WHERE user_id = ?",
                  "SELECT COUNT(*) FROM bans WHERE user_id = ? OR banned_by = ?",
                  "SELECT COUNT(*) FROM reviews WHERE user_id = ?",
                  "SELECT COUNT(*) FROM inbox WHERE user_id = ?",
                  "SELECT COUNT(*) FROM users WHERE id = ?")  # fmt: skip
        total = 0
        for query in checks:
            async with self._db.execute(query, (user_id,) * query.count("?")) as cursor:
                total += (await cursor.fetchone())[0]
        return total

    async def verdict_for_file(self, file_unique_id: str) -> Verdict | None:
        """The newest verdict on any photo of this file (the same photo sent again is a new
        sample; the crowd may have decided on any of them)."""
        async with self._db.execute(
            "SELECT v.label_id, v.confidence, v.settled FROM verdicts v JOIN samples s ON "
            "s.id = v.sample_id WHERE s.file_unique_id = ? ORDER BY s.id DESC LIMIT 1",
            (file_unique_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else Verdict(row[0], row[1], bool(row[2]))

    async def verdict(self, sample_id: int) -> Verdict | None:
        async with self._db.execute(
            "SELECT label_id, confidence, settled FROM verdicts WHERE sample_id = ?", (sample_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else Verdict(row[0], row[1], bool(row[2]))

    async def tally(self, sample_id: int) -> dict[int | None, int]:
        """Live votes per label id (None: skips)."""
        async with self._db.execute(
            "SELECT label_id, COUNT(*) FROM votes WHERE sample_id = ? AND undone_at IS NULL "
            "GROUP BY label_id",
            (sample_id,),
        ) as cursor:
            return {row[0]: row[1] async for row in cursor}

    async def first_guess_history(self) -> list[bool]:
        """Whether the bot's top guess was what people chose, vote by vote (skips and imports
        left out)."""
        async with self._db.execute(
            "SELECT first_guess_right FROM votes WHERE undone_at IS NULL AND "
            "first_guess_right IS NOT NULL AND user_id != ? ORDER BY id",
            (IMPORT_USER,),
        ) as cursor:
            return [bool(row[0]) async for row in cursor]

    async def vote_count(self) -> int:
        async with self._db.execute("SELECT COUNT(*) FROM votes WHERE undone_at IS NULL") as c:
            return (await c.fetchone())[0]

    async def vote_labels(self) -> list[str]:
        """The label name of every live vote, in vote order, as the store names it."""
        async with self._db.execute(
            "SELECT labels.name FROM votes JOIN labels ON labels.id = votes.label_id "
            "WHERE votes.undone_at IS NULL ORDER BY votes.id"
        ) as cursor:
            return [row[0] async for row in cursor]

    async def photos_for_export(self, since: float = 0.0) -> list[StoredPhoto]:
        """Every photo stored at or after `since` (epoch seconds), with its live votes (skips
        left out), in sample order."""
        votes: dict[int, list[StoredVote]] = {}
        async with self._db.execute(
            "SELECT sample_id, user_id, label_id, created_at FROM votes WHERE undone_at IS NULL "
            "AND label_id IS NOT NULL ORDER BY id"
        ) as cursor:
            async for row in cursor:
                votes.setdefault(row[0], []).append(StoredVote(row[1], row[2], row[3]))
        async with self._db.execute(
            "SELECT id, chat_id, photo_message_id, samples.user_id, file_id, file_unique_id, "
            "embedding, prediction, model_version, created_at, verdicts.label_id, confidence, "
            "settled FROM samples LEFT JOIN verdicts ON verdicts.sample_id = samples.id "
            "WHERE created_at >= ? ORDER BY id",
            (since,),
        ) as cursor:
            return [_stored_photo(row, votes.get(row[0], [])) async for row in cursor]

    # ---- the inbox (bot.inbox) -----------------------------------------------------------------

    async def inbox_receive(self, entry: InboxEntry, owner: str) -> bool:
        """Keeps an update claimed by `owner`; False if this update was received before (a
        redelivery, which must not be handled again)."""
        now = time.time()
        async with self._lock:
            cursor = await self._db.execute(
                "INSERT INTO inbox (bot_id, update_id, user_id, payload, owner, claimed_at, "
                "attempts, received_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?) "
                "ON CONFLICT (bot_id, update_id) DO NOTHING",
                (entry.bot_id, entry.update_id, entry.user_id, entry.payload, owner, now, now),
            )
            await self._db.commit()
        return cursor.rowcount == 1

    async def inbox_done(self, bot_id: int, update_id: int) -> None:
        """Marks the update handled and drops its content: only its ids are kept, to
        recognise a redelivery, not what the person sent."""
        await self._commit_one(
            "UPDATE inbox SET done_at = ?, payload = '' WHERE bot_id = ? AND update_id = ?",
            (time.time(), bot_id, update_id),
        )

    async def inbox_renew(self, owner: str) -> None:
        """Tells the other processes that `owner` still works on its open updates."""
        await self._commit_one(
            "UPDATE inbox SET claimed_at = ? WHERE owner = ? AND done_at IS NULL",
            (time.time(), owner),
        )

    async def inbox_claim(
        self, owner: str, stale_before: float, started: float, max_attempts: int
    ) -> list[InboxEntry]:
        """Takes over the open updates whose claim went stale (their owner died), and those
        `owner` claimed before it `started` (it restarted). Each claim is a compare-and-set,
        so of two processes sweeping at once only one takes an update."""
        async with self._lock:
            async with self._db.execute(
                "SELECT bot_id, update_id, user_id, payload, owner, claimed_at FROM inbox "
                "WHERE done_at IS NULL AND attempts < ? AND (claimed_at < ? OR "
                "(owner = ? AND claimed_at < ?)) ORDER BY update_id",
                (max_attempts, stale_before, owner, started),
            ) as cursor:
                rows = await cursor.fetchall()
            claimed, now = [], time.time()
            for bot_id, update_id, user_id, payload, was_owner, claimed_at in rows:
                cursor = await self._db.execute(
                    "UPDATE inbox SET owner = ?, claimed_at = ?, attempts = attempts + 1 "
                    "WHERE bot_id = ? AND update_id = ? AND owner = ? AND claimed_at = ? "
                    "AND done_at IS NULL",
                    (owner, now, bot_id, update_id, was_owner, claimed_at),
                )
                if cursor.rowcount == 1:
                    claimed.append(InboxEntry(bot_id, update_id, user_id, payload))
            await self._db.commit()
        return claimed

    async def inbox_give_up(self, stale_before: float, max_attempts: int) -> list[int]:
        """Closes the open updates whose last allowed attempt died with its process; their
        ids. Their content stays until pruned, for whoever looks into why."""
        async with self._lock:
            async with self._db.execute(
                "SELECT bot_id, update_id FROM inbox WHERE done_at IS NULL AND attempts >= ? "
                "AND claimed_at < ? ORDER BY update_id",
                (max_attempts, stale_before),
            ) as cursor:
                candidates = await cursor.fetchall()
            given_up, now = [], time.time()
            for bot_id, update_id in candidates:  # closed by this process, or by another
                cursor = await self._db.execute(
                    "UPDATE inbox SET done_at = ?, owner = 'given up' WHERE bot_id = ? "
                    "AND update_id = ? AND done_at IS NULL",
                    (now, bot_id, update_id),
                )
                if cursor.rowcount == 1:
                    given_up.append(update_id)
            await self._db.commit()
        return given_up

    async def inbox_prune(self, before: float) -> None:
        """Forgets updates received before `before` that were handled or given up on."""
        await self._commit_one(
            "DELETE FROM inbox WHERE received_at < ? AND done_at IS NOT NULL", (before,)
        )

    # ---- published heads (trainer and replicas) --------------------------------------------

    async def publish_head(self, version: int, last_event_id: int, meta: str, arrays: bytes):
        """Stores a model version's read-out (again, if only its meta changed) and wakes the
        replicas that follow it."""
        async with self._lock:
            await self._db.execute(
                "INSERT INTO model_heads VALUES (?, ?, ?, ?, ?) ON CONFLICT(version) DO UPDATE "
                "SET meta = excluded.meta, arrays = excluded.arrays",
                (version, last_event_id, meta, arrays, time.time()),
            )
            await self._db.execute(
                "DELETE FROM model_heads WHERE version NOT IN (SELECT version FROM model_heads "
                "ORDER BY version DESC LIMIT ?)",
                (HEADS_KEPT,),
            )
            await self._db.commit()
        await self.notify(HEADS_CHANNEL, str(version))

    async def latest_head_meta(self) -> tuple[int, str] | None:
        """The newest published head's version and meta (small: polled), or None before the
        trainer's first."""
        async with self._db.execute(
            "SELECT version, meta FROM model_heads ORDER BY version DESC LIMIT 1"
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else (row[0], row[1])

    async def head_arrays(self, version: int) -> bytes:
        async with self._db.execute(
            "SELECT arrays FROM model_heads WHERE version = ?", (version,)
        ) as cursor:
            return bytes((await cursor.fetchone())[0])

    async def notify(self, channel: str, payload: str = "") -> None:
        """A PostgreSQL notification to the processes that listen on `channel`."""
        if isinstance(self._db, PostgresConnection):
            await self._db.notify(channel, payload)

    async def event_outcome(self, event_id: int) -> tuple[Event, str | None, int | None]:
        """An event, its result ("ok", "refused: …" or None while pending), and the model
        version that applying it produced."""
        async with self._db.execute(
            f"SELECT {EVENT_COLUMNS}, result, (SELECT version FROM model_versions WHERE "
            "event_id = events.id) FROM events WHERE id = ?",
            (event_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return Event(row[0], EventKind(row[1]), *row[2:9]), row[9], row[10]

    # ---- the model journal ---------------------------------------------------------------------

    async def add_event(self, kind: EventKind, user_id: int | None, **fields) -> int:
        async with self._lock:
            event_id = await self._insert_event(kind, user_id, **fields)
            await self._db.commit()
            return event_id

    async def _insert_event(self, kind: EventKind, user_id: int | None, **fields) -> int:
        if isinstance(self._db, PostgresConnection):
            await self._db.lock_journal()  # SQLite's one writer at a time gives the same order
        columns = ["kind", "user_id", "created_at", *fields]
        cursor = await self._db.execute(
            f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            (str(kind), user_id, time.time(), *fields.values()),
        )
        return cursor.lastrowid

    async def events_after(self, event_id: int) -> list[Event]:
        """Committed events only: the lock keeps out a write transaction's rows that are on
        this shared connection but not yet committed (applying one that a crash then rolls
        back would let its id be reused and the next event be skipped)."""
        async with (
            self._lock,
            self._db.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id",
                (event_id,),
            ) as cursor,
        ):
            return [Event(row[0], EventKind(row[1]), *row[2:]) async for row in cursor]

    async def event_applied(self, event_id: int, result: str, version: int | None) -> None:
        async with self._lock:
            await self._db.execute("UPDATE events SET result = ? WHERE id = ?", (result, event_id))
            if version is not None:
                await self._db.execute(
                    "INSERT INTO model_versions VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (version, event_id, time.time()),
                )
            await self._db.commit()

    async def recent_events(self, limit: int = 10) -> list[EventRecord]:
        """The newest events other than votes, newest first."""
        async with self._db.execute(
            "SELECT id, kind, result FROM events WHERE kind != ? ORDER BY id DESC LIMIT ?",
            (str(EventKind.REINFORCE), limit),
        ) as cursor:
            return [EventRecord(row[0], EventKind(row[1]), row[2]) async for row in cursor]

    async def save_labels(self, labels: Iterable[Label]) -> None:
        """Mirrors the model's labels for SQL readers and exports. Rows are never deleted: the
        highest id here is a high-water mark that a rollback cannot lower."""
        async with self._lock:
            await self._db.executemany(
                "INSERT INTO labels VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = "
                "excluded.name, retired = excluded.retired, updated_at = excluded.updated_at",
                [(label.id, label.name, int(label.retired), time.time()) for label in labels],
            )
            await self._db.commit()

    async def labels(self) -> LabelSet:
        """Every label the store has seen, in id order."""
        async with self._db.execute("SELECT id, name, retired FROM labels ORDER BY id") as cursor:
            return LabelSet(tuple([Label(r[0], r[1], bool(r[2])) async for r in cursor]))

    # ---- label proposals -----------------------------------------------------------------------

    async def propose(self, sample_id: int, user_id: int, chat_id: int) -> int:
        return await self._commit_one(
            "INSERT INTO proposals (sample_id, user_id, chat_id, status, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (sample_id, user_id, chat_id, str(ProposalState.AWAITING_NAME), time.time()),
        )

    async def set_prompt(self, proposal_id: int, message_id: int) -> None:
        await self._commit_one(
            "UPDATE proposals SET prompt_message_id = ? WHERE id = ?", (message_id, proposal_id)
        )

    async def proposal_for_reply(
        self, chat_id: int, message_id: int, user_id: int
    ) -> Proposal | None:
        """The proposal whose name prompt a reply answers. A quick reply may arrive before the
        prompt's id is stored; then it is the person's own proposal still without a prompt."""
        return await self._one_proposal(
            "SELECT * FROM proposals WHERE chat_id = ? AND status = ? AND "
            "(prompt_message_id = ? OR (prompt_message_id IS NULL AND user_id = ?)) "
            "ORDER BY id DESC LIMIT 1",
            (chat_id, str(ProposalState.AWAITING_NAME), message_id, user_id),
        )

    async def proposal(self, proposal_id: int) -> Proposal | None:
        return await self._one_proposal("SELECT * FROM proposals WHERE id = ?", (proposal_id,))

    async def _one_proposal(self, query: str, args: tuple) -> Proposal | None:
        async with self._db.execute(query, args) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return Proposal(
            row["id"], row["sample_id"], row["user_id"], row["chat_id"], row["name"],
            ProposalState(row["status"]),
        )  # fmt: skip

    async def move_proposal(
        self,
        proposal_id: int,
        before: ProposalState,
        after: ProposalState,
        *,
        name: str | None = None,
        by: int | None = None,
    ) -> bool:
        """Moves a proposal between states atomically; False if it was not in `before`."""
        async with self._lock:
            cursor = await self._db.execute(
                "UPDATE proposals SET status = ?, name = COALESCE(?, name), decided_by = ? "
                "WHERE id = ? AND status = ?",
                (str(after), name, by, proposal_id, str(before)),
            )
            await self._db.commit()
            return cursor.rowcount == 1


def _prediction(stored: str) -> tuple[Prediction, ...]:
    return tuple(
        Prediction(int(p["label_id"]), float(p["probability"])) for p in json.loads(stored)
    )


def _stored_photo(row: sqlite3.Row, votes: list[StoredVote]) -> StoredPhoto:
    return StoredPhoto(
        id=row[0], chat_id=row[1], message_id=row[2], sender_id=row[3], file_id=row[4],
        file_unique_id=row[5], embedding=np.frombuffer(row[6], np.float16).astype(np.float32),
        prediction=_prediction(row[7]), model_version=row[8], created_at=row[9],
        votes=tuple(votes),
        verdict=None if row[10] is None else Verdict(row[10], row[11], bool(row[12])),
    )  # fmt: skip


def _without_password(url: str) -> str:
    """The URL as it may be logged: user and host, never the password."""
    return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:***@", url)
