"""The review queue: photos others sent, re-sent to someone for their vote."""

from __future__ import annotations

import dataclasses
import logging
import random

from bot import texts
from bot.desk.context import DeskContext
from bot.desk.views import SendPhoto, Show
from bot.export import PhotoGone
from model_core.consensus import State

log = logging.getLogger(__name__)
REVIEW_TRIES = 3  # photos tried per /review when Telegram no longer has one


class Review:
    def __init__(self, context: DeskContext, draw: random.Random | None = None) -> None:
        self.ctx = context
        self.draw = draw or random.Random()

    async def send_next(
        self, user_id: int, chat_id: int, send: SendPhoto, show: Show, *,
        disputed: bool = False, showing: frozenset[int] = frozenset(),
    ) -> None:  # fmt: skip
        """Sends this person the photo most worth their vote (see `pick`), with the model's
        current guesses and the voting buttons; DeskError when there is none. `disputed`:
        an admin's `/disputed`, only the photos the crowd could not settle. `showing`: photos
        on their screen already (the console preloads the next one)."""
        store = self.ctx.store
        if disputed:
            self.ctx.check_admin(user_id)
        nothing = "nothing_disputed" if disputed else "nothing_to_review"
        for _ in range(REVIEW_TRIES):
            if disputed:
                chosen = await store.reviews.first(State.DISPUTED, user_id, showing)
            else:
                chosen = await self.pick(user_id, showing)
            if chosen is None:
                raise texts.refused(nothing)
            sample = await store.samples.get(chosen)
            if sample is None:  # forgotten (/forgetme) since the candidates were read
                continue
            try:
                sent = await send(sample)
                break
            except PhotoGone as gone:  # Telegram no longer has it: out of the queue for good
                log.info("photo %d left the review queue: %s", sample.id, gone)
                await store.samples.mark_unavailable(sample.id)
        else:
            raise texts.refused(nothing)
        assert sample is not None  # the loop breaks only on a photo sent
        review_id = await store.reviews.add(sample.id, user_id, chat_id, sent)
        shown = await show(dataclasses.replace(self.ctx.fresh_view(sample), review=True))
        await store.reviews.set_message(review_id, shown)

    async def pick(self, user_id: int, showing: frozenset[int] = frozenset()) -> int | None:
        """The photo most worth this person's vote: a photo waiting for votes, in the queue's
        order (see `bot.store.reviews`); an admin gets the disputed ones first, since only an
        admin settles them. Settled photos get no more votes, except that with probability
        `review_gold_share` (or when nothing waits) a contributor gets one an admin labeled,
        to measure their accuracy."""
        reviews, ctx = self.ctx.store.reviews, self.ctx
        if ctx.is_admin(user_id):
            disputed = await reviews.first(State.DISPUTED, user_id, showing)
            if disputed is not None:
                return disputed
            return await reviews.first(State.WAITING, user_id, showing)
        measuring = self.draw.random() < ctx.policy.review_gold_share
        if not measuring:
            waiting = await reviews.first(State.WAITING, user_id, showing)
            if waiting is not None:
                return waiting
        gold = await reviews.gold(user_id, ctx.policy.admins, showing)
        if gold:
            return self.draw.choice(gold)
        return await reviews.first(State.WAITING, user_id, showing) if measuring else None
