"""`labelbot rebuild --backbone NAME`: the model as it would be had the bot always read its
photos with another backbone.

It runs with the bot stopped: it takes the data dir's writer lock, which a running bot holds,
so no vote arrives while the photos' embeddings change and none can be lost. In order:

1. The current model catches up with the journal and is checkpointed, naming the backbone it
   learned from: that version stays on disk (a rollback to it is refused while the photos hold
   another backbone's embeddings, which it would misread). The photos' embeddings by that
   backbone are kept as its read parts (step 2), so rebuilding back to it reads no photo again.
2. Every stored photo is fetched again (from Telegram by `file_id` through getFile, as
   `labelbot export data --images` does; an imported photo from its path) and read by the new
   backbone, a part of PART photos at a time, each part written to
   `<data dir>/rebuild/<backbone>/`: a rebuild killed half-way resumes where it stopped.
   Photos no longer to be had are reported; they leave the model and the store.
3. A new model, of the same learner and labels, learns what each photo teaches now (the
   crowd's verdicts and weights, the store's `contributions`) from the new embeddings, rounded
   as the store keeps them, so a later correction unlearns exactly what was learned.
4. The switch: the new model is saved as the next version, then one store transaction
   replaces the embeddings, forgets the gone photos and records the backbone. A crash between
   the two is found at the next start (the model's backbone is not the photos') and finished
   by running the command again, which then has every photo read already.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.export import Fetch, PhotoGone, photo_bytes
from bot.journal import Journal
from bot.store import Store
from model_core.checkpoints import CheckpointStore
from model_core.learners import learner_class
from model_core.model import LabelModel
from model_core.progress import ProgressFactory, no_progress
from model_core.service import ModelReader, ModelService, Reading

PART = 16  # photos fetched and read between two saves of the work done
FETCHES = 8  # downloads in flight at once
KEPT_PART = 4096  # embeddings of the backbone being left, per saved part


@dataclass
class RebuildReport:
    """What a rebuild did; `gone` lists (photo id, why) for photos no longer to be had."""

    backbone: str
    photos: int = 0
    read_now: int = 0
    read_before: int = 0  # by an earlier run that was stopped
    gone: list[tuple[int, str]] = field(default_factory=list)
    previous_version: int = 0
    version: int = 0


class ReadPhotos:
    """The embeddings one backbone has read so far, in parts under `folder`. A part is
    written whole or not at all, so after a kill every saved part is good. Each photo is
    named by its id and Telegram's file_unique_id, so a part never stands for another photo."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.embeddings: dict[int, np.ndarray] = {}
        self.gone: dict[int, str] = {}
        self._files: dict[int, str] = {}
        for path in sorted(folder.glob("part-*.npz")):
            with np.load(path) as part:
                self._take(part)

    def has(self, sample_id: int, file_unique_id: str) -> bool:
        return self._files.get(sample_id) == file_unique_id

    def save(self, photos: list[tuple[int, str]], embeddings: np.ndarray, gone) -> None:
        """A part: `photos` (id, file_unique_id) read as `embeddings`, and `gone` (id,
        file_unique_id, why) that could not be."""
        self.folder.mkdir(parents=True, exist_ok=True)
        part = {
            "ids": np.array([p[0] for p in photos], np.int64),
            "files": np.array([p[1] for p in photos], str),
            "embeddings": np.asarray(embeddings, np.float16).reshape(len(photos), -1)
            if photos
            else np.zeros((0, 0), np.float16),  # a part whose photos are all gone
            "gone_ids": np.array([g[0] for g in gone], np.int64),
            "gone_files": np.array([g[1] for g in gone], str),
            "gone_why": np.array([g[2] for g in gone], str),
        }
        path = self.folder / f"part-{len(list(self.folder.glob('part-*.npz'))):06d}.npz"
        scratch = self.folder / f".writing-{path.name}"  # a kill leaves no "part-*" half-written
        np.savez(scratch, **part)
        os.replace(scratch, path)
        self._take(part)

    def _take(self, part) -> None:
        for sample_id, unique, embedding in zip(
            part["ids"], part["files"], part["embeddings"], strict=True
        ):
            self.embeddings[int(sample_id)] = embedding.astype(np.float32)
            self._files[int(sample_id)] = str(unique)
        for sample_id, unique, why in zip(
            part["gone_ids"], part["gone_files"], part["gone_why"], strict=True
        ):
            self.gone[int(sample_id)] = str(why)
            self._files[int(sample_id)] = str(unique)


async def rebuild(
    store: Store,
    models: Path,
    work: Path,
    reader: ModelReader,
    backbone: str,
    learner: str,
    fetch: Fetch,
    progress: ProgressFactory = no_progress,
    *,
    configured: str,
) -> RebuildReport:
    """Rebuilds the model under `models` for `backbone` (read by `reader`, the bot's own read
    path: decoding on reader threads, the backbone in batches), keeping its
    work in `work`; `configured` is LABELBOT_BACKBONE, what a store that never recorded its
    backbone was read by. The caller holds the writer lock: the bot is stopped."""
    current = await _caught_up(store, models, learner, await store.samples.backbone() or configured)
    report = RebuildReport(backbone, previous_version=current.version)
    sources = await store.samples.sources()
    read = ReadPhotos(work / backbone)
    report.photos = len(sources)
    report.read_before = sum(read.has(s[0], s[3]) for s in sources)
    await _read_missing(sources, read, reader, fetch, progress("photos", len(sources)), report)
    report.gone = [(s[0], read.gone[s[0]]) for s in sources if s[0] in read.gone]
    if current.backbone != backbone:
        await _keep_readings(store, sources, ReadPhotos(work / current.backbone))
    rebuilt = relearned(current, await store.consensus.contributions(), read.embeddings, backbone,
                        progress)  # fmt: skip
    CheckpointStore(models).save(rebuilt.to_checkpoint())
    kept = {s[0]: read.embeddings[s[0]] for s in sources if s[0] in read.embeddings}
    await store.samples.switch_backbone(backbone, kept, [sample_id for sample_id, _ in report.gone])
    report.version = rebuilt.version
    return report


async def _caught_up(store: Store, models: Path, learner: str, read_by: str) -> LabelModel:
    """The newest model with every journal event applied, checkpointed naming the backbone
    `read_by` its photos were read with, unless it names one already (step 1)."""
    service = ModelService.open(
        models, learner, journal_ends_at=await store.events.last_id(),
        journal_origin=await store.events.origin(),
    )  # fmt: skip
    try:
        await Journal(store, service).catch_up()
    finally:
        await service.close()  # writes the checkpoint
    checkpoints = CheckpointStore(models)
    checkpoint = checkpoints.load_latest()
    assert checkpoint is not None, "the model was just checkpointed"
    current = LabelModel.from_checkpoint(checkpoint)
    if current.backbone is None:
        current.backbone = read_by
        checkpoints.save(current.to_checkpoint())  # the same version, now naming it
    return current


async def _read_missing(sources, read: ReadPhotos, reader: ModelReader, fetch, done, report):
    """Fetches and reads every photo no earlier run read, a part at a time (step 2)."""
    done(report.read_before)
    missing = [s for s in sources if not read.has(s[0], s[3])]
    gate = asyncio.Semaphore(FETCHES)

    async def one(source) -> bytes | str:
        _, sender, file_id, _ = source
        async with gate:
            try:
                return await photo_bytes(sender, file_id, fetch)
            except PhotoGone as gone:
                return str(gone)

    for start in range(0, len(missing), PART):
        part = missing[start : start + PART]
        fetched = await asyncio.gather(*(one(source) for source in part))
        readings = iter(await reader.read_images([d for d in fetched if isinstance(d, bytes)]))
        embeddings, photos, gone = [], [], []
        for source, data in zip(part, fetched, strict=True):
            outcome = next(readings) if isinstance(data, bytes) else data
            if isinstance(outcome, Reading):
                embeddings.append(outcome.embedding)
                photos.append((source[0], source[3]))
            else:
                why = outcome if isinstance(outcome, str) else f"not an image any more: {outcome}"
                gone.append((source[0], source[3], why))
        read.save(photos, np.array(embeddings), gone)
        report.read_now += len(part)
        done(len(part))


async def _keep_readings(store: Store, sources, old: ReadPhotos) -> None:
    """The photos' embeddings by the backbone being left, kept as its read parts: rebuilding
    back to it later reads nothing again."""
    stored = await store.samples.embeddings()
    photos = [(s[0], s[3]) for s in sources if s[0] in stored and not old.has(s[0], s[3])]
    for start in range(0, len(photos), KEPT_PART):
        part = photos[start : start + KEPT_PART]
        old.save(part, np.stack([stored[sample_id] for sample_id, _ in part]), [])


def relearned(
    current: LabelModel,
    contributions: Sequence[tuple[int, int, float]],
    embeddings: dict[int, np.ndarray],
    backbone: str,
    progress: ProgressFactory = no_progress,
) -> LabelModel:
    """A model of `current`'s learner and labels that learned each (photo, label, weight) of
    `contributions` whose photo was read, as the next version after `current` (step 3)."""
    learner = learner_class(current.learner.name)(**current.learner.get_config())
    if len(current.labels):
        learner.add_classes(len(current.labels))
    done = progress("relearning", len(contributions))
    for sample_id, label_id, weight in contributions:
        if sample_id in embeddings:
            learner.partial_fit(embeddings[sample_id][None], [label_id], weight)
        done(1)
    for label in current.labels:
        if label.retired:
            learner.retire_class(label.id)
    learner.settle()
    return LabelModel(
        learner, current.labels, version=current.version + 1,
        last_event_id=current.last_event_id, journal_origin=current.journal_origin,
        backbone=backbone,
    )  # fmt: skip
