"""The labeling desk: what a photo, a vote or an admin command does, without Telegram types.

Handlers (`bot.handlers`) turn updates into calls here and answers into messages. Every change
to the model goes through the store's journal first (`record_vote`, `add_event`) and is applied
by `Journal.apply`, so it is on disk before anyone is told it happened.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import numpy as np

from bot import texts
from bot.journal import Journal, JournalError
from bot.settings import Settings
from bot.store import Sample, Store, VoteRefused
from model_core.labels import Label, LabelError, normalize_label_name

UNDO_WINDOW_SECONDS = 300.0
UNSURE_BELOW = 0.5  # a top guess less likely than this is shown as a doubt


class DeskError(Exception):
    """A request that changes nothing; the message is for the person who made it."""


@dataclass
class Desk:
    settings: Settings
    store: Store
    service: object  # model_core.service.ModelService (typed loosely: no TensorFlow here)
    journal: Journal
    input_size: int

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.settings.admins

    @property
    def snapshot(self):
        return self.service.snapshot

    # ---- photos --------------------------------------------------------------------------------

    async def embed(self, data: bytes) -> np.ndarray:
        """Raises model_core.intake.ImageError with a friendly message for a bad upload."""
        return (await self.service.embed_images([data]))[0]

    async def guesses(self, embedding: np.ndarray) -> list[dict]:
        top = (await self.service.predict(embedding[None], top_k=3))[0]
        return [{"label_id": g.label_id, "name": g.name, "probability": g.probability} for g in top]

    def current_guesses(self, sample: Sample) -> list[tuple[int, str, float]]:
        """The sample's stored guesses that are still active labels, named as they are now."""
        labels = self.snapshot.labels
        return [
            (g["label_id"], labels[g["label_id"]].name, g["probability"])
            for g in sample.prediction
            if g["label_id"] < len(labels) and not labels[g["label_id"]].retired
        ]

    def active_labels(self) -> list[tuple[int, str]]:
        active = self.snapshot.labels.active
        return sorted(((label.id, label.name) for label in active), key=_by_name)

    # ---- votes ---------------------------------------------------------------------------------

    def votable(self, label_id: int) -> Label:
        labels = self.snapshot.labels
        if label_id >= len(labels) or labels[label_id].retired:
            raise DeskError(texts.UNKNOWN_LABEL)
        return labels[label_id]

    async def record_vote(self, sample: Sample, user_id: int, label_id: int | None):
        """Commits a vote (None: skip) and returns its journal event (None for a skip); the
        caller can acknowledge the tap right away and then `apply` it."""
        if label_id is not None:
            self.votable(label_id)
        try:
            _, event_id = await self.store.record_vote(sample, user_id, label_id)
        except VoteRefused as refused:
            raise DeskError(str(refused)) from refused
        return event_id

    async def vote(self, sample: Sample, user_id: int, label_id: int | None) -> int | None:
        """Records and applies a vote; returns the model version it made (None for a skip)."""
        event_id = await self.record_vote(sample, user_id, label_id)
        return None if event_id is None else await self.apply(event_id)

    async def undo(self, sample: Sample, user_id: int) -> None:
        try:
            event_id = await self.store.undo_vote(sample, user_id, UNDO_WINDOW_SECONDS)
        except VoteRefused as refused:
            raise DeskError(str(refused)) from refused
        if event_id is not None:
            await self.apply(event_id)

    async def tally(self, sample: Sample) -> tuple[list[tuple[str, int]], int]:
        counts = await self.store.tally(sample.id)
        skips = counts.pop(None, 0)
        labels = self.snapshot.labels
        named = [(labels[i].name, n) for i, n in sorted(counts.items(), key=lambda kv: -kv[1])]
        return named, skips

    # ---- labels --------------------------------------------------------------------------------

    def new_label_name(self, raw: str) -> str:
        """A valid, unused label name, or DeskError saying what is wrong with it."""
        try:
            name = normalize_label_name(raw)
        except LabelError as error:
            raise DeskError(str(error)) from error
        existing = self.snapshot.labels.find(name)
        if existing is not None:
            state = "a retired label" if existing.retired else "a label"
            raise DeskError(f"There is already {state} called {existing.name}.")
        return name

    def existing_label(self, raw: str) -> Label:
        try:
            label = self.snapshot.labels.find(raw)
        except LabelError as error:
            raise DeskError(str(error)) from error
        if label is None:
            raise DeskError(f"There is no label called {raw.strip()}. See /labels.")
        return label

    async def add_label(self, raw: str, user_id: int) -> Label:
        name = self.new_label_name(raw)
        event_id = await self.store.add_event("add_label", user_id, name=name)
        return await self.apply(event_id)

    async def rename_label(self, args: str, user_id: int) -> tuple[str, Label]:
        old, new = _two_names(args, "/renamelabel OLD NEW")
        label = self.existing_label(old)
        name = self.new_label_name(new)
        event_id = await self.store.add_event("rename_label", user_id, label_id=label.id, name=name)
        return label.name, await self.apply(event_id)

    async def retire_label(self, raw: str, user_id: int) -> Label:
        label = self.existing_label(raw)
        if label.retired:
            raise DeskError(f"{label.name} is already retired.")
        event_id = await self.store.add_event("retire_label", user_id, label_id=label.id)
        return await self.apply(event_id)

    def label_counts(self) -> list[tuple[str, int, bool]]:
        counts = self.snapshot.example_counts
        return [
            (label.name, counts[label.id] if label.id < len(counts) else 0, label.retired)
            for label in self.snapshot.labels
        ]

    # ---- model versions ------------------------------------------------------------------------

    async def rollback(self, version: int, user_id: int) -> int:
        if version not in self.service.versions():
            raise DeskError(f"Version {version} is no longer stored.")
        event_id = await self.store.add_event("rollback", user_id, version=version)
        return await self.apply(event_id)

    async def apply(self, event_id: int):
        try:
            return await self.journal.apply(event_id)
        except JournalError as error:
            raise DeskError(f"That did not work: {error}") from error


def _by_name(item: tuple[int, str]) -> str:
    return item[1].casefold()


def _two_names(args: str, usage: str) -> tuple[str, str]:
    try:
        parts = shlex.split(args)
    except ValueError as error:
        raise DeskError(f"Usage: {usage} (unbalanced quotes: {error})") from error
    if len(parts) != 2:
        raise DeskError(f'Usage: {usage}; quote names with spaces: /renamelabel "Ankle boot" Boot')
    return parts[0], parts[1]
