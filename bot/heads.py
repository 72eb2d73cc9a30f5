"""Model versions as the trainer publishes them and replicas follow them (`--role`).

The trainer is the only process that changes the model. After applying journal events it
publishes the new version's read-out (a `ModelSnapshot`: labels, the head's kernel and bias,
about 1281 x labels floats) in the `model_heads` table and notifies `HEADS_CHANNEL`. Each
replica keeps a `FollowedModel`: the backbone runs locally, and the snapshot it predicts with
is swapped for the newest published one when the notification arrives (or, if a notification
is missed, at the next one-second poll). Readers never wait: a swap is one reference.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from dataclasses import dataclass

import asyncpg
import numpy as np

from bot.store import EVENTS_CHANNEL, HEADS_CHANNEL, Store
from model_core.embedder import ImageEmbedder
from model_core.labels import LabelSet
from model_core.learners.base import FeatureMap, LinearPredictor
from model_core.model import ModelSnapshot
from model_core.service import ModelReader

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0  # a replica checks for a newer head at least this often
CHECKPOINT_REQUEST = "checkpoint"  # EVENTS_CHANNEL payload: write a checkpoint now
CHECKPOINT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Head:
    """One published model version and what replicas need to know beside it."""

    snapshot: ModelSnapshot
    last_event_id: int  # every journal event up to this one is in the version
    versions: tuple[int, ...]  # stored checkpoints a rollback can restore
    checkpointed: int  # the newest version written to disk

    def encode(self) -> tuple[str, bytes]:
        """(meta JSON, arrays as .npz bytes) for `Store.publish_head`."""
        predictor = self.snapshot.predictor
        meta = {
            "version": self.snapshot.version,
            "learner": self.snapshot.learner,
            "labels": self.snapshot.labels.to_json(),
            "example_counts": list(self.snapshot.example_counts),
            "last_event_id": self.last_event_id,
            "versions": list(self.versions),
            "checkpointed": self.checkpointed,
        }
        arrays: dict[str, np.ndarray] = {}
        if predictor is not None:
            meta |= {
                "bias_feature": predictor.features.bias_feature,
                "temperature": predictor.temperature,
                "sure_threshold": predictor.sure_threshold,
            }
            arrays = {
                "kernel": predictor.kernel,
                "bias": predictor.bias,
                "active": predictor.active,
            }
            if predictor.features.projection is not None:
                arrays["projection"] = predictor.features.projection
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return json.dumps(meta), buffer.getvalue()

    @classmethod
    def decode(cls, meta_json: str, data: bytes) -> Head:
        meta = json.loads(meta_json)
        predictor = None
        if "kernel" in (arrays := np.load(io.BytesIO(data))):
            features = FeatureMap(arrays.get("projection"), meta["bias_feature"])
            predictor = LinearPredictor(
                features, arrays["kernel"], arrays["bias"], arrays["active"],
                meta["temperature"], meta["sure_threshold"],
            )  # fmt: skip
        snapshot = ModelSnapshot(
            meta["version"], meta["learner"], LabelSet.from_json(meta["labels"]), predictor,
            tuple(meta["example_counts"]),
        )  # fmt: skip
        return cls(snapshot, meta["last_event_id"], tuple(meta["versions"]), meta["checkpointed"])


class FollowedModel(ModelReader):
    """A replica's model: the local backbone and the newest head the trainer published."""

    def __init__(self, store: Store, url: str, embedder: ImageEmbedder | None) -> None:
        super().__init__(ModelSnapshot(0, "", LabelSet(), None), embedder=embedder)
        self.store = store
        self.head: Head | None = None
        self._meta = ""
        self._url = url
        self._changed = asyncio.Condition()
        self._listener: asyncpg.Connection | None = None
        self._polling: asyncio.Task | None = None
        self._refreshing: set[asyncio.Task] = set()

    @classmethod
    async def follow(cls, store: Store, url: str, embedder: ImageEmbedder | None) -> FollowedModel:
        """Waits for the trainer's first head (it publishes one as soon as it starts)."""
        model = cls(store, url, embedder)
        while await model.refresh() is None:
            log.info("waiting for the trainer to publish a model")
            await asyncio.sleep(POLL_SECONDS)
        await model._listen()
        return model

    async def _listen(self) -> None:
        await self._open_listener()
        self._polling = asyncio.get_running_loop().create_task(self._poll())

    async def _open_listener(self) -> None:
        self._listener = await asyncpg.connect(self._url)
        await self._listener.add_listener(HEADS_CHANNEL, self._notified)

    def _notified(self, *_) -> None:
        refreshing = asyncio.get_running_loop().create_task(self.refresh())
        self._refreshing.add(refreshing)  # held until done: the loop keeps only a weak one
        refreshing.add_done_callback(self._refreshing.discard)

    async def _poll(self) -> None:
        """Catches a notification lost to a dropped listener connection."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.refresh()
                if self._listener.is_closed():
                    await self._open_listener()
            except Exception as error:  # the database away for a moment: try again later
                log.warning("cannot read the published model: %s", error)

    async def refresh(self) -> Head | None:
        """Swaps in the newest published head if it differs from the one held (a new version,
        or the same one checkpointed since); the head held after."""
        newest = await self.store.heads.latest_meta()
        if newest is None or (newest[1] == self._meta):
            return self.head
        version, meta = newest
        head = Head.decode(meta, await self.store.heads.arrays(version))
        if self.head is None or version >= self.head.snapshot.version:
            async with self._changed:
                self.head, self._snapshot, self._meta = head, head.snapshot, meta
                self._changed.notify_all()
        return self.head

    async def wait_for(self, ready, timeout: float) -> Head:
        """The held head once `ready(head)` holds; TimeoutError after `timeout` seconds."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: ready(self.head)), timeout)
            return self.head

    @property
    def last_event_id(self) -> int:
        """The newest journal event in the published model (the trainer applies them)."""
        return self.head.last_event_id if self.head is not None else 0

    def versions(self) -> list[int]:
        return list(self.head.versions)

    async def checkpoint(self) -> int:
        """Asks the trainer to write the current version to disk; returns once it has."""
        version = self.snapshot.version
        await self.store.notify(EVENTS_CHANNEL, CHECKPOINT_REQUEST)
        head = await self.wait_for(lambda h: h.checkpointed >= version, CHECKPOINT_TIMEOUT)
        return head.checkpointed

    async def close(self) -> None:
        if self._polling is not None:
            self._polling.cancel()
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
        await super().close()
