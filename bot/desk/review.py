"""The review queue: photos others sent, re-sent to someone for their vote."""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Sequence

from bot import texts
from bot.desk.context import DeskContext
from bot.desk.views import SendPhoto, Show
from bot.export import PhotoGone
from bot.store import Candidate

log = logging.getLogger(__name__)
REVIEW_TRIES = 3  # photos tried per /review when Telegram no longer has one


class Review:
    def __init__(self, context: DeskContext, draw: random.Random | None = None) -> None:
        self.ctx = context
        self.draw = draw or random.Random()

    async def send_next(self, user_id: int, chat_id: int, send: SendPhoto, show: Show) -> None:
        """Sends this person the photo most worth their vote (see `pick`), with the model's
        current guesses and the voting buttons; DeskError when there is none."""
        store = self.ctx.store
        for _ in range(REVIEW_TRIES):
            candidates = await store.reviews.candidates(user_id, self.ctx.policy.admins)
            chosen = self.pick(candidates)
            if chosen is None:
                raise texts.refused("nothing_to_review")
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
            raise texts.refused("nothing_to_review")
        assert sample is not None  # the loop breaks only on a photo sent
        review_id = await store.reviews.add(sample.id, user_id, chat_id, sent)
        shown = await show(dataclasses.replace(self.ctx.fresh_view(sample), review=True))
        await store.reviews.set_message(review_id, shown)

    def pick(self, candidates: Sequence[Candidate]) -> int | None:
        """Unsettled photos first, then disagreement, then the model's smallest margin; with
        probability `review_gold_share` a photo an admin settled, to measure the voter."""
        gold = [c for c in candidates if c.gold]
        if gold and self.draw.random() < self.ctx.policy.review_gold_share:
            return self.draw.choice(gold).sample_id
        open_ = [c for c in candidates if not c.gold] or gold
        if not open_:
            return None
        return min(open_, key=lambda c: (c.settled, -c.labels_named, c.margin)).sample_id
