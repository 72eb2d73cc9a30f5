"""Atomic, versioned checkpoints of the learned state.

Each version is a directory `v000042/` holding `state.npz` (every learned array),
`meta.json` (version, last applied event id, learner name and config, labels, and the SHA-256
of `state.npz`) and `meta.sha256` (the SHA-256 of `meta.json`, so that an edited meta is found
too). It is written under a temporary name, fsynced, then renamed into place, so a reader sees
a whole checkpoint or none. A damaged one is skipped in favour of the one before.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
FORMAT = 1


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was asked for."""


class NotThisJournal(CheckpointError):
    """No intact checkpoint can carry on from the store's journal."""


class AheadOfJournal(NotThisJournal):
    """Every intact checkpoint holds events the journal (the store) does not: the store is
    older than the model, empty, or another bot's."""

    def __init__(self, newest: int, newest_event: int, journal_event: int) -> None:
        super().__init__(
            f"every model checkpoint is ahead of the store: the newest, v{newest}, holds events "
            f"up to #{newest_event}; the store's journal ends at #{journal_event}"
        )
        self.newest = newest


class ForeignJournal(NotThisJournal):
    """The checkpoints follow a journal that began elsewhere: the store is another bot's."""

    def __init__(self, newest: int, model_origin: float, journal_origin: float) -> None:
        super().__init__(
            f"the model follows another store: its newest checkpoint, v{newest}, follows a "
            f"journal that began at {_when(model_origin)}; this store's journal began at "
            f"{_when(journal_origin)}"
        )


@dataclass(frozen=True)
class Checkpoint:
    version: int
    last_event_id: int
    learner: str
    config: dict[str, Any]
    labels: list[dict]
    state: dict[str, np.ndarray]
    created: float = 0.0
    journal_origin: float | None = None  # None: written before origins were kept
    backbone: str | None = None  # what read the photos it learned; None: before any rebuild


class CheckpointStore:
    """The versions under one directory; keeps the newest `keep` of them."""

    def __init__(self, directory: Path, *, keep: int = 10) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1; got {keep}")
        self.directory = Path(directory)
        self.keep = keep

    def save(self, checkpoint: Checkpoint) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **checkpoint.state)
        state_bytes = buffer.getvalue()
        meta = {
            "format": FORMAT,
            "version": checkpoint.version,
            "last_event_id": checkpoint.last_event_id,
            "journal_origin": checkpoint.journal_origin,
            "backbone": checkpoint.backbone,
            "learner": checkpoint.learner,
            "config": checkpoint.config,
            "labels": checkpoint.labels,
            "created": time.time(),
            "state_sha256": hashlib.sha256(state_bytes).hexdigest(),
        }
        final = self._path(checkpoint.version)
        scratch = Path(tempfile.mkdtemp(prefix=".writing-", dir=self.directory))
        meta_bytes = json.dumps(meta, indent=1).encode()
        _write_synced(scratch / "state.npz", state_bytes)
        _write_synced(scratch / "meta.json", meta_bytes)
        _write_synced(scratch / "meta.sha256", hashlib.sha256(meta_bytes).hexdigest().encode())
        _fsync_directory(scratch)
        if final.exists():  # the same version written again (after a rollback, say)
            shutil.rmtree(final)
        os.replace(scratch, final)
        _fsync_directory(self.directory)
        self._prune()
        return final

    def versions(self) -> list[int]:
        """Stored versions, oldest first (damaged ones included)."""
        if not self.directory.is_dir():
            return []
        names = (p.name for p in self.directory.iterdir() if p.is_dir())
        return sorted(int(n[1:]) for n in names if n.startswith("v") and n[1:].isdigit())

    def load(self, version: int) -> Checkpoint:
        path = self._path(version)
        try:
            meta_bytes = (path / "meta.json").read_bytes()
            _check_meta(path, version, meta_bytes)
            meta = json.loads(meta_bytes)
            state_bytes = (path / "state.npz").read_bytes()
            if hashlib.sha256(state_bytes).hexdigest() != meta["state_sha256"]:
                raise CheckpointError(f"checkpoint v{version} is damaged (hash mismatch)")
            with np.load(io.BytesIO(state_bytes), allow_pickle=False) as arrays:
                state = {name: arrays[name] for name in arrays.files}
            return Checkpoint(
                version=int(meta["version"]),
                last_event_id=int(meta["last_event_id"]),
                learner=str(meta["learner"]),
                config=dict(meta["config"]),
                labels=list(meta["labels"]),
                state=state,
                created=float(meta["created"]),
                journal_origin=meta.get("journal_origin"),
                backbone=meta.get("backbone"),
            )
        except CheckpointError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"checkpoint v{version} is unreadable: {error}") from error

    def load_latest(
        self, within: int | None = None, origin: float | None = None
    ) -> Checkpoint | None:
        """The newest checkpoint that reads back intact, or None when there is none. With
        `within` (the journal's last event id), only one that holds no later event: a model is
        never loaded ahead of the journal it must replay from (AheadOfJournal when every
        intact checkpoint is). With `origin` (when the journal began; None for an empty one),
        only one that follows that journal or does not say (ForeignJournal when none does)."""
        ahead = foreign = None
        for version in reversed(self.versions()):
            try:
                checkpoint = self.load(version)
            except CheckpointError as error:
                log.warning("%s; trying the previous version", error)
                continue
            if origin is not None and checkpoint.journal_origin not in (None, origin):
                foreign = foreign or checkpoint
                continue
            if ahead is not None and checkpoint.last_event_id == 0:
                continue  # holds no event: nothing in common with the journal to carry on from
            if within is None or checkpoint.last_event_id <= within:
                if ahead is not None:
                    log.warning(
                        "checkpoint v%d holds events up to #%d, after the journal's last (#%d): "
                        "the model starts from v%d instead",
                        ahead.version, ahead.last_event_id, within, checkpoint.version,
                    )  # fmt: skip
                return checkpoint
            ahead = ahead or checkpoint
        if ahead is not None:
            raise AheadOfJournal(ahead.version, ahead.last_event_id, within or 0)
        if foreign is not None:
            raise ForeignJournal(foreign.version, foreign.journal_origin, origin)
        return None

    def _path(self, version: int) -> Path:
        return self.directory / f"v{version:06d}"

    def _prune(self) -> None:
        for version in self.versions()[: -self.keep]:
            shutil.rmtree(self._path(version), ignore_errors=True)
        for stale in self.directory.glob(".writing-*"):
            if time.time() - stale.stat().st_mtime > 3600:  # left over by a crash
                shutil.rmtree(stale, ignore_errors=True)


def _check_meta(path: Path, version: int, meta_bytes: bytes) -> None:
    """An edited meta.json (say, its last event id) is damage. Checkpoints written before the
    checksum have none to check."""
    recorded = path / "meta.sha256"
    if recorded.exists() and recorded.read_text().strip() != hashlib.sha256(meta_bytes).hexdigest():
        raise CheckpointError(f"checkpoint v{version} is damaged (meta.json was changed)")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(sep=" ", timespec="microseconds")
