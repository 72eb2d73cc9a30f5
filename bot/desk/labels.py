"""Labels and the model, for admins: add, rename, retire, roll back, and what the model is."""

from __future__ import annotations

import shlex

from bot import texts
from bot.desk.context import DeskContext
from bot.desk.views import CrowdProgress, LabelCount, ModelReport, Renamed, RolledBack, Stats
from bot.store import EventKind
from model_core.consensus import State
from model_core.labels import Label


class Labels:
    def __init__(self, context: DeskContext) -> None:
        self.ctx = context

    def active_names(self) -> list[str]:
        return [label.name for label in self.ctx.active_labels()]

    def counts(self) -> list[LabelCount]:
        snapshot = self.ctx.snapshot
        return [LabelCount(x.name, snapshot.examples_of(x.id), x.retired) for x in snapshot.labels]

    async def add(self, user_id: int | None, raw: str) -> Label:
        self.ctx.check_admin(user_id)
        if not raw.strip():
            raise texts.refused("usage", command="/addlabel NAME")
        return await self.ctx.add_label(raw, user_id)

    async def rename(self, user_id: int | None, args: str) -> Renamed:
        self.ctx.check_admin(user_id)
        old, new = _two_names(args, "/renamelabel OLD NEW")
        label = self.ctx.existing_label(old)
        name = self.ctx.new_label_name(new)
        event_id = await self.ctx.store.events.add(
            EventKind.RENAME_LABEL, user_id, label_id=label.id, name=name
        )
        return Renamed(label.name, await self.ctx.apply(event_id))

    async def retire(self, user_id: int | None, raw: str) -> Label:
        self.ctx.check_admin(user_id)
        if not raw.strip():
            raise texts.refused("usage", command="/retirelabel NAME")
        label = self.ctx.existing_label(raw)
        if label.retired:
            raise texts.refused("already_retired", name=label.name)
        store = self.ctx.store
        event_id = await store.events.add(EventKind.RETIRE_LABEL, user_id, label_id=label.id)
        return await self.ctx.apply(event_id)


class ModelAdmin:
    def __init__(self, context: DeskContext) -> None:
        self.ctx = context

    async def stats(self, user_id: int) -> Stats:
        """Examples per label, and whether each vote's first guess was right, in order."""
        self.ctx.check_admin(user_id)
        counts = Labels(self.ctx).counts()
        store = self.ctx.store
        return Stats(counts, await store.votes.first_guess_history(), crowd_progress(
            await store.consensus.progress()
        ))  # fmt: skip

    async def report(self, user_id: int) -> ModelReport:
        self.ctx.check_admin(user_id)
        snapshot, versions = self.ctx.snapshot, self.ctx.service.versions()
        recent = [
            f"#{event.id} {event.kind}: {event.result or 'pending'}"
            for event in await self.ctx.store.events.recent(5)
        ]
        older = [v for v in versions if v < snapshot.version][-5:]
        predictor = snapshot.predictor
        return ModelReport(
            snapshot.version,
            snapshot.learner,
            self.ctx.policy.backbone,
            versions,
            recent,
            older,
            predictor.temperature if predictor else None,
            snapshot.sure_threshold,
            self.ctx.journal.stall,
        )

    def rollback_offer(self, user_id: int, version: int) -> int:
        """Checks that the person may restore this version before asking them to confirm."""
        self.ctx.check_admin(user_id)
        if version not in self.ctx.service.versions():
            raise texts.refused("version_gone", version=version)
        return version

    def cancel_rollback(self, user_id: int) -> None:
        self.ctx.check_admin(user_id)

    async def rollback(self, user_id: int | None, version: int | None) -> RolledBack:
        """Restores a stored version (default: the one before the newest) as a new version."""
        self.ctx.check_admin(user_id)
        versions = self.ctx.service.versions()
        if version is None:
            older = [v for v in versions if v < self.ctx.snapshot.version]
            if not older:
                raise texts.refused("no_earlier_version")
            version = older[-1]
        if version not in versions:
            raise texts.refused("version_gone", version=version, stored=versions)
        store = self.ctx.store
        event_id = await store.events.add(EventKind.ROLLBACK, user_id, version=version)
        return RolledBack(version, await self.ctx.apply(event_id))


def _two_names(args: str, usage: str) -> tuple[str, str]:
    try:
        parts = shlex.split(args)
    except ValueError as error:
        raise texts.refused("usage", command=usage, why=f"unbalanced quotes: {error}") from error
    if len(parts) != 2:
        raise texts.refused("rename_usage")
    return parts[0], parts[1]


def crowd_progress(by_state: dict[State, tuple[int, int, int]]) -> CrowdProgress:
    settled, settled_votes, _ = by_state.get(State.SETTLED, (0, 0, 0))
    waiting, _, unvoted = by_state.get(State.WAITING, (0, 0, 0))
    disputed = by_state.get(State.DISPUTED, (0, 0, 0))[0]
    mean = settled_votes / settled if settled else None
    return CrowdProgress(settled, waiting, unvoted, disputed, mean)
