"""The console's photos: fetched from Telegram by file id, kept in a bounded disk cache.

labelbot keeps no photos, only Telegram's file ids; a browser must never get Telegram's file
URL (it contains the bot's token). So the console fetches a photo through the bot (getFile)
when it hands the photo out, keeps it on disk, and serves it from there: the browser's
request for the image then costs a file read. The cache forgets the least recently served
photos beyond `limit` bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

from bot.export import Fetch

DEFAULT_LIMIT = 256 << 20  # bytes of photos kept; a photo Telegram sends is ~50-300 KB


class PhotoCache:
    def __init__(self, fetch: Fetch, directory: Path, limit: int = DEFAULT_LIMIT) -> None:
        self.fetch = fetch
        self.directory = directory
        self.limit = limit
        self._fetching: dict[str, asyncio.Task[bytes]] = {}

    async def get(self, file_unique_id: str, file_id: str) -> bytes:
        """The photo's bytes: from disk, or fetched once however many ask at the same time;
        PhotoGone (from `fetch`) if Telegram no longer has it."""
        path = self._path(file_unique_id)
        try:
            data = await asyncio.to_thread(path.read_bytes)
            os.utime(path)  # recently served: kept longest
            return data
        except FileNotFoundError:
            pass
        task = self._fetching.get(file_unique_id)
        if task is None:
            task = asyncio.ensure_future(self._fetch_and_keep(path, file_id))
            self._fetching[file_unique_id] = task
            task.add_done_callback(lambda _: self._fetching.pop(file_unique_id, None))
        return await asyncio.shield(task)

    async def _fetch_and_keep(self, path: Path, file_id: str) -> bytes:
        data = await self.fetch(file_id)
        await asyncio.to_thread(self._keep, path, data)
        return data

    def _keep(self, path: Path, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.directory, delete=False, suffix=".part") as f:
            f.write(data)
        os.replace(f.name, path)  # whole or absent: a reader never sees half a photo
        self._evict()

    def _evict(self) -> None:
        kept = sorted(
            (entry.stat().st_mtime, entry.stat().st_size, entry)
            for entry in self.directory.glob("*.img")
        )
        total = sum(size for _, size, _ in kept)
        for _, size, entry in kept:
            if total <= self.limit:
                break
            entry.unlink(missing_ok=True)
            total -= size

    def _path(self, file_unique_id: str) -> Path:
        """A name from the id's hash: ids come from Telegram, but a path is not the place to
        trust them."""
        return self.directory / (hashlib.sha256(file_unique_id.encode()).hexdigest()[:32] + ".img")
