"""Applies the store's journal to the model, in event-id order, exactly once.

Handlers commit an event and then `apply` it; whichever handler arrives first applies every
pending event up to its own, so the model sees the order SQLite assigned even when handlers
race. At start-up `catch_up` replays what the newest checkpoint lacks (the model service skips
event ids it already holds), which is how a crash loses no vote.

A replica (`--role replica`) has a `RemoteJournal` instead: it commits events the same way,
wakes the trainer, and waits for the trainer's published model to hold them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.store import EVENTS_CHANNEL, Event, EventKind, Store
from model_core.service import ModelService

log = logging.getLogger(__name__)


class JournalError(Exception):
    """The model refused an event (for example a label retired meanwhile); nothing changed."""


class NotAppliedYet(JournalError):
    """A replica's event is committed but no trainer has applied it in time: it will be."""


class Journal:
    def __init__(self, store: Store, service: ModelService) -> None:
        self.store = store
        self.service = service
        self._done = service.last_event_id
        self._results: dict[int, Any] = {}
        self._lock = asyncio.Lock()

    async def catch_up(self) -> int:
        """Applies every event after the model's last one; returns how many. Label ids the
        store knows but the model lacks (a checkpoint restored from before them) stay
        reserved, so that no id is handed out twice."""
        async with self._lock:
            applied = await self._apply_pending()
            self._results.clear()  # replayed events have no one waiting for them
            await self.service.reserve_labels(await self.store.labels())
            await self.store.save_labels(self.service.snapshot.labels)
            return applied

    async def pump(self) -> int:
        """Applies every committed event not applied yet; how many. The trainer's loop: no
        handler here waits for a result."""
        async with self._lock:
            applied = await self._apply_pending()
            self._results.clear()
            return applied

    async def apply(self, event_id: int) -> Any:
        """The result of applying `event_id` (and every event before it)."""
        async with self._lock:
            if event_id > self._done:
                await self._apply_pending()
            outcome = self._results.pop(event_id, None)
        if isinstance(outcome, Exception):
            raise JournalError(str(outcome)) from outcome
        return outcome

    async def _apply_pending(self) -> int:
        events = await self.store.events_after(self._done)
        for event in events:
            try:
                outcome = await self._apply_one(event)
                result = "ok"
            except Exception as error:  # the model refused it; recorded, and the journal goes on
                log.warning("event %d (%s) refused: %s", event.id, event.kind, error)
                outcome, result = error, f"refused: {error}"
            self._results[event.id] = outcome
            self._done = event.id
            await self.store.event_applied(event.id, result, self.service.snapshot.version)
        return len(events)

    async def _apply_one(self, event: Event) -> Any:
        service = self.service
        match event.kind:
            case EventKind.REINFORCE | EventKind.UNLEARN:
                sample = await self.store.sample(event.sample_id)
                learn = event.kind == EventKind.REINFORCE
                change = service.reinforce if learn else service.unlearn
                weight = 1.0 if event.weight is None else event.weight
                return await change(sample.embedding, event.label_id, event.id, weight)
            case EventKind.ADD_LABEL:
                outcome = await service.add_label(event.name, event.id)
            case EventKind.RENAME_LABEL:
                outcome = await service.rename_label(event.label_id, event.name, event.id)
            case EventKind.RETIRE_LABEL:
                outcome = await service.retire_label(event.label_id, event.id)
            case EventKind.ROLLBACK:
                outcome = await service.rollback(event.version, event.id)
                await self.store.rebuild_contributions(event.version)
        await self.store.save_labels(service.snapshot.labels)
        return outcome


APPLY_TIMEOUT = 30.0  # seconds a replica waits for the trainer to apply an event


class RemoteJournal:
    """A replica's journal: the trainer applies; this one waits for the published result.

    `model` is the replica's `bot.heads.FollowedModel`. An event the trainer refused raises
    JournalError as it does in one process; an event still pending after APPLY_TIMEOUT (no
    trainer running) raises JournalError too: the answer is committed and will be applied.
    """

    def __init__(self, store: Store, model, timeout: float = APPLY_TIMEOUT) -> None:
        self.store = store
        self.model = model
        self.timeout = timeout

    async def catch_up(self) -> int:
        return 0  # the trainer's job

    async def apply(self, event_id: int) -> Any:
        await self.store.notify(EVENTS_CHANNEL, str(event_id))
        try:
            await self.model.wait_for(lambda head: head.last_event_id >= event_id, self.timeout)
        except TimeoutError:
            raise NotAppliedYet(
                "Saved. The model is not being updated right now; your answer will be applied "
                "as soon as it is."
            ) from None
        event, result, version = await self.store.event_outcome(event_id)
        if result is not None and result.startswith("refused"):
            raise JournalError(result.removeprefix("refused: "))
        return self._outcome(event, version)

    def _outcome(self, event: Event, version: int | None) -> Any:
        """What `ModelService` returned for the event, read off the published model."""
        labels = self.model.snapshot.labels
        match event.kind:
            case EventKind.ADD_LABEL:
                return labels.get(event.name)
            case EventKind.RENAME_LABEL | EventKind.RETIRE_LABEL:
                return labels[event.label_id]
        return version if version is not None else self.model.snapshot.version
