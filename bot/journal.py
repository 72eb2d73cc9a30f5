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
from dataclasses import dataclass
from typing import Any

from bot.store import EVENTS_CHANNEL, Event, EventKind, Store
from model_core.service import MODEL_REFUSALS, ModelService

log = logging.getLogger(__name__)


class JournalError(Exception):
    """The model refused an event (for example a label retired meanwhile); nothing changed."""


class NotAppliedYet(JournalError):
    """The event is committed but the model has not applied it yet: it will be."""


@dataclass(frozen=True)
class Stall:
    """Why the journal stopped applying: the first event that failed and the error."""

    event_id: int
    kind: str
    error: str


class Journal:
    """Applies committed events to the model in id order.

    A refusal (`MODEL_REFUSALS`: the model declines the change, say a label retired meanwhile)
    is recorded on the event and the journal goes on. Any other error is a fault, and skipping
    the event would leave a vote in the store that the model never learns: the journal stops
    at that event instead (`stall`), logs it once with its traceback, and every later answer is
    still committed and told it will be applied. The next start retries from that event.
    """

    def __init__(self, store: Store, service: ModelService) -> None:
        self.store = store
        self.service = service
        self.stall: Stall | None = None
        self._done = service.last_event_id
        self._awaited: set[int] = set()  # events whose outcome a caller of `apply` waits for
        self._results: dict[int, Any] = {}  # outcomes of awaited events only: bounded
        self._lock = asyncio.Lock()

    async def catch_up(self) -> int:
        """Applies every event after the model's last one; returns how many. Label ids the
        store knows but the model lacks (a checkpoint restored from before them) stay
        reserved, so that no id is handed out twice."""
        async with self._lock:
            applied = await self._apply_pending()
            await self.service.reserve_labels(await self.store.labels.all())
            await self.store.labels.save(self.service.snapshot.labels)
            return applied

    async def pump(self) -> int:
        """Applies every committed event not applied yet; how many. The trainer's loop: no
        handler here waits for a result."""
        async with self._lock:
            return await self._apply_pending()

    async def apply(self, event_id: int) -> Any:
        """The result of applying `event_id` (and every event before it)."""
        self._awaited.add(event_id)
        try:
            async with self._lock:
                if event_id > self._done:
                    await self._apply_pending()
                if event_id > self._done:
                    raise NotAppliedYet(f"event {event_id} waits for the model")
                outcome = self._results.pop(event_id, None)
        finally:
            self._awaited.discard(event_id)
            self._results.pop(event_id, None)
        if isinstance(outcome, Exception):
            raise JournalError(str(outcome)) from outcome
        return outcome

    async def _apply_pending(self) -> int:
        if self.stall is not None:
            return 0
        if self.service.journal_origin is None:  # a new store, or checkpoints from before
            origin = await self.store.events.origin()
            if origin is not None:
                await self.service.follow_journal(origin)
        applied = 0
        for event in await self.store.events.after(self._done):
            try:
                outcome = await self._apply_one(event)
                result = "ok"
            except MODEL_REFUSALS as error:  # recorded, and the journal goes on
                log.warning("event %d (%s) refused: %s", event.id, event.kind, error)
                outcome, result = error, f"refused: {error}"
            except Exception as error:
                self._stop_at(event, error)
                break
            if event.id in self._awaited:
                self._results[event.id] = outcome
            self._done = event.id
            applied += 1
            await self.store.events.applied(event.id, result, self.service.snapshot.version)
        return applied

    def _stop_at(self, event: Event, error: Exception) -> None:
        self.stall = Stall(event.id, str(event.kind), f"{type(error).__name__}: {error}")
        log.error(
            "the model stopped at event %d (%s): %s. Answers are still saved; they will be "
            "applied when labelbot starts again.",
            event.id, event.kind, self.stall.error, exc_info=error,
        )  # fmt: skip

    async def _apply_one(self, event: Event) -> Any:
        service = self.service
        match event.kind:
            case EventKind.REINFORCE | EventKind.UNLEARN:
                sample = await self.store.samples.get(event.sample_id)
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
                await self.store.consensus.rebuild(event.version)
        await self.store.labels.save(service.snapshot.labels)
        return outcome


APPLY_TIMEOUT = 30.0  # seconds a replica waits for the trainer to apply an event


class RemoteJournal:
    """A replica's journal: the trainer applies; this one waits for the published result.

    `model` is the replica's `bot.heads.FollowedModel`. An event the trainer refused raises
    JournalError as it does in one process; an event still pending after APPLY_TIMEOUT (no
    trainer running) raises JournalError too: the answer is committed and will be applied.
    """

    stall: Stall | None = None  # the trainer's journal is the one that can stall

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
            raise NotAppliedYet(f"event {event_id} waits for the trainer") from None
        event, result, version = await self.store.events.outcome(event_id)
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
