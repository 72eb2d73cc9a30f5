"""`labelbot bench --flood`: one hostile contributor against many honest ones, in the real bot.

The same run twice on a fresh data dir: honest contributors each send photos one after another
(waiting for each answer, as people do), first alone ("calm"), then while one contributor
floods the bot with decompression bombs (6000 x 6000 16-bit RGBA PNGs) and 48-megapixel JPEGs
as fast as it can be told to slow down. It measures what an honest contributor waits for,
whether every honest photo is answered, and the process's peak memory. The bot is the real
python-telegram-bot stack over HTTP against the fake Bot API, in this process.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from labelbot.demo import ADMIN, load_demo_photos, scratch_bot
from labelbot.settings import Settings
from labelbot_testkit.fake_telegram import FakeTelegram, say, user
from model_core.progress import ProgressFactory, no_progress

FLOODER = user(666, "Mallory")
FLOOD_INTERVAL = 0.05  # seconds between hostile uploads: 20 a second


def measure_flood(
    settings: Settings,
    backbone,
    data: Path | None,
    contributors: int = 50,
    photos_each: int = 4,
    progress: ProgressFactory = no_progress,
) -> dict:
    """Honest reply latency and peak memory without and with a flood, side by side."""
    photos = [p for ps in load_demo_photos(data, 5, 20).values() for p in ps]
    hostile = _hostile_files()  # made before any memory is measured: they are big to make
    runs = {}
    for name, flood in (("calm", []), ("flood", hostile)):
        done = progress(f"{name}: honest photos", contributors * photos_each)
        with scratch_bot(settings, backbone, "labelbot bench --flood") as (fake, _):
            runs[name] = _run(fake, photos, contributors, photos_each, flood, done)
    calm, flood = runs["calm"], runs["flood"]
    return {
        "contributors": contributors,
        "photos_each": photos_each,
        "calm": calm,
        "flood": flood,
        "p99_ratio": flood["p99_ms"] / calm["p99_ms"],
    }


def _run(fake: FakeTelegram, photos, contributors: int, each: int, hostile: list, done) -> dict:
    say(fake, ADMIN, "/addlabel warm-up")
    fake.wait_reply(fake.send_photo(ADMIN, photos[0]), ADMIN["id"], timeout=60)  # traced once
    memory = _PeakMemory().start()
    flood = _Flood(fake, hostile).start()

    def contribute(n: int) -> list[float]:
        person, waits = user(10_000 + n), []
        for k in range(each):
            started = time.perf_counter()
            message_id = fake.send_photo(person, photos[(n * each + k) % len(photos)])
            fake.wait_reply(message_id, person["id"], timeout=300)
            waits.append(time.perf_counter() - started)
            done(1)
        return waits

    with ThreadPoolExecutor(contributors) as pool:
        waits = np.array([w for ws in pool.map(contribute, range(contributors)) for w in ws])
    hostile_sent = flood.stop()
    return {
        "honest_sent": contributors * each,
        "honest_answered": len(waits),
        "p50_ms": float(np.percentile(waits, 50) * 1e3),
        "p99_ms": float(np.percentile(waits, 99) * 1e3),
        "hostile_sent": hostile_sent,
        "hostile_replies": len(fake.messages_to(FLOODER["id"])),
        "peak_rss_mb": memory.stop(),
    }


def _hostile_files() -> list[tuple[bytes, str, str]]:
    """A decompression bomb and a 48 MP JPEG (allowed, and decoded at 1/8 scale)."""
    bomb = cv2.imencode(".png", np.zeros((6000, 6000, 4), np.uint16))[1].tobytes()
    gradient = np.linspace(0, 255, 8000, dtype=np.float32)[None, :, None]
    big = cv2.imencode(".jpg", np.broadcast_to(gradient, (6000, 8000, 3)).astype(np.uint8))[1]
    return [(bomb, "image/png", "bomb.png"), (big.tobytes(), "image/jpeg", "48mp.jpg")]


class _Flood:
    """Sends the hostile files in turn every FLOOD_INTERVAL until stopped."""

    def __init__(self, fake: FakeTelegram, files: list[tuple[bytes, str, str]]) -> None:
        self.fake, self.files, self.sent = fake, files, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)

    def start(self) -> _Flood:
        if self.files:
            self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.sent

    def _send(self) -> None:
        while not self._stop.wait(FLOOD_INTERVAL):
            self.fake.send_document(FLOODER, *self.files[self.sent % len(self.files)])
            self.sent += 1


class _PeakMemory:
    """Samples this process's resident memory every 50 ms; `stop` returns the peak in MB."""

    def __init__(self) -> None:
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> _PeakMemory:
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self._peak / 1024

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self._peak = max(self._peak, _rss_kb())


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
