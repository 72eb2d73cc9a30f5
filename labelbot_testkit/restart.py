"""`labelbot bench --restart`: how soon a killed bot answers again, and what checking its store
at start-up costs.

The reliability issue set two targets, measured here:

- **Back in seconds.** `labelbot run` is killed (kill -9) and started again on its data dir,
  with three updates sent while it was down: an admin's command, an Undo of a vote, and a new
  photo. Measured from the start of the process: when the command is answered (the first update
  handled), when the Undo is, and when the photo is. The first two need no TensorFlow; the
  photo waits for the backbone. Each restart also times `import tensorflow` in a fresh
  interpreter, so the figures can be read against what a start once waited for.
- **The damage check.** The store runs `PRAGMA quick_check` when it opens (see
  `bot.store.database`). Timed on a store of 100,000 photos and 300,000 votes, and on one twice
  that (over 1 GB): synthetic rows of the real schema, with embeddings of the real backbone's
  width, so the files have the real size. The file was just written, so it is read from the
  page cache, as it is on a restart; a cold read from disk adds the disk's time.

The bot is the real `labelbot run` process against the fake Bot API on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.store import Store
from labelbot.demo import ADMIN, load_demo_photos
from labelbot_testkit.fake_telegram import FakeTelegram, Sent, say, send_photo, tap_label, user
from labelbot_testkit.store_bench import fill_store
from model_core.progress import ProgressFactory, no_progress

TOKEN = "123456:" + "R" * 35
ALICE = user(2, "Alice")
LABELS = ("first", "second")
START_TIMEOUT = 180.0  # seconds: the first start builds nothing (the backbone is cached), but
# a busy machine may be slow


def measure_restart(
    backbones: Path,
    data: Path | None,
    restarts: int = 5,
    store_photos: tuple[int, ...] = (100_000, 200_000),
    progress: ProgressFactory = no_progress,
) -> dict:
    """Median seconds to each answer after a restart, and the damage check's cost."""
    photos = [p for ps in load_demo_photos(data, len(LABELS), restarts + 1).values() for p in ps]
    done = progress("restarts", restarts)
    with tempfile.TemporaryDirectory() as scratch:
        rounds = _restarts(Path(scratch), backbones, photos, restarts, done)
    columns = ("command_s", "undo_s", "photo_s", "tensorflow_import_s")
    figures = {name: statistics.median(r[name] for r in rounds) for name in columns}
    figures["restarts"] = rounds
    figures["quick_check"] = [measure_quick_check(n, 3 * n, progress) for n in store_photos]
    return figures


def _restarts(root: Path, backbones: Path, photos: list, restarts: int, done) -> list[dict]:
    data_dir = root / "data"
    data_dir.mkdir()
    (data_dir / "backbones").symlink_to(backbones.resolve())
    fake = FakeTelegram(token=TOKEN).start()
    bot = BotProcess(fake, data_dir, root / "bot.log")
    try:
        bot.start()
        bot.wait_polling()
        for label in LABELS:
            say(fake, ADMIN, f"/addlabel {label}")
        voted = _vote(fake, send_photo(fake, ALICE, photos[0]))
        rounds = []
        for n in range(restarts):
            bot.kill()
            command = fake.send_text(ADMIN, "/labels")
            fake.tap(ALICE, voted, voted.button("Undo")["callback_data"])
            photo = fake.send_photo(ALICE, photos[n + 1])
            started = bot.start()
            fake.wait_reply(command, ADMIN["id"], timeout=START_TIMEOUT)
            command_s = time.monotonic() - started
            fake.wait_for(lambda v=voted: v.text.startswith("Undone"), START_TIMEOUT, "undo")
            undo_s = time.monotonic() - started
            guesses = fake.wait_reply(photo, ALICE["id"], timeout=START_TIMEOUT)
            photo_s = time.monotonic() - started
            rounds.append({"command_s": command_s, "undo_s": undo_s, "photo_s": photo_s,
                           "tensorflow_import_s": _tensorflow_import_seconds()})  # fmt: skip
            voted = _vote(fake, guesses)
            done(1)
        return rounds
    finally:
        bot.kill()
        fake.stop()


def _vote(fake: FakeTelegram, guesses: Sent) -> Sent:
    """Alice confirms the photo as the first label; the message, once it offers Undo."""
    tap_label(fake, ALICE, guesses, LABELS[0])
    return fake.wait_for(lambda: "Undo" in str(guesses.buttons()) and guesses, what="the vote")


class BotProcess:
    """`labelbot run` on one data dir, started and killed again and again; `env`: more
    settings (the console bench's web server)."""

    def __init__(
        self, fake: FakeTelegram, data_dir: Path, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.fake, self.data_dir, self.log = fake, data_dir, log
        self.env = env or {}
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Starts the process; the monotonic time it was started at."""
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": self.fake.token,
               "LABELBOT_ADMINS": str(ADMIN["id"]), "LABELBOT_DATA_DIR": str(self.data_dir),
               **self.env}  # fmt: skip
        command = [sys.executable, "-m", "labelbot", "run", "--api-base-url", self.fake.base_url,
                   "--api-file-url", self.fake.base_file_url]  # fmt: skip
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        return started

    def wait_polling(self) -> None:
        polls = self.fake.calls.count("getUpdates")
        self.fake.wait_for(
            lambda: self.fake.calls.count("getUpdates") > polls, START_TIMEOUT, "polling"
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, as systemd and Docker stop it; the exit code once it has stopped."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def _tensorflow_import_seconds() -> float:
    """What every start waited for before the backbone loaded beside the running bot."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, capture_output=True)
    return time.monotonic() - started


def measure_quick_check(photos: int, votes: int, progress: ProgressFactory = no_progress) -> dict:
    """Seconds the store takes to open (the damage check included) and the check alone, on a
    store of `photos` photos and `votes` votes; and the file's size."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "labelbot.sqlite3"
        asyncio.run(_filled(path, photos, votes, progress))
        started = time.monotonic()
        asyncio.run(_open_and_close(path))
        open_s = time.monotonic() - started
        with contextlib.closing(sqlite3.connect(path)) as db:
            started = time.monotonic()
            db.execute("PRAGMA quick_check").fetchall()
            check_s = time.monotonic() - started
        return {"photos": photos, "votes": votes, "size_mb": path.stat().st_size / 2**20,
                "open_s": open_s, "quick_check_s": check_s}  # fmt: skip


async def _open_and_close(path: Path) -> None:
    await (await Store.connect(path)).close()


async def _filled(path: Path, photos: int, votes: int, progress: ProgressFactory) -> None:
    """A fresh store at `path`, filled and closed (its WAL folded into the file)."""
    store = await Store.connect(path)
    try:
        await fill_store(store, photos, votes, progress)
    finally:
        await store.close()


def restart_table(f: dict) -> str:
    return "\n".join([
        f"{len(f['restarts'])} restarts after kill -9; seconds from the start of the process "
        "(median)",
        "",
        "| first update handled (a command) | an Undo answered | a photo answered | "
        "`import tensorflow` alone |",
        "|---|---|---|---|",
        f"| {f['command_s']:.2f} | {f['undo_s']:.2f} | {f['photo_s']:.2f} | "
        f"{f['tensorflow_import_s']:.2f} |",
        "",
        "The store's damage check, on opening it",
        "",
        "| photos | votes | file MB | `PRAGMA quick_check` s | opening the store s |",
        "|---|---|---|---|---|",
        *(f"| {q['photos']:,} | {q['votes']:,} | {q['size_mb']:,.0f} | "
          f"{q['quick_check_s']:.2f} | {q['open_s']:.2f} |" for q in f["quick_check"]),
    ])  # fmt: skip
