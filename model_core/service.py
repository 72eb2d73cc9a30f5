"""The async model service: what the bot and the CLI talk to.

Reads never wait for training: `snapshot` is an immutable `ModelSnapshot` swapped in whole after
each write, and TensorFlow work (the backbone) runs in a worker thread, off the event loop.

Writes go through exactly one writer thread that owns the `LabelModel`, in the spirit of
aiosqlite: each async method only enqueues a function and awaits its future, so writes apply
one at a time in submission order, each producing a new version. Checkpoints are written by the
same thread every `checkpoint_every` writes, after label changes and rollbacks, on close, and
once the writer has been idle for `idle_checkpoint_seconds` with writes unsaved: read-only
readers of the data dir (`labelbot predict` beside a running bot) then see every vote within
seconds, and a crash has less to replay.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from model_core.backbone.background import BackboneLoading
from model_core.batcher import EmbeddingBatcher
from model_core.checkpoints import CheckpointError, CheckpointStore
from model_core.embedder import ImageEmbedder
from model_core.intake import ImageError, IntakeLimits
from model_core.labels import Label, LabelError, LabelSet
from model_core.learners.analytic import limit_blas_threads
from model_core.model import Guess, LabelModel, ModelSnapshot

log = logging.getLogger(__name__)
T = TypeVar("T")
MODEL_REFUSALS: tuple[type[Exception], ...] = (LabelError, CheckpointError)
"""What a write raises when the model declines it (a retired or unknown label, no version to
roll back to): nothing changed, and the caller may go on. Anything else is a fault."""
_STOP = object()


@dataclass(frozen=True)
class Reading:
    """One image as the model saw it: its embedding and the guesses of one model version."""

    embedding: np.ndarray
    guesses: list[Guess]
    version: int


class ModelReader:
    """The read side: image bytes to embeddings and guesses, on an immutable snapshot.

    Every way of asking the model about photos (the bot, `labelbot predict` and `embed`, the
    benchmark's latency mode) goes through `read_images`, so all of them share the intake, the
    backbone batching and the percentages. The work runs on reader threads, off the event loop.
    Opened on its own (`open_latest`) it serves the newest checkpoint read-only: that is how
    read-only commands work beside a running bot.
    """

    def __init__(self, snapshot: ModelSnapshot, *, embedder: ImageEmbedder | None = None) -> None:
        self._snapshot = snapshot
        self._embedder = embedder
        self._batcher = EmbeddingBatcher(embedder) if embedder is not None else None
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="model-reader")

    @classmethod
    def open_latest(
        cls, directory: Path, learner: str, *, embedder: ImageEmbedder | None = None
    ) -> ModelReader:
        """The newest intact checkpoint under `directory` (an empty model if there is none)."""
        checkpoint = CheckpointStore(directory).load_latest()
        if checkpoint is None:
            return cls(LabelModel.new(learner).snapshot(), embedder=embedder)
        return cls(LabelModel.from_checkpoint(checkpoint).snapshot(), embedder=embedder)

    @property
    def snapshot(self) -> ModelSnapshot:
        return self._snapshot

    @property
    def intake_limits(self) -> IntakeLimits:
        return self._embedder.limits if self._embedder is not None else IntakeLimits()

    @property
    def input_size(self) -> int:
        """The backbone's square input: the smallest photo worth fetching."""
        if self._embedder is None:
            raise RuntimeError("this model was opened without a backbone")
        return self._embedder.input_size

    @property
    def batcher(self) -> EmbeddingBatcher:
        if self._batcher is None:
            raise RuntimeError("this model was opened without a backbone")
        return self._batcher

    async def read_images(
        self, images: Sequence[bytes], top_k: int = 3
    ) -> list[Reading | ImageError]:
        """Per image, its reading or the ImageError that refused it.

        Each image is decoded alone on a reader thread (one bad upload spoils no other, and
        two decode at once); the good ones join other callers' photos in a backbone batch;
        all of them are predicted on one snapshot.
        """
        batcher, loop = self.batcher, asyncio.get_running_loop()
        prepared = await asyncio.gather(
            *(
                loop.run_in_executor(self._readers, batcher.embedder.try_prepare, data)
                for data in images
            )
        )
        good = [item for item in prepared if not isinstance(item, ImageError)]
        if not good:  # every one refused: no backbone needed (it may still be loading)
            return list(prepared)
        await self.ready()  # photos that come while the backbone loads wait their turn here
        embeddings = await asyncio.wrap_future(batcher.submit(good))
        snapshot = self._snapshot
        guesses = await loop.run_in_executor(self._readers, snapshot.predict, embeddings, top_k)
        readings = iter(
            Reading(e, g, snapshot.version) for e, g in zip(embeddings, guesses, strict=True)
        )
        return [item if isinstance(item, ImageError) else next(readings) for item in prepared]

    async def ready(self) -> None:
        """Returns once photos can be read: at once, unless the backbone is loading in the
        background (see `model_core.backbone.background`), which this starts if need be;
        raises what stopped it from loading."""
        backbone = self._embedder.backbone if self._embedder is not None else None
        if isinstance(backbone, BackboneLoading):
            await asyncio.wrap_future(backbone.start())

    async def predict(self, embeddings: np.ndarray, top_k: int = 3) -> list[list[Guess]]:
        snapshot = self._snapshot
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, snapshot.predict, embeddings, top_k
        )

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._batcher is not None:
            await loop.run_in_executor(None, self._batcher.close)
        self._readers.shutdown(wait=True)


class ModelService(ModelReader):
    """Serialised writes, snapshot reads, checkpoints; see the module docstring."""

    def __init__(
        self,
        model: LabelModel,
        store: CheckpointStore,
        *,
        embedder: ImageEmbedder | None = None,
        checkpoint_every: int = 50,
        idle_checkpoint_seconds: float = 2.0,
    ) -> None:
        super().__init__(model.snapshot(), embedder=embedder)
        self._model = model
        self._store = store
        self._checkpoint_every = checkpoint_every
        self._idle_checkpoint_seconds = idle_checkpoint_seconds
        self._unsaved = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._run_writer, name="model-writer", daemon=True)
        self._writer.start()

    @classmethod
    def open(
        cls,
        directory: Path,
        learner: str,
        *,
        embedder: ImageEmbedder | None = None,
        keep: int = 10,
        checkpoint_every: int = 50,
        learner_params: dict[str, Any] | None = None,
        journal_ends_at: int | None = None,
        journal_origin: float | None = None,
    ) -> ModelService:
        """Loads the newest intact checkpoint under `directory` (with `journal_ends_at` and
        `journal_origin`, the newest that can carry on from that journal: see
        `CheckpointStore.load_latest`), or starts a new model."""
        limit_blas_threads()
        store = CheckpointStore(directory, keep=keep)
        checkpoint = store.load_latest(journal_ends_at, journal_origin)
        if checkpoint is None:
            model = LabelModel.new(learner, **(learner_params or {}))
        else:
            model = LabelModel.from_checkpoint(checkpoint)
            if model.learner.name != learner:
                log.warning(
                    "the checkpoint holds a %r learner; using it rather than %r (rollback or a "
                    "fresh data dir switches learners)",
                    model.learner.name,
                    learner,
                )
        return cls(model, store, embedder=embedder, checkpoint_every=checkpoint_every)

    @property
    def last_event_id(self) -> int:
        return self._model.last_event_id  # an int read: atomic under the GIL

    @property
    def journal_origin(self) -> float | None:
        return self._model.journal_origin

    @property
    def backbone(self) -> str | None:
        """The backbone `labelbot rebuild` built the model for; None if it never ran."""
        return self._model.backbone

    async def follow_journal(self, origin: float) -> None:
        """Records when the journal this model follows began; checkpoints carry it from now
        on, so that a later start can tell this store from another bot's."""
        if self._model.journal_origin != origin:
            await self._write(lambda m: setattr(m, "journal_origin", origin), None)

    def versions(self) -> list[int]:
        return self._store.versions()

    # ---- writes (one writer, in order) ---------------------------------------------------------

    async def reinforce(
        self, embedding: np.ndarray, label_id: int, event_id: int | None = None, weight=1.0
    ):
        return await self._write(
            lambda m: m.reinforce(embedding, label_id, event_id, weight), event_id
        )

    async def unlearn(
        self, embedding: np.ndarray, label_id: int, event_id: int | None = None, weight=1.0
    ):
        return await self._write(
            lambda m: m.unlearn(embedding, label_id, event_id, weight), event_id
        )

    async def add_label(self, name: str, event_id: int | None = None) -> Label:
        return await self._write(lambda m: m.add_label(name, event_id), event_id, save=True)

    async def rename_label(self, label_id: int, name: str, event_id: int | None = None) -> Label:
        return await self._write(
            lambda m: m.rename_label(label_id, name, event_id), event_id, save=True
        )

    async def retire_label(self, label_id: int, event_id: int | None = None) -> Label:
        return await self._write(lambda m: m.retire_label(label_id, event_id), event_id, save=True)

    async def rollback(self, version: int | None = None, event_id: int | None = None) -> int:
        """Restores a stored version (default: the one before the newest) as a new version."""
        return await self._write(lambda m: self._rollback(version, event_id), event_id, save=True)

    async def checkpoint(self) -> int:
        """Writes a checkpoint of the current version now; returns that version."""
        return await self._write(lambda m: m.version, None, save=True)

    async def reserve_labels(self, labels: LabelSet) -> None:
        """Keeps the ids of labels the model lacks but the store knows (see
        `LabelModel.reserve_ids_of`)."""
        if len(labels) > len(self._snapshot.labels):
            await self._write(lambda m: m.reserve_ids_of(labels), None, save=True)

    async def close(self) -> None:
        """Applies every pending write, writes a final checkpoint and stops the threads."""
        if not self._writer.is_alive():
            return
        await self.checkpoint()
        self._queue.put(_STOP)
        await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
        await super().close()

    # ---- the writer thread -------------------------------------------------------------------

    async def _write(self, change: Callable[[LabelModel], T], event_id: int | None, save=False):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((loop, future, change, event_id, save))
        return await future

    def _run_writer(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._idle_checkpoint_seconds)
            except queue.Empty:
                self._save_if_unsaved()
                continue
            if item is _STOP:
                return
            loop, future, change, event_id, save = item
            try:
                result = self._apply(change, event_id, save)
            except Exception as error:  # handed to the caller, the writer lives on
                loop.call_soon_threadsafe(_settle, future, None, error)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)

    def _apply(self, change: Callable[[LabelModel], T], event_id: int | None, save: bool):
        if self._model.is_applied(event_id):
            log.info("event %s is already in the model; skipped", event_id)
            return None
        result = change(self._model)
        self._snapshot = self._model.snapshot()
        self._unsaved += 1
        if save or self._unsaved >= self._checkpoint_every:
            self._save_if_unsaved()
        return result

    def _save_if_unsaved(self) -> None:
        if self._unsaved:
            self._store.save(self._model.to_checkpoint())
            self._unsaved = 0

    def _rollback(self, version: int | None, event_id: int | None) -> int:
        current = self._model
        if version is None:
            older = [v for v in self._store.versions() if v < current.version]
            if not older:
                raise CheckpointError("there is no earlier version to roll back to")
            version = older[-1]
        restored = LabelModel.from_checkpoint(self._store.load(version))
        if restored.backbone != current.backbone:
            raise CheckpointError(
                f"version {version} learned from photos read by another backbone "
                f"({restored.backbone or 'the one before the last rebuild'}); `labelbot rebuild "
                "--backbone NAME` switches backbones"
            )
        restored.reserve_ids_of(current.labels)
        restored.journal_origin = current.journal_origin
        restored.version = current.version + 1
        restored.last_event_id = max(current.last_event_id, event_id or 0)
        self._model = restored
        log.info("rolled back to the state of version %d as version %d", version, restored.version)
        return restored.version


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
