"""The labeling desk: what a photo, a tap or an admin command does, without Telegram types.

Each handler in `bot.handlers` reads its update into one of the typed requests below, makes one
call here and renders what comes back. Every change to the model is first committed to the
store's journal (a vote, an event) and then applied by `Journal.apply`, so it is on disk before
anyone is told it happened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
import shlex
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot import texts
from bot.admission import Admission, SlowDown
from bot.export import PhotoGone, read_rows, write_tables
from bot.journal import Journal, JournalError, NotAppliedYet, Stall
from bot.store import (
    IMPORT_USER,
    Candidate,
    EventKind,
    NewSample,
    Prediction,
    Proposal,
    ProposalState,
    Sample,
    Store,
    VoteRefused,
)
from model_core.consensus import PRIOR_RELIABILITY, Crowd, estimate_reliability
from model_core.intake import ImageError
from model_core.labels import Label, LabelError, normalize_label_name
from model_core.model import Guess, ModelSnapshot
from model_core.service import ModelService, Reading

log = logging.getLogger(__name__)
Acknowledge = Callable[[str], Awaitable[None]]  # answers a tap at once, before slower work
Show = Callable[["GuessView"], Awaitable[int]]  # sends the guesses; returns the message id
SendPhoto = Callable[[Sample], Awaitable[int]]  # re-sends a photo (or raises PhotoGone)
Ask = Callable[[Sample], Awaitable[int]]  # sends a label-name prompt; returns the message id


REESTIMATE_EVERY = 25  # votes between background re-estimates of voters' reliability
REESTIMATE_TOLERANCE = 0.05  # a photo whose weight moves less keeps its contribution
REFOLLOW_BATCH = 200  # photos re-decided per store transaction
REVIEW_TRIES = 3  # photos tried per /review when Telegram no longer has one
SPAM_MIN_VOTES, SPAM_BELOW = 5, 0.3  # /contributors flags a voter this unreliable


class DeskError(Exception):
    """A request that changes nothing; the message is for the person who made it."""


@dataclass(frozen=True)
class Policy:
    """Who may do what, and how the desk answers."""

    admins: frozenset[int] = frozenset()
    group_photos: str = "mentions"  # in groups: photos that address the bot, or "all"
    undo_window: float = 300.0  # seconds during which a vote can be taken back
    votes_to_settle: int = 2  # agreeing votes that settle a photo (an admin's vote settles it)
    review_gold_share: float = 0.1  # of review photos, the share already settled by an admin
    photos_per_user: int = 4  # waiting or being read, per contributor (see bot.admission)
    photos_at_once: int = 64  # being read at once, across everyone
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


@dataclass(frozen=True)
class AfterTap:
    """What a voted-on message becomes: in a private chat the outcome and Undo; in a group
    the guesses stay for the others, with the tally."""

    outcome: str
    view: GuessView
    tally: Tally | None  # groups only
    undoable: bool  # False after an undo: the person may vote again


@dataclass(frozen=True)
class LabelCount:
    name: str
    examples: int
    retired: bool


@dataclass(frozen=True)
class Stats:
    counts: list[LabelCount]
    first_guess_right: list[bool]  # per vote, in order


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
    photo_message_id: int  # the announcement quotes the photo


@dataclass(frozen=True)
class Contributor:
    """One person's record as a voter (see `bot.desk.Desk.contributors`)."""

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
    learner: str
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


@dataclass
class Desk:
    policy: Policy
    store: Store
    service: ModelService
    journal: Journal
    exports: Path  # where /export writes
    admission: Admission = field(init=False)
    reliability: dict[int, float] = field(default_factory=dict)  # estimated, per voter
    banned: frozenset[int] = frozenset()
    review_draw: random.Random = field(default_factory=random.Random, repr=False)
    _votes_since_estimate: int = field(default=0, init=False)
    _reestimating: asyncio.Task | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.admission = Admission(self.policy.photos_per_user, self.policy.photos_at_once)

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.policy.admins

    @property
    def crowd(self) -> Crowd:
        """How votes are weighed now: admins and imports are gold (see `model_core.consensus`)."""
        return Crowd(
            labels=max(len(self.snapshot.labels.active), 2),
            reliability=self.reliability,
            gold=self.policy.admins | {IMPORT_USER},
            banned=self.banned,
            settle_after=self.policy.votes_to_settle,
            retired=frozenset(label.id for label in self.snapshot.labels if label.retired),
        )

    @property
    def snapshot(self) -> ModelSnapshot:
        return self.service.snapshot

    async def close(self) -> None:
        """Applies what is pending, writes a last checkpoint, closes the store."""
        if self._reestimating is not None:
            await self._reestimating
        await self.journal.catch_up()
        await self.service.close()
        await self.store.close()

    # ---- reading ---------------------------------------------------------------------------

    def active_label_names(self) -> list[str]:
        return [label.name for label in self._active_labels()]

    def label_counts(self) -> list[LabelCount]:
        snapshot = self.snapshot
        return [LabelCount(x.name, snapshot.examples_of(x.id), x.retired) for x in snapshot.labels]

    async def stats(self, user_id: int) -> Stats:
        """Examples per label, and whether each vote's first guess was right, in order."""
        self._check_admin(user_id)
        return Stats(self.label_counts(), await self.store.first_guess_history())

    async def export(self, user_id: int) -> DataExport:
        """The data set's tables (see `bot.export`), written to a new folder under `exports`."""
        self._check_admin(user_id)
        rows = await read_rows(self.store)
        folder = self.exports / datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
        files = await asyncio.to_thread(write_tables, rows, folder)
        return DataExport(folder, files, len(rows), sum(row.label is not None for row in rows))

    async def model_report(self, user_id: int) -> ModelReport:
        self._check_admin(user_id)
        snapshot, versions = self.snapshot, self.service.versions()
        recent = [
            f"#{event.id} {event.kind}: {event.result or 'pending'}"
            for event in await self.store.recent_events(5)
        ]
        older = [v for v in versions if v < snapshot.version][-5:]
        predictor = snapshot.predictor
        return ModelReport(
            snapshot.version,
            snapshot.learner,
            versions,
            recent,
            older,
            predictor.temperature if predictor else None,
            snapshot.sure_threshold,
            self.journal.stall,
        )

    # ---- photos ----------------------------------------------------------------------------

    async def take_photo(self, photo: PhotoIn, show: Show) -> None:
        """Reads a photo (or recognises one seen before), stores it as a sample and shows the
        guesses; raises DeskError with the reason for an image that cannot be read, unless
        its sender has been told often enough lately (see `bot.admission`). The same message
        handled again (taken over from a killed process, see `bot.inbox`) is answered once."""
        handled = await self.store.sample_by_message(photo.chat_id, photo.message_id)
        if handled is not None:
            if handled.reply_message_id is None:
                await self.store.set_reply_message(handled.id, await show(self._view(handled)))
            return None
        await self.store.touch_user(photo.user_id, photo.user_name)
        limit = self.service.intake_limits.max_bytes
        if photo.file_size is not None and photo.file_size > limit:
            return self._refuse(photo, texts.image_refused("too_large", limit))
        try:
            async with self.admission.turn(photo.user_id):
                earlier, reading = await self._read(photo)
        except SlowDown as over:
            if over.tell:
                raise DeskError(texts.SLOW_DOWN) from None
            return None
        if isinstance(reading, ImageError):
            return self._refuse(photo, texts.image_refused(reading.reason, limit))
        sample = await self.store.add_sample(
            NewSample(
                chat_id=photo.chat_id, photo_message_id=photo.message_id, user_id=photo.user_id,
                file_id=photo.file_id, file_unique_id=photo.file_unique_id,
                embedding=reading.embedding, prediction=_predictions(reading.guesses),
                model_version=reading.version,
            )
        )  # fmt: skip
        note = None if earlier is None else texts.seen_before(await self._consensus(earlier))
        # Binds the reply to its sample: its buttons are valid on that message only.
        await self.store.set_reply_message(sample.id, await show(self._view(sample, note)))
        return None

    def _refuse(self, photo: PhotoIn, reason: str) -> None:
        """Raises the refusal, or lets a stream of bad files go unanswered for a while."""
        if self.admission.may_refuse(photo.user_id):
            raise DeskError(reason)

    async def _read(self, photo: PhotoIn) -> tuple[Sample | None, Reading | ImageError]:
        """The same photo again needs no download and no backbone; a new one gets both."""
        earlier = await self.store.sample_by_file(photo.file_unique_id)
        if earlier is None:
            return None, (await self.service.read_images([await photo.download()]))[0]
        snapshot = self.snapshot
        guesses = snapshot.predict(earlier.embedding[None])[0]
        return earlier, Reading(earlier.embedding, guesses, snapshot.version)

    async def guesses_again(self, tap: TapIn, sample_id: int) -> GuessView:
        return self._view(await self._bound_sample(tap, sample_id))

    async def label_page(self, tap: TapIn, sample_id: int) -> list[Label]:
        """Every active label, by name, for the "Other…" pages."""
        await self._bound_sample(tap, sample_id)
        return self._active_labels()

    # ---- the review queue ------------------------------------------------------------------

    async def review(self, user_id: int, chat_id: int, send: SendPhoto, show: Show) -> None:
        """Sends this person the photo most worth their vote (see `pick_for_review`), with
        the model's current guesses and the voting buttons; DeskError when there is none."""
        for _ in range(REVIEW_TRIES):
            candidates = await self.store.review_candidates(user_id, self.policy.admins)
            chosen = self._pick_for_review(candidates)
            if chosen is None:
                raise DeskError(texts.NOTHING_TO_REVIEW)
            sample = await self.store.sample(chosen)
            try:
                sent = await send(sample)
                break
            except PhotoGone as gone:  # Telegram no longer has it: out of the queue for good
                log.info("photo %d left the review queue: %s", sample.id, gone)
                await self.store.mark_unavailable(sample.id)
        else:
            raise DeskError(texts.NOTHING_TO_REVIEW)
        review_id = await self.store.add_review(sample.id, user_id, chat_id, sent)
        fresh = self.snapshot.predict(sample.embedding[None])[0]
        view = self._view(dataclasses.replace(sample, prediction=_predictions(fresh)))
        shown = await show(dataclasses.replace(view, review=True))
        await self.store.set_review_message(review_id, shown)

    def _pick_for_review(self, candidates: Sequence[Candidate]) -> int | None:
        """Unsettled photos first, then disagreement, then the model's smallest margin; with
        probability `review_gold_share` a photo an admin settled, to measure the voter."""
        gold = [c for c in candidates if c.gold]
        if gold and self.review_draw.random() < self.policy.review_gold_share:
            return self.review_draw.choice(gold).sample_id
        open_ = [c for c in candidates if not c.gold] or gold
        if not open_:
            return None
        return min(open_, key=lambda c: (c.settled, -c.labels_named, c.margin)).sample_id

    # ---- people ----------------------------------------------------------------------------

    async def contributors(self, admin: int | None) -> list[Contributor]:
        """Every voter's record, most votes first (admins only)."""
        self._check_admin(admin)
        return await self._contributors()

    async def standing(self, user_id: int) -> Standing:
        """This person's record and rank (`/me`)."""
        everyone = await self._contributors()
        rank = next((n for n, c in enumerate(everyone, start=1) if c.user_id == user_id), None)
        me = everyone[rank - 1] if rank is not None else None
        return Standing(me, rank, len(everyone))

    async def leaderboard(self, size: int = 10) -> list[Contributor]:
        """The most active voters who have not opted out (`/top`); the banned are left out."""
        shown = [c for c in await self._contributors() if not c.hidden and not c.banned]
        return shown[:size]

    async def hide(self, user_id: int, hidden: bool) -> None:
        await self.store.set_hidden(user_id, hidden)

    async def _contributors(self) -> list[Contributor]:
        votes = await self.store.live_votes()
        verdicts = await self.store.verdicts()
        people = await self.store.people()
        gold = self.policy.admins | {IMPORT_USER}
        gold_photos = {sample for sample, user, _ in votes if user in gold}
        voters: dict[int, set[int]] = {}
        for sample, user, _ in votes:
            voters.setdefault(sample, set()).add(user)
        tallies: dict[int, Counter[str]] = {}
        for sample, user, label in votes:
            if user in gold:
                continue
            right, shared, checked = (
                verdicts.get(sample) == label,
                len(voters[sample]) > 1,
                sample in gold_photos,
            )
            tallies.setdefault(user, Counter()).update(
                votes=1, compared=shared, agreed=shared and right,
                gold_votes=checked, gold_right=checked and right,
            )  # fmt: skip
        rows = []
        for user, tally in tallies.items():
            name, hidden = people.get(user, ("", False))
            rows.append(Contributor(
                user, name or f"user {user}", tally["votes"], tally["compared"], tally["agreed"],
                tally["gold_votes"], tally["gold_right"],
                reliability=self.reliability.get(user, PRIOR_RELIABILITY),
                banned=user in self.banned, hidden=hidden,
            ))  # fmt: skip
        return sorted(rows, key=lambda c: (-c.votes, c.user_id))

    # ---- the crowd -------------------------------------------------------------------------

    async def load_crowd(self) -> None:
        """Reads the reliabilities and bans the store keeps."""
        self.reliability = await self.store.reliabilities()
        self.banned = await self.store.banned()

    async def reestimate(self) -> int:
        """Re-estimates every voter's reliability from all live votes (off the event loop),
        then corrects the photos whose consensus moved; returns how many photos changed."""
        votes = [v for v in await self.store.live_votes() if v[1] not in self.banned]
        self._votes_since_estimate = 0
        labels = self.crowd.labels
        gold = frozenset(self.policy.admins | {IMPORT_USER})
        self.reliability = await asyncio.to_thread(estimate_reliability, votes, labels, gold)
        await self.store.save_reliabilities(self.reliability)
        before = await self.store.contributions()
        samples = sorted({sample for sample, _, _ in votes})
        for start in range(0, len(samples), REFOLLOW_BATCH):  # short transactions: votes go on
            chunk = samples[start : start + REFOLLOW_BATCH]
            await self._applied(
                await self.store.refollow(chunk, self.crowd.decide, REESTIMATE_TOLERANCE)
            )
        after = await self.store.contributions()
        return len({s for s, *_ in set(before) ^ set(after)})

    async def ban(self, admin: int | None, raw: str, banned: bool = True) -> int:
        """Bans (or unbans) a contributor by numeric id: their votes stop counting and every
        photo they voted on follows the consensus without (or with) them. Returns how many."""
        self._check_admin(admin)
        user_id = _user_id(raw, "/ban" if banned else "/unban")
        if self.is_admin(user_id):
            raise DeskError("Admins cannot be banned.")
        await self.store.set_banned(user_id, banned, admin)
        self.banned = await self.store.banned()
        voted = await self.store.samples_voted_by(user_id)
        await self._applied(await self.store.refollow(voted, self.crowd.decide))
        return len(voted)

    async def forget(self, user_id: int) -> None:
        """Deletes the person's votes, photos and every row naming them, after taking back all
        of it from the model (checkpointed first, so a crash cannot replay what is gone)."""
        await self._applied(await self.store.forget_votes(user_id, self.crowd.decide))
        await self._applied(await self.store.withdraw_photos(user_id))
        await self.service.checkpoint()
        await self.store.delete_person(user_id)
        left = await self.store.rows_naming(user_id)
        if left:  # a table delete_person does not know yet: the promise would be broken
            log.error("forgetting user %d left %d rows naming them", user_id, left)
        self.reliability.pop(user_id, None)
        self.banned = self.banned - {user_id}

    def _count_vote(self) -> None:
        """Re-estimates reliabilities in the background every REESTIMATE_EVERY votes."""
        self._votes_since_estimate += 1
        every = self.policy.reestimate_every
        due = every > 0 and self._votes_since_estimate >= every
        if due and (self._reestimating is None or self._reestimating.done()):
            self._reestimating = asyncio.get_running_loop().create_task(self._reestimate_quietly())

    async def _reestimate_quietly(self) -> None:
        try:
            changed = await self.reestimate()
            log.info("reliabilities re-estimated; %d photos follow the new consensus", changed)
        except Exception:  # a failed estimate leaves the old one in place; votes go on
            log.exception("re-estimating reliabilities failed")

    # ---- votes -----------------------------------------------------------------------------

    async def vote(
        self, tap: TapIn, sample_id: int, label_id: int, acknowledge: Acknowledge
    ) -> AfterTap:
        sample = await self._bound_sample(tap, sample_id)
        label = self._votable(label_id)
        await self.store.touch_user(tap.user_id, tap.user_name)
        event_id = await self._record_vote(sample, tap.user_id, label.id)
        await acknowledge(f"Saved: {label.name}")  # at once: the vote is on disk
        version = await self._applied(event_id)
        self._count_vote()
        return await self._after(tap, sample, texts.saved(label.name, version), undoable=True)

    async def skip(self, tap: TapIn, sample_id: int) -> AfterTap:
        sample = await self._bound_sample(tap, sample_id)
        await self._applied(await self._record_vote(sample, tap.user_id, None))
        return await self._after(tap, sample, texts.SKIPPED, undoable=True)

    async def undo(self, tap: TapIn, sample_id: int) -> AfterTap:
        sample = await self._bound_sample(tap, sample_id)
        try:
            event_id = await self.store.undo_vote(
                sample, tap.user_id, self.policy.undo_window, self.crowd.decide
            )
        except VoteRefused as refused:
            raise DeskError(str(refused)) from refused
        await self._applied(event_id)
        return await self._after(tap, sample, texts.UNDONE, undoable=False)

    # ---- label proposals -------------------------------------------------------------------

    async def propose(self, tap: TapIn, sample_id: int, ask: Ask) -> None:
        """Opens a proposal for a new label on the photo and asks for its name."""
        sample = await self._bound_sample(tap, sample_id)
        proposal_id = await self.store.propose(sample.id, tap.user_id, sample.chat_id)
        await self.store.set_prompt(proposal_id, await ask(sample))

    async def name_proposal(
        self, chat_id: int, prompt_id: int, user_id: int, raw: str
    ) -> NameOutcome | None:
        """A reply to a name prompt; None when the reply answers no prompt of ours. An admin's
        name adds the label at once; anyone else's waits for the admins."""
        proposal = await self.store.proposal_for_reply(chat_id, prompt_id, user_id)
        if proposal is None:
            return None
        if proposal.user_id != user_id:
            return NameOutcome(texts.NOT_YOUR_PROMPT)
        try:
            name = self._new_label_name(raw)
        except DeskError as refused:
            return NameOutcome(f"{refused} Reply to my question again with another name.")
        after = ProposalState.APPROVED if self.is_admin(user_id) else ProposalState.PENDING
        if not await self.store.move_proposal(
            proposal.id, ProposalState.AWAITING_NAME, after, name=name
        ):
            return None  # a second reply raced this one
        if after == ProposalState.APPROVED:
            return NameOutcome(await self._accept(proposal, name, user_id))
        waiting = await self.store.proposal(proposal.id)
        return NameOutcome(f"Thanks! I asked the admins to approve the label {name}.", waiting)

    async def decide(self, user_id: int, proposal_id: int, approve: bool) -> Decision:
        self._check_admin(user_id)
        proposal = await self.store.proposal(proposal_id)
        after = ProposalState.APPROVED if approve else ProposalState.REJECTED
        if proposal is None or not await self.store.move_proposal(
            proposal_id, ProposalState.PENDING, after, by=user_id
        ):
            raise DeskError("This proposal has already been decided.")
        if approve:
            announcement = await self._accept(proposal, proposal.name, user_id)
        else:
            announcement = f"The admins did not add the label {proposal.name}, sorry."
        sample = await self.store.sample(proposal.sample_id)
        return Decision(proposal, approve, announcement, sample.photo_message_id)

    async def _accept(self, proposal: Proposal, name: str, by: int) -> str:
        """Adds an approved label; the photo that prompted it becomes its first example."""
        sample = await self.store.sample(proposal.sample_id)
        try:
            label = await self._add_label(name, by)
            await self._applied(await self._record_vote(sample, proposal.user_id, label.id))
        except DeskError as refused:
            return f"The label {name} could not be added: {refused}"
        return f"New label {label.name} added; this photo is its first example."

    # ---- admin commands --------------------------------------------------------------------

    async def add_label(self, user_id: int | None, raw: str) -> Label:
        self._check_admin(user_id)
        if not raw.strip():
            raise DeskError("Usage: /addlabel NAME")
        return await self._add_label(raw, user_id)

    async def rename_label(self, user_id: int | None, args: str) -> Renamed:
        self._check_admin(user_id)
        old, new = _two_names(args, "/renamelabel OLD NEW")
        label = self._existing_label(old)
        name = self._new_label_name(new)
        event_id = await self.store.add_event(
            EventKind.RENAME_LABEL, user_id, label_id=label.id, name=name
        )
        return Renamed(label.name, await self._apply(event_id))

    async def retire_label(self, user_id: int | None, raw: str) -> Label:
        self._check_admin(user_id)
        if not raw.strip():
            raise DeskError("Usage: /retirelabel NAME")
        label = self._existing_label(raw)
        if label.retired:
            raise DeskError(f"{label.name} is already retired.")
        event_id = await self.store.add_event(EventKind.RETIRE_LABEL, user_id, label_id=label.id)
        return await self._apply(event_id)

    def rollback_offer(self, user_id: int, version: int) -> int:
        """Checks that the person may restore this version before asking them to confirm."""
        self._check_admin(user_id)
        if version not in self.service.versions():
            raise DeskError(f"Version {version} is no longer stored.")
        return version

    def cancel_rollback(self, user_id: int) -> None:
        self._check_admin(user_id)

    async def rollback(self, user_id: int | None, version: int | None) -> RolledBack:
        """Restores a stored version (default: the one before the newest) as a new version."""
        self._check_admin(user_id)
        versions = self.service.versions()
        if version is None:
            older = [v for v in versions if v < self.snapshot.version]
            if not older:
                raise DeskError("There is no earlier version to roll back to.")
            version = older[-1]
        if version not in versions:
            raise DeskError(f"Version {version} is no longer stored; stored: {versions}.")
        event_id = await self.store.add_event(EventKind.ROLLBACK, user_id, version=version)
        return RolledBack(version, await self._apply(event_id))

    # ---- import ----------------------------------------------------------------------------

    async def import_label(self, raw: str) -> Label:
        """The label a folder name stands for, added if new; DeskError if unusable."""
        try:
            existing = self.snapshot.labels.find(raw)
        except LabelError as error:
            raise DeskError(str(error)) from error
        if existing is not None and existing.retired:
            raise DeskError("that label is retired")
        return existing or await self._add_label(raw, None)

    async def already_imported(self, hashes: Sequence[str]) -> set[str]:
        known = await self.store.known_files(_import_key(h) for h in hashes)
        return {h for h in hashes if _import_key(h) in known}

    async def import_photos(self, photos: Sequence[Imported]) -> None:
        """Learns imported photos through the journal, exactly like votes: each is a sample
        with a vote by IMPORT_USER, so a re-import skips it and a crash replays it."""
        rows = [
            (
                NewSample(
                    chat_id=0, photo_message_id=0, user_id=IMPORT_USER, file_id=p.path,
                    file_unique_id=_import_key(p.sha256), embedding=p.reading.embedding,
                    prediction=_predictions(p.reading.guesses),
                    model_version=p.reading.version,
                ),
                p.label_id,
            )
            for p in photos
        ]  # fmt: skip
        await self._applied(await self.store.import_samples(rows, self.crowd.decide))

    # ---- helpers ---------------------------------------------------------------------------

    def _view(self, sample: Sample, note: str | None = None) -> GuessView:
        """The sample's stored guesses that are still active labels, named as they are now."""
        labels = self.snapshot.labels
        guesses = [
            Guess(p.label_id, labels[p.label_id].name, p.probability)
            for p in sample.prediction
            if p.label_id < len(labels) and not labels[p.label_id].retired
        ]
        sure = bool(guesses) and guesses[0].probability >= self.snapshot.sure_threshold
        return GuessView(sample, guesses, bool(labels.active), sure, note)

    async def _after(self, tap: TapIn, sample: Sample, outcome: str, undoable: bool) -> AfterTap:
        tally = None if tap.private else await self._tally(sample)
        review = (tap.chat_id, tap.message_id) != (sample.chat_id, sample.reply_message_id)
        view = dataclasses.replace(self._view(sample), review=review)
        return AfterTap(outcome, view, tally, undoable)

    async def _tally(self, sample: Sample) -> Tally:
        counts = await self.store.tally(sample.id)
        skips = counts.pop(None, 0)
        labels = self.snapshot.labels
        named = [(labels[i].name, n) for i, n in sorted(counts.items(), key=lambda kv: -kv[1])]
        return Tally(named, skips)

    async def _consensus(self, sample: Sample) -> str | None:
        """The name of the label the crowd's verdict on this photo gives, if any."""
        verdict = await self.store.verdict_for_file(sample.file_unique_id)
        return None if verdict is None else self.snapshot.labels[verdict.label_id].name

    async def _bound_sample(self, tap: TapIn, sample_id: int) -> Sample:
        """The tap's sample, checked against the message the button is on: forged ids fail.
        Right after sending, the reply's id may not be stored yet; then the photo it quotes
        tells."""
        sample = await self.store.sample(sample_id)
        if sample is None:
            raise DeskError(texts.UNKNOWN_SAMPLE)
        if sample.reply_message_id is not None:
            bound = tap.message_id == sample.reply_message_id
        else:
            bound = tap.quoted_message_id == sample.photo_message_id
        if tap.chat_id == sample.chat_id and bound:
            return sample
        if await self.store.is_review(
            sample.id, tap.chat_id, tap.message_id, tap.quoted_message_id
        ):
            return sample
        raise DeskError(texts.WRONG_MESSAGE)

    def _active_labels(self) -> list[Label]:
        return sorted(self.snapshot.labels.active, key=lambda label: label.name.casefold())

    def _votable(self, label_id: int | None) -> Label:
        labels = self.snapshot.labels
        if label_id is None or label_id >= len(labels) or labels[label_id].retired:
            raise DeskError(texts.UNKNOWN_LABEL)
        return labels[label_id]

    async def _record_vote(self, sample: Sample, user_id: int, label_id: int | None):
        """Commits the vote and the corrections that follow from it; their last event id."""
        try:
            return await self.store.record_vote(sample, user_id, label_id, self.crowd.decide)
        except VoteRefused as refused:
            raise DeskError(str(refused)) from refused

    async def _applied(self, event_id: int | None) -> int:
        """The model version once `event_id` (if any) and all before it are applied."""
        if event_id is not None:
            await self._apply(event_id)
        return self.snapshot.version

    def _check_admin(self, user_id: int | None) -> None:
        """None is the operator at the command line, who may do everything."""
        if user_id is not None and not self.is_admin(user_id):
            raise DeskError(texts.NOT_ADMIN)

    def _new_label_name(self, raw: str) -> str:
        """A valid, unused label name, or DeskError saying what is wrong with it."""
        try:
            name = normalize_label_name(raw)
        except LabelError as error:
            raise DeskError(str(error)) from error
        existing = self.snapshot.labels.find(name)
        if existing is not None:
            state = "a retired label" if existing.retired else "a label"
            raise DeskError(f"There is already {state} called {existing.name}.")
        return name

    def _existing_label(self, raw: str) -> Label:
        try:
            label = self.snapshot.labels.find(raw)
        except LabelError as error:
            raise DeskError(str(error)) from error
        if label is None:
            raise DeskError(f"There is no label called {raw.strip()}. See /labels.")
        return label

    async def _add_label(self, raw: str, user_id: int | None) -> Label:
        name = self._new_label_name(raw)
        return await self._apply(
            await self.store.add_event(EventKind.ADD_LABEL, user_id, name=name)
        )

    async def _apply(self, event_id: int):
        try:
            return await self.journal.apply(event_id)
        except NotAppliedYet as pending:
            raise DeskError(str(pending)) from pending
        except JournalError as error:
            raise DeskError(f"That did not work: {error}") from error


def _predictions(guesses: Sequence[Guess]) -> tuple[Prediction, ...]:
    return tuple(Prediction(g.label_id, g.probability) for g in guesses)


def _import_key(sha256: str) -> str:
    """An imported photo's stand-in for Telegram's file_unique_id: its content hash."""
    return f"sha256:{sha256}"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _two_names(args: str, usage: str) -> tuple[str, str]:
    try:
        parts = shlex.split(args)
    except ValueError as error:
        raise DeskError(f"Usage: {usage} (unbalanced quotes: {error})") from error
    if len(parts) != 2:
        raise DeskError(f'Usage: {usage}; quote names with spaces: /renamelabel "Ankle boot" Boot')
    return parts[0], parts[1]


def _user_id(raw: str, command: str) -> int:
    text = raw.strip()
    if not text.isdigit() or int(text) == 0:
        raise DeskError(f"Usage: {command} USER_ID (their numeric Telegram user id)")
    return int(text)
