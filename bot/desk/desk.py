"""The desk: its topics over one shared context (see the package's docstring)."""

from __future__ import annotations

import random
from pathlib import Path

from bot.desk.context import DeskContext
from bot.desk.exports import Exports
from bot.desk.imports import Imports
from bot.desk.insight import Insight
from bot.desk.labels import Labels, ModelAdmin
from bot.desk.people import People, Reliabilities
from bot.desk.photos import Photos
from bot.desk.ports import JournalPort, ModelPort
from bot.desk.proposals import Proposals
from bot.desk.review import Review
from bot.desk.views import Policy
from bot.desk.votes import Votes
from bot.store import Store
from model_core.model import ModelSnapshot


class Desk:
    """The desk's topics over one shared context."""

    def __init__(
        self,
        policy: Policy,
        store: Store,
        service: ModelPort,
        journal: JournalPort,
        exports: Path,
        *,
        review_draw: random.Random | None = None,
    ) -> None:
        self.context = context = DeskContext(policy, store, service, journal, exports)
        self.crowd = Reliabilities(context)
        self.photos = Photos(context)
        self.votes = Votes(context, self.crowd)
        self.review = Review(context, review_draw)
        self.proposals = Proposals(context)
        self.labels = Labels(context)
        self.model = ModelAdmin(context)
        self.people = People(context)
        self.imports = Imports(context)
        self.exports = Exports(context)
        self.insight = Insight(context)

    @property
    def policy(self) -> Policy:
        return self.context.policy

    @property
    def store(self) -> Store:
        return self.context.store

    @property
    def service(self) -> ModelPort:
        return self.context.service

    @property
    def journal(self) -> JournalPort:
        return self.context.journal

    @property
    def snapshot(self) -> ModelSnapshot:
        return self.context.snapshot

    @property
    def reliability(self) -> dict[int, float]:
        return self.context.reliability

    @property
    def banned(self) -> frozenset[int]:
        return self.context.banned

    def is_admin(self, user_id: int) -> bool:
        return self.context.is_admin(user_id)

    async def close(self) -> None:
        """Applies what is pending, writes a last checkpoint, closes the store."""
        await self.crowd.stop()
        await self.journal.catch_up()
        await self.service.close()
        await self.store.close()
