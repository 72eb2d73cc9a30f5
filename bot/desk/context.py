"""What every use case of the desk shares: the store, the model, the journal, who may do what,
and the crowd's current weights; and the checks they all make (an admin, a tap bound to its
message, a label name that is valid and free).

Every change to the model is first committed to the store's journal (a vote, an event) and
then applied by `Journal.apply`, so it is on disk before anyone is told it happened.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import texts
from bot.desk.names import check_new_name
from bot.desk.ports import JournalPort, ModelPort
from bot.desk.views import GuessView, Policy, TapIn
from bot.journal import JournalError, NotAppliedYet
from bot.store import IMPORT_USER, EventKind, Prediction, Sample, Store, VoteRefused
from model_core.consensus import Crowd
from model_core.labels import Label, LabelError, normalize_label_name
from model_core.model import Guess, ModelSnapshot


@dataclass
class DeskContext:
    policy: Policy
    store: Store
    service: ModelPort
    journal: JournalPort
    exports: Path  # where /export writes
    reliability: dict[int, float] = field(default_factory=dict)  # estimated, per voter
    banned: frozenset[int] = frozenset()

    @property
    def snapshot(self) -> ModelSnapshot:
        return self.service.snapshot

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.policy.admins

    def check_admin(self, user_id: int | None) -> None:
        """None is the operator at the command line, who may do everything."""
        if user_id is not None and not self.is_admin(user_id):
            raise texts.refused("not_admin")

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
            confidence=self.policy.label_confidence,
            max_votes=self.policy.max_votes,
        )

    # ---- the journal -----------------------------------------------------------------------

    async def apply(self, event_id: int) -> Any:
        try:
            return await self.journal.apply(event_id)
        except NotAppliedYet as pending:
            raise texts.refused("not_applied_yet") from pending
        except JournalError as error:
            raise texts.refused("did_not_work", refusal=str(error)) from error

    async def applied(self, event_id: int | None) -> int:
        """The model version once `event_id` (if any) and all before it are applied."""
        if event_id is not None:
            await self.apply(event_id)
        return self.snapshot.version

    async def record_vote(self, sample: Sample, user_id: int, label_id: int | None) -> int | None:
        """Commits the vote and the corrections that follow from it; their last event id."""
        try:
            return await self.store.votes.record(sample, user_id, label_id, self.crowd.judge)
        except VoteRefused as refused:
            raise texts.refused("vote_refused", why=refused.code) from refused

    # ---- photos and taps -------------------------------------------------------------------

    def view(self, sample: Sample, note: str | None = None) -> GuessView:
        """The sample's stored guesses that are still active labels, named as they are now."""
        labels = self.snapshot.labels
        guesses = [
            Guess(p.label_id, labels[p.label_id].name, p.probability)
            for p in sample.prediction
            if p.label_id < len(labels) and not labels[p.label_id].retired
        ]
        sure = bool(guesses) and guesses[0].probability >= self.snapshot.sure_threshold
        return GuessView(sample, guesses, bool(labels.active), sure, note)

    def fresh_view(self, sample: Sample) -> GuessView:
        """The guesses of the model as it is now, for a photo shown again."""
        fresh = self.snapshot.predict(sample.embedding[None])[0]
        return self.view(dataclasses.replace(sample, prediction=predictions(fresh)))

    async def bound_sample(self, tap: TapIn, sample_id: int) -> Sample:
        """The tap's sample, checked against the message the button is on: forged ids fail.
        Right after sending, the reply's id may not be stored yet; then the photo it quotes
        tells."""
        sample = await self.store.samples.get(sample_id)
        if sample is None:
            raise texts.refused("unknown_sample")
        if sample.reply_message_id is not None:
            bound = tap.message_id == sample.reply_message_id
        else:
            bound = tap.quoted_message_id == sample.photo_message_id
        if tap.chat_id == sample.chat_id and bound:
            return sample
        if await self.store.reviews.carries(
            sample.id, tap.chat_id, tap.message_id, tap.quoted_message_id
        ):
            return sample
        raise texts.refused("wrong_message")

    # ---- labels ----------------------------------------------------------------------------

    def active_labels(self) -> list[Label]:
        return sorted(self.snapshot.labels.active, key=lambda label: label.name.casefold())

    def votable(self, label_id: int | None) -> Label:
        labels = self.snapshot.labels
        if label_id is None or label_id >= len(labels) or labels[label_id].retired:
            raise texts.refused("unknown_label")
        return labels[label_id]

    def new_label_name(self, raw: str) -> str:
        """A valid, unused label name, or DeskError saying what is wrong with it."""
        try:
            name = normalize_label_name(raw)
        except LabelError as error:
            raise texts.refused("model_refusal", said=str(error)) from error
        existing = self.snapshot.labels.find(name)
        if existing is not None:
            raise texts.refused("label_exists", name=existing.name, retired=existing.retired)
        check_new_name(name, self.snapshot.labels)
        return name

    def existing_label(self, raw: str) -> Label:
        try:
            label = self.snapshot.labels.find(raw)
        except LabelError as error:
            raise texts.refused("model_refusal", said=str(error)) from error
        if label is None:
            raise texts.refused("no_such_label", name=raw.strip())
        return label

    async def add_label(self, raw: str, user_id: int | None) -> Label:
        name = self.new_label_name(raw)
        return await self.apply(
            await self.store.events.add(EventKind.ADD_LABEL, user_id, name=name)
        )


def predictions(guesses: Sequence[Guess]) -> tuple[Prediction, ...]:
    return tuple(Prediction(g.label_id, g.probability) for g in guesses)
