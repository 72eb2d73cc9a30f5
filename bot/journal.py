"""Applies the store's journal to the model, in event-id order, exactly once.

Handlers commit an event and then `apply` it; whichever handler arrives first applies every
pending event up to its own, so the model sees the order SQLite assigned even when handlers
race. At start-up `catch_up` replays what the newest checkpoint lacks (the model service skips
event ids it already holds), which is how a crash loses no vote.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.store import Event, EventKind, Store
from model_core.service import ModelService

log = logging.getLogger(__name__)


class JournalError(Exception):
    """The model refused an event (for example a label retired meanwhile); nothing changed."""


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
