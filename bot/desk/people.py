"""People and the crowd: each voter's record and standing, bans, forgetting a person, and the
reliabilities that weigh their votes (re-estimated in the background as votes come in)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter

from bot import texts
from bot.desk.context import DeskContext
from bot.desk.views import Contributor, Standing
from bot.store import IMPORT_USER
from model_core.consensus import PRIOR_RELIABILITY, estimate_reliability

log = logging.getLogger(__name__)
REESTIMATE_TOLERANCE = 0.05  # a photo whose weight moves less keeps its contribution
REFOLLOW_BATCH = 200  # photos re-decided per store transaction


class Reliabilities:
    """Each voter's estimated reliability, and the photos that follow it."""

    def __init__(self, context: DeskContext) -> None:
        self.ctx = context
        self._votes_since_estimate = 0
        self._reestimating: asyncio.Task | None = None
        self._following: asyncio.Task | None = None

    async def load(self) -> None:
        """Reads the reliabilities and bans the store keeps."""
        self.ctx.reliability = await self.ctx.store.people.reliabilities()
        self.ctx.banned = await self.ctx.store.people.banned()

    def follow_policy_soon(self) -> None:
        """`follow_policy` in the background: judging every photo of a large campaign again
        takes a minute or two, and the bot answers meanwhile (a vote judges its own photo
        under the new policy at once)."""
        self._following = asyncio.get_running_loop().create_task(self._follow_policy_quietly())

    async def follow_policy(self) -> int:
        """Judges every photo again when the crowd's policy (the confidence that settles a
        photo, the fewest agreeing votes, the most votes) differs from the one the store's
        standings follow: a setting changed, or a store from before standings were kept. The
        model is corrected only where a verdict moves. Returns how many photos were judged."""
        ctx, store = self.ctx, self.ctx.store
        crowd = ctx.crowd
        policy = json.dumps({"confidence": crowd.confidence, "settle_after": crowd.settle_after,
                             "max_votes": crowd.max_votes}, sort_keys=True)  # fmt: skip
        if await store.consensus.policy() == policy:
            return 0
        samples = await store.samples.ids()
        await self._refollow(samples)
        await store.consensus.set_policy(policy)
        log.info("judged %d photos again under the crowd policy %s", len(samples), policy)
        return len(samples)

    async def reestimate(self) -> int:
        """Re-estimates every voter's reliability from all live votes (off the event loop),
        then corrects the photos whose consensus moved; returns how many photos changed."""
        ctx, store = self.ctx, self.ctx.store
        retired = {label.id for label in ctx.snapshot.labels if label.retired}
        votes = [
            v for v in await store.votes.live() if v[1] not in ctx.banned and v[2] not in retired
        ]
        self._votes_since_estimate = 0
        labels = ctx.crowd.labels
        gold = frozenset(ctx.policy.admins | {IMPORT_USER})
        ctx.reliability = await asyncio.to_thread(estimate_reliability, votes, labels, gold)
        await store.people.save_reliabilities(ctx.reliability)
        before = await store.consensus.contributions()
        await self._refollow(sorted({sample for sample, _, _ in votes}))
        after = await store.consensus.contributions()
        return len({s for s, *_ in set(before) ^ set(after)})

    async def _refollow(self, samples: list[int]) -> None:
        """Judges these photos again, in short transactions (votes go on meanwhile); a
        photo's contribution moves only if its weight moves by more than the tolerance."""
        ctx = self.ctx
        for start in range(0, len(samples), REFOLLOW_BATCH):
            chunk = samples[start : start + REFOLLOW_BATCH]
            await ctx.applied(
                await ctx.store.consensus.refollow(chunk, ctx.crowd.judge, REESTIMATE_TOLERANCE)
            )

    def count_vote(self) -> None:
        """Re-estimates reliabilities in the background every `reestimate_every` votes."""
        self._votes_since_estimate += 1
        every = self.ctx.policy.reestimate_every
        due = every > 0 and self._votes_since_estimate >= every
        if due and (self._reestimating is None or self._reestimating.done()):
            self._reestimating = asyncio.get_running_loop().create_task(self._reestimate_quietly())

    async def settle(self) -> None:
        """Waits for the background re-judging and re-estimate to finish."""
        for task in (self._following, self._reestimating):
            if task is not None:
                await task

    async def stop(self) -> None:
        """Before closing: waits for a re-estimate, and stops a re-judging that has not
        finished (the next start does it again: the policy is stored only once it is done),
        so that a stop never waits minutes."""
        if self._following is not None:
            self._following.cancel()  # done already: nothing happens
            with contextlib.suppress(asyncio.CancelledError):
                await self._following
            self._following = None
        await self.settle()

    async def _follow_policy_quietly(self) -> None:
        try:
            await self.follow_policy()
        except Exception:  # the next start tries again: the policy is stored only when done
            log.exception("judging the photos again under the crowd policy failed")

    async def _reestimate_quietly(self) -> None:
        try:
            changed = await self.reestimate()
            log.info("reliabilities re-estimated; %d photos follow the new consensus", changed)
        except Exception:  # a failed estimate leaves the old one in place; votes go on
            log.exception("re-estimating reliabilities failed")


class People:
    def __init__(self, context: DeskContext) -> None:
        self.ctx = context

    async def contributors(self, admin: int | None) -> list[Contributor]:
        """Every voter's record, most votes first (admins only)."""
        self.ctx.check_admin(admin)
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
        await self.ctx.store.people.set_hidden(user_id, hidden)

    async def ban(self, admin: int | None, raw: str, banned: bool = True) -> int:
        """Bans (or unbans) a contributor by numeric id: their votes stop counting and every
        photo they voted on follows the consensus without (or with) them. Returns how many."""
        ctx = self.ctx
        ctx.check_admin(admin)
        user_id = _user_id(raw, "/ban" if banned else "/unban")
        if ctx.is_admin(user_id):
            raise texts.refused("admins_cannot_be_banned")
        await ctx.store.people.set_banned(user_id, banned, admin)
        ctx.banned = await ctx.store.people.banned()
        voted = await ctx.store.votes.samples_voted_by(user_id)
        await ctx.applied(await ctx.store.consensus.refollow(voted, ctx.crowd.judge))
        return len(voted)

    async def forget(self, user_id: int) -> None:
        """Deletes the person's votes, photos and every row naming them, after taking back all
        of it from the model (checkpointed first, so a crash cannot replay what is gone)."""
        ctx, store = self.ctx, self.ctx.store
        await ctx.applied(await store.votes.forget(user_id, ctx.crowd.judge))
        await ctx.applied(await store.consensus.withdraw_photos(user_id))
        await ctx.service.checkpoint()
        await store.people.delete(user_id)
        left = await store.people.rows_naming(user_id)
        if left:  # a table delete_person does not know yet: the promise would be broken
            log.error("forgetting user %d left %d rows naming them", user_id, left)
        ctx.reliability.pop(user_id, None)
        ctx.banned = ctx.banned - {user_id}

    async def _contributors(self) -> list[Contributor]:
        store = self.ctx.store
        votes, verdicts, people = (
            await store.votes.live(), await store.consensus.verdicts(), await store.people.names()
        )  # fmt: skip
        gold = self.ctx.policy.admins | {IMPORT_USER}
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
                reliability=self.ctx.reliability.get(user, PRIOR_RELIABILITY),
                banned=user in self.ctx.banned, hidden=hidden,
            ))  # fmt: skip
        return sorted(rows, key=lambda c: (-c.votes, c.user_id))


def _user_id(raw: str, command: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise texts.refused("usage_user_id", command=command)
    return int(text)
