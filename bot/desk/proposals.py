"""A new label proposed on a photo: named by its proposer, decided by an admin."""

from __future__ import annotations

from bot import texts
from bot.desk.context import DeskContext
from bot.desk.views import Ask, Decision, DeskError, NameOutcome, TapIn
from bot.store import Proposal, ProposalState


class Proposals:
    def __init__(self, context: DeskContext) -> None:
        self.ctx = context

    async def propose(self, tap: TapIn, sample_id: int, ask: Ask) -> None:
        """Opens a proposal for a new label on the photo and asks for its name."""
        sample = await self.ctx.bound_sample(tap, sample_id)
        proposal_id = await self.ctx.store.proposals.open(sample.id, tap.user_id, sample.chat_id)
        await self.ctx.store.proposals.set_prompt(proposal_id, await ask(sample))

    async def name(
        self, chat_id: int, prompt_id: int, user_id: int, raw: str
    ) -> NameOutcome | None:
        """A reply to a name prompt; None when the reply answers no prompt of ours. An admin's
        name adds the label at once; anyone else's waits for the admins."""
        store = self.ctx.store
        proposal = await store.proposals.for_reply(chat_id, prompt_id, user_id)
        if proposal is None:
            return None
        if proposal.user_id != user_id:
            return NameOutcome(texts.NOT_YOUR_PROMPT)
        try:
            name = self.ctx.new_label_name(raw)
        except DeskError as refused:
            return NameOutcome(texts.name_again(str(refused)))
        after = ProposalState.APPROVED if self.ctx.is_admin(user_id) else ProposalState.PENDING
        if not await store.proposals.move(
            proposal.id, ProposalState.AWAITING_NAME, after, name=name
        ):
            return None  # a second reply raced this one
        if after == ProposalState.APPROVED:
            return NameOutcome(await self._accept(proposal, name, user_id))
        waiting = await store.proposals.get(proposal.id)
        return NameOutcome(texts.asked_admins(name), waiting)

    async def decide(self, user_id: int, proposal_id: int, approve: bool) -> Decision:
        self.ctx.check_admin(user_id)
        store = self.ctx.store
        proposal = await store.proposals.get(proposal_id)
        after = ProposalState.APPROVED if approve else ProposalState.REJECTED
        if proposal is None or not await store.proposals.move(
            proposal_id, ProposalState.PENDING, after, by=user_id
        ):
            raise texts.refused("already_decided")
        assert proposal.name is not None  # a proposal waits for the admins once it is named
        if approve:
            announcement = await self._accept(proposal, proposal.name, user_id)
        else:
            announcement = texts.label_rejected(proposal.name)
        sample = await store.samples.get(proposal.sample_id)
        quoted = None if sample is None else sample.photo_message_id  # None: forgotten since
        return Decision(proposal, approve, announcement, quoted)

    async def _accept(self, proposal: Proposal, name: str, by: int) -> str:
        """Adds an approved label; the photo that prompted it becomes its first example."""
        sample = await self.ctx.store.samples.get(proposal.sample_id)
        try:
            label = await self.ctx.add_label(name, by)
        except DeskError as refused:
            return texts.label_not_added(name, str(refused))
        if sample is None:  # the photo was forgotten (/forgetme) meanwhile
            return texts.label_added(label.name)
        try:
            await self.ctx.applied(await self.ctx.record_vote(sample, proposal.user_id, label.id))
        except DeskError:  # the proposer's own vote on the photo stands: the label is added
            return texts.label_added(label.name)
        return texts.label_added_from_photo(label.name)
