"""What the desk takes and gives: typed requests from the handlers, the views they render,
and DeskError. Plain data only, so that `bot.texts` can import it without a cycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.journal import Stall
from bot.store import Proposal, Sample
from model_core.consensus import State
from model_core.labels import Label
from model_core.model import Guess
from model_core.service import Reading

Acknowledge = Callable[[str], Awaitable[None]]  # answers a tap at once, before slower work
Show = Callable[["GuessView"], Awaitable[int]]  # sends the guesses; returns the message id
SendPhoto = Callable[[Sample], Awaitable[int]]  # re-sends a photo (or raises PhotoGone)
Ask = Callable[[Sample], Awaitable[int]]  # sends a label-name prompt; returns the message id

REESTIMATE_EVERY = 25  # votes between background re-estimates of voters' reliability
SPAM_MIN_VOTES, SPAM_BELOW = 5, 0.3  # /contributors flags a voter this unreliable


class DeskError(Exception):
    """A request that changes nothing. `code` names why and `details` fill it in; the
    handler says it to the person with `bot.texts.refusal` (the message, in English, is also
    the exception's text, for logs and the command line)."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class Policy:
    """Who may do what, and how the desk answers. The operator's settings come from
    `labelbot.settings.Settings`, where their defaults are declared (the composition root
    builds this from them); the rest are the desk's own."""

    admins: frozenset[int]
    group_photos: str  # in groups: photos that address the bot ("mentions"), or "all"
    votes_to_settle: int  # the fewest agreeing votes that settle a photo (or an admin's vote)
    label_confidence: float  # the posterior of its label that settles a photo
    max_votes: int  # a photo with this many votes, still not settled, is disputed
    review_gold_share: float  # of review photos, the share already settled by an admin
    photos_per_user: int  # waiting or being read, per contributor (see bot.admission)
    photos_at_once: int  # being read at once, across everyone
    backbone: str = "efficientnet_lite0"  # what reads the photos (named by /model, the console)
    undo_window: float = 300.0  # seconds during which a vote can be taken back
    reestimate_every: int = REESTIMATE_EVERY  # votes between re-estimates; 0: never (replicas)


@dataclass(frozen=True)
class PhotoIn:
    """A photo as it arrived: where, from whom, which Telegram file, and how to fetch it."""

    chat_id: int
    message_id: int
    user_id: int
    file_id: str
    file_unique_id: str
    file_size: int | None
    download: Callable[[], Awaitable[bytes]]
    user_name: str = ""  # the display name, for the leaderboard


@dataclass(frozen=True)
class TapIn:
    """Where a tap came from: who tapped, and the message that carries the button."""

    user_id: int
    chat_id: int
    message_id: int
    quoted_message_id: int | None
    private: bool
    user_name: str = ""


@dataclass(frozen=True)
class GuessView:
    """What stands under a photo: its guesses (named as labels are now) and the buttons."""

    sample: Sample
    guesses: list[Guess]
    has_labels: bool
    sure: bool
    note: str | None = None
    review: bool = False  # re-sent for someone else's vote: no label proposals from here


@dataclass(frozen=True)
class Tally:
    counts: list[tuple[str, int]]  # label name, live votes; most first
    skips: int
    state: State = State.WAITING  # settled, waiting for votes, or disputed
    confidence: float | None = None  # the crowd's posterior of its label, if it has one


@dataclass(frozen=True)
class AfterTap:
    """What a voted-on message becomes: in a private chat the outcome and Undo; in a group
    the guesses stay for the others, with the tally."""

    outcome: str
    view: GuessView
    tally: Tally  # the photo's votes, and how settled they leave it
    undoable: bool  # False after an undo: the person may vote again
    private: bool  # a private chat: the outcome replaces the guesses


@dataclass(frozen=True)
class LabelCount:
    name: str
    examples: int
    retired: bool


@dataclass(frozen=True)
class Stats:
    counts: list[LabelCount]
    first_guess_right: list[bool]  # per vote, in order
    crowd: CrowdProgress


@dataclass(frozen=True)
class CrowdProgress:
    """Where the photos from Telegram stand (imports are settled by their folder)."""

    settled: int
    waiting: int  # for votes: more may settle them
    unvoted: int  # of the waiting, those with no vote yet
    disputed: int  # as many votes as a photo gets, still unsure: for an admin
    votes_per_settled: float | None  # votes the settled ones took, on average


@dataclass(frozen=True)
class Renamed:
    old_name: str
    label: Label


@dataclass(frozen=True)
class RolledBack:
    restored: int  # the stored version whose state came back
    version: int  # the new version that now holds it


@dataclass(frozen=True)
class NameOutcome:
    """What happened to a reply naming a proposed label."""

    reply: str
    proposal: Proposal | None = None  # set when the admins must now decide


@dataclass(frozen=True)
class Decision:
    """An admin's approval or rejection, and what to tell the proposer."""

    proposal: Proposal
    approved: bool
    announcement: str
    photo_message_id: int | None  # the announcement quotes the photo, unless forgotten since


@dataclass(frozen=True)
class Contributor:
    """One person's record as a voter (see `bot.desk.people.People.contributors`)."""

    user_id: int
    name: str
    votes: int
    compared: int  # votes on photos others voted on too
    agreed: int  # of those, votes for the photo's consensus label
    gold_votes: int  # votes on photos an admin settled
    gold_right: int
    reliability: float
    banned: bool
    hidden: bool

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.compared if self.compared else None

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_right / self.gold_votes if self.gold_votes else None

    @property
    def likely_spam(self) -> bool:
        return self.votes >= SPAM_MIN_VOTES and self.reliability < SPAM_BELOW


@dataclass(frozen=True)
class Standing:
    me: Contributor | None
    rank: int | None  # by votes, among everyone who voted
    of: int


@dataclass(frozen=True)
class DataExport:
    """What `/export` wrote: the folder, its files, and how many photos they hold."""

    folder: Path
    files: list[Path]
    photos: int
    labeled: int


@dataclass(frozen=True)
class ModelReport:
    version: int
    learner: str  # the head
    backbone: str
    versions: list[int]
    recent: list[str]
    older: list[int]  # versions a rollback can restore, newest last
    temperature: float | None = None  # of the shown percentages; None before any label
    sure_threshold: float = 0.5
    stall: Stall | None = None  # why the model stopped learning, until the next start


@dataclass(frozen=True)
class Imported:
    """One photo of an import: its content hash (the identity that makes re-imports skip
    it), its reading and its label."""

    sha256: str
    path: str
    reading: Reading
    label_id: int


@dataclass(frozen=True)
class TimeBin:
    """A stretch of the campaign: votes for a label in it, and how many the first guess got."""

    start: float  # seconds since the epoch
    end: float
    votes: int
    right: int


@dataclass(frozen=True)
class Campaign:
    """The campaign at a glance (the console's Campaign page)."""

    counts: list[LabelCount]
    crowd: CrowdProgress
    timeline: list[TimeBin]


@dataclass(frozen=True)
class CalibrationBin:
    """Photos whose top guess was shown at about `shown` sure, and how often it was right."""

    shown: float
    right: float
    photos: int


@dataclass(frozen=True)
class Quality:
    """How the model's first guesses fared against people's votes (the console's Model page):
    `confusion[i][j]` votes for `labels[i]` whose first guess was `labels[j]`."""

    labels: list[str]
    confusion: list[list[int]]
    recall: list[float | None]  # per label: the share of its votes the first guess got
    calibration: list[CalibrationBin]
    sure_threshold: float
