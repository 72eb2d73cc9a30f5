"""A hostile contributor against the real bot: costly files, floods, and Telegram's own limits."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from helpers import ADMIN, ALICE, desk_of, encode, say, start_bot

from bot import texts
from labelbot_testkit.fake_telegram import user

pytestmark = pytest.mark.slow
HOSTILE = user(666, "Mallory")


def hostile_png() -> bytes:
    """6000 x 6000 16-bit RGBA: 36 MP, 288 MB decoded, a few hundred kB on the wire."""
    return encode(np.zeros((6000, 6000, 4), np.uint16), ".png")


def photo_of(photos, n: int) -> np.ndarray:
    """A different real photo for each n (crops of the scikit-image colour photos)."""
    names = sorted(photos)
    return photos[names[n % len(names)]][n // len(names) :]


def test_a_decompression_bomb_is_refused_without_decoding(fake, bot):
    before = desk_of(bot).snapshot.version
    reply = fake.wait_reply(
        fake.send_document(HOSTILE, hostile_png(), "image/png", "bomb.png"), HOSTILE["id"]
    )
    assert reply.text == texts.IMAGE_REFUSED["too_many_pixels"]
    assert desk_of(bot).snapshot.version == before


def test_one_sending_too_fast_is_asked_once_to_slow_down(fake, tmp_path, backbone, photos):
    fake.download_delay = 1.0  # every photo stays in flight for a second
    running = start_bot(fake, tmp_path / "data", backbone, photos_per_user=2)
    try:
        sent = [fake.send_photo(ALICE, photo_of(photos, n)) for n in range(5)]
        fake.wait_for(lambda: all(fake.reply_to(m, ALICE["id"]) for m in sent[:2]), 60)
        time.sleep(0.5)  # any reply to the others would have come with the first ones
        replies = [fake.reply_to(m, ALICE["id"]) for m in sent]
        texts_sent = [r.text for r in replies if r is not None]
        assert texts_sent.count(texts.SLOW_DOWN) == 1  # once, not once per extra photo
        assert len(texts_sent) == 3  # two answered, one told, two skipped quietly
        # Someone else is not held up by Alice's flood.
        assert fake.wait_reply(fake.send_photo(HOSTILE, photo_of(photos, 9)), HOSTILE["id"])
    finally:
        running.stop()


def test_telegrams_retry_after_is_waited_out(fake, bot):
    fake.flood_wait("sendMessage", retry_after=1)
    started = time.monotonic()
    reply = say(fake, ADMIN, "/addlabel tea")
    assert reply.text.startswith("Added label tea")
    assert time.monotonic() - started >= 1.0
    assert fake.calls.count("sendMessage") == 2  # refused once with 429, then sent


def test_honest_photos_are_all_answered_during_a_hostile_flood(fake, bot, photos):
    """50 contributors send two photos each while one floods bombs and huge photos."""
    say(fake, ADMIN, "/addlabel coffee")
    honest = [user(1000 + n) for n in range(50)]
    big_jpeg = encode(np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), np.uint8))
    bomb = hostile_png()

    def contribute(n: int) -> int:
        answered = 0
        for k in range(2):
            message_id = fake.send_photo(honest[n], photo_of(photos, 2 * n + k))
            reply = fake.wait_reply(message_id, honest[n]["id"], timeout=120)
            answered += "Tap the right label" in reply.text or "examples" in reply.text
        return answered

    with ThreadPoolExecutor(51) as pool:
        flood = [
            fake.send_document(HOSTILE, bomb if n % 2 else big_jpeg, "image/png", f"{n}.png")
            for n in range(40)
        ]
        answered = list(pool.map(contribute, range(50)))
    assert sum(answered) == 100
    refused = [fake.reply_to(m, HOSTILE["id"]) for m in flood]
    told = [r.text for r in refused if r is not None]
    assert texts.SLOW_DOWN in told or texts.IMAGE_REFUSED["too_many_pixels"] in told
