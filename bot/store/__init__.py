"""The bot's database: who sent which photo, who voted what, and the model's journal.

Every change to the model is first an `events` row (the journal, which doubles as the audit
trail); `bot.journal` applies the rows in id order through the model service, and after a crash
it replays the rows the last checkpoint does not include. Photos are not stored: Telegram keeps
them under their `file_id`; we keep a compact float16 embedding.

A `Store` is one connection (`database`) and one small repository per aggregate over it:

    store.samples    photos as samples                          (samples.py)
    store.votes      votes, skips, undo                          (votes.py)
    store.consensus  verdicts and what each photo teaches        (consensus.py)
    store.events     the journal; store.labels, the labels       (events.py)
    store.people     names, reliabilities, bans, /forgetme       (people.py)
    store.reviews    the review queue                            (reviews.py)
    store.proposals  label proposals                             (proposals.py)
    store.inbox      updates kept until handled                  (inbox.py)
    store.heads      the trainer's published model               (heads.py)

The tables are declared once, in `schema.py`; `bot.migrations` brings a database to it.
"""

from __future__ import annotations

from pathlib import Path

from bot.store.consensus import Consensus
from bot.store.database import Database
from bot.store.events import Events, Labels
from bot.store.heads import Heads
from bot.store.inbox import Inbox
from bot.store.logins import Logins
from bot.store.people import People
from bot.store.proposals import Proposals
from bot.store.records import (
    EVENTS_CHANNEL,
    HEADS_CHANNEL,
    IMPORT_USER,
    Event,
    EventKind,
    EventRecord,
    InboxEntry,
    Judge,
    NewSample,
    Prediction,
    Proposal,
    ProposalState,
    Sample,
    StoredPhoto,
    StoredVote,
    StoreError,
    VoteRefused,
)
from bot.store.reviews import Reviews
from bot.store.samples import Samples
from bot.store.votes import Votes

__all__ = [
    "EVENTS_CHANNEL",
    "HEADS_CHANNEL",
    "IMPORT_USER",
    "Event",
    "EventKind",
    "EventRecord",
    "InboxEntry",
    "Judge",
    "NewSample",
    "Prediction",
    "Proposal",
    "ProposalState",
    "Sample",
    "Store",
    "StoreError",
    "StoredPhoto",
    "StoredVote",
    "VoteRefused",
]  # fmt: skip


class Store:
    """The repositories over one database connection."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.samples = Samples(database)
        self.consensus = Consensus(database)
        self.votes = Votes(database, self.samples, self.consensus)
        self.events = Events(database)
        self.labels = Labels(database)
        self.people = People(database)
        self.reviews = Reviews(database)
        self.proposals = Proposals(database)
        self.inbox = Inbox(database)
        self.heads = Heads(database)
        self.logins = Logins(database)

    @classmethod
    async def connect(cls, database: Path | str) -> Store:
        """A `postgresql://` URL, or the path of the SQLite file (migrated to the newest
        schema either way); StoreError says why it cannot be used."""
        return cls(await Database.connect(database))

    @classmethod
    async def open(cls, path: Path) -> Store:
        return cls(await Database.open_sqlite(path))

    async def close(self) -> None:
        await self.database.close()

    async def ping(self) -> None:
        """Raises what the database says if it cannot answer the simplest query."""
        await self.database.value("SELECT 1")

    async def schema_version(self) -> int:
        return await self.database.schema_version()

    async def notify(self, channel: str, payload: str = "") -> None:
        await self.database.notify(channel, payload)
