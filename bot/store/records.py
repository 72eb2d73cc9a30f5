"""What the store holds, as the rest of the bot sees it: plain records, no SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from model_core.consensus import Ballot, Judgement, Verdict

IMPORT_USER = 0  # `labelbot import` votes as this user id; Telegram never uses 0
HEADS_CHANNEL = "labelbot_heads"  # notified with a version when the trainer publishes it
EVENTS_CHANNEL = "labelbot_events"  # notified when a replica has committed journal events
Judge = Callable[[list[Ballot]], Judgement]
"""A photo's verdict and standing from its live votes in vote order
(`model_core.consensus.Crowd.judge`)."""


class VoteRefused(Exception):
    """A vote or undo that must change nothing; `code` says why, and `bot.texts` says it to
    the person (`vote_refused`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


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
    verdict: Verdict | None  # None: no vote yet, or none that decides a label


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
    in_order: bool = True  # handled after the person's older such updates (photos are not)


@dataclass(frozen=True)
class Proposal:
    id: int
    sample_id: int
    user_id: int
    chat_id: int
    name: str | None
    state: ProposalState
