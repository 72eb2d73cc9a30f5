"""The console's photo cache (`bot.web.photos`): Telegram asked once per photo however many
wait for it, the photo kept whole, the least recently served forgotten beyond the limit."""

from __future__ import annotations

import asyncio
import os

import pytest

from bot.export import PhotoGone
from bot.web.photos import PhotoCache


async def test_a_photo_is_fetched_once_and_then_served_from_disk(tmp_path):
    calls = []

    async def fetch(file_id: str) -> bytes:
        calls.append(file_id)
        await asyncio.sleep(0.01)
        return file_id.encode() * 10

    cache = PhotoCache(fetch, tmp_path / "photos")
    got = await asyncio.gather(*(cache.get("u1", "F1") for _ in range(5)))
    assert got == [b"F1" * 10] * 5 and calls == ["F1"]
    assert await cache.get("u1", "F1") == b"F1" * 10 and calls == ["F1"]
    assert not list((tmp_path / "photos").glob("*.part"))  # written whole, then renamed


async def test_the_least_recently_served_photos_go_first(tmp_path):
    async def fetch(file_id: str) -> bytes:
        return b"x" * 100

    cache = PhotoCache(fetch, tmp_path, limit=250)
    for n in (1, 2):
        await cache.get(f"u{n}", f"F{n}")
    first = cache._path("u1")
    os.utime(first, (1, 1))  # served long ago
    await cache.get("u3", "F3")
    assert not first.exists() and cache._path("u2").exists() and cache._path("u3").exists()


async def test_a_photo_telegram_no_longer_has_is_not_kept(tmp_path):
    async def fetch(file_id: str) -> bytes:
        raise PhotoGone("wrong file identifier")

    cache = PhotoCache(fetch, tmp_path)
    with pytest.raises(PhotoGone):
        await cache.get("u1", "F1")
    assert not list(tmp_path.iterdir())
