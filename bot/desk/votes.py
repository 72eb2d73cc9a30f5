"""A tap on a photo's buttons: a vote, a skip, or taking one back."""

from __future__ import annotations

import dataclasses

from bot import texts
from bot.desk.context import DeskContext
from bot.desk.people import Reliabilities
from bot.desk.views import Acknowledge, AfterTap, Tally, TapIn
from bot.store import Sample, VoteRefused


class Votes:
    def __init__(self, context: DeskContext, reliabilities: Reliabilities) -> None:
        self.ctx = context
        self.reliabilities = reliabilities

    async def vote(
        self, tap: TapIn, sample_id: int, label_id: int, acknowledge: Acknowledge
    ) -> AfterTap:
        sample = await self.ctx.bound_sample(tap, sample_id)
        label = self.ctx.votable(label_id)
        await self.ctx.store.people.touch(tap.user_id, tap.user_name)
        event_id = await self.ctx.record_vote(sample, tap.user_id, label.id)
        await acknowledge(texts.saved_at_once(label.name))  # at once: the vote is on disk
        version = await self.ctx.applied(event_id)
        self.reliabilities.count_vote()
        return await self._after(tap, sample, texts.saved(label.name, version), undoable=True)

    async def skip(self, tap: TapIn, sample_id: int) -> AfterTap:
        sample = await self.ctx.bound_sample(tap, sample_id)
        await self.ctx.applied(await self.ctx.record_vote(sample, tap.user_id, None))
        return await self._after(tap, sample, texts.SKIPPED, undoable=True)

    async def undo(self, tap: TapIn, sample_id: int) -> AfterTap:
        sample = await self.ctx.bound_sample(tap, sample_id)
        try:
            event_id = await self.ctx.store.votes.undo(
                sample, tap.user_id, self.ctx.policy.undo_window, self.ctx.crowd.judge
            )
        except VoteRefused as refused:
            raise texts.refused("vote_refused", why=refused.code) from refused
        await self.ctx.applied(event_id)
        return await self._after(tap, sample, texts.UNDONE, undoable=False)

    async def _after(self, tap: TapIn, sample: Sample, outcome: str, undoable: bool) -> AfterTap:
        """In a private chat the outcome, how settled the photo is, and Undo; in a group the
        guesses stay for the others, with the tally."""
        review = (tap.chat_id, tap.message_id) != (sample.chat_id, sample.reply_message_id)
        view = dataclasses.replace(self.ctx.view(sample), review=review)
        return AfterTap(outcome, view, await self.tally(sample.id), undoable, tap.private)

    async def tally(self, sample_id: int) -> Tally:
        """The photo's live votes by label, and where the crowd's consensus leaves it."""
        store = self.ctx.store
        counts = await store.votes.tally(sample_id)
        labels = self.ctx.snapshot.labels
        voted = sorted(((i, n) for i, n in counts.items() if i is not None), key=lambda v: -v[1])
        state, confidence = await store.consensus.standing(sample_id)
        return Tally(
            [(labels[i].name, n) for i, n in voted], counts.get(None, 0), state, confidence
        )
