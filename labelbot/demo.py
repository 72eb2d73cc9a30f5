"""`labelbot demo`: the real bot against a local fake Telegram, with scripted contributors.

An admin adds labels; in each round contributors send real photos and tap the right label
(through "Other…" when it is not among the guesses), and the demo prints how often the bot's
first guess was already right. No token and no network: a newcomer sees it learn in a minute.
Everything happens in a temporary data dir; the real model is never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from bot.app import build_application
from labelbot.house import House
from labelbot.settings import Settings
from labelbot_testkit.fake_telegram import (
    BackgroundBot,
    FakeTelegram,
    say,
    send_photo,
    tap_label,
    user,
)

ADMIN = user(1, "Ada (admin)")
CONTRIBUTORS = [user(10 + i, name) for i, name in enumerate(["Ben", "Chloé", "Dev", "Eun-ji"])]


def run_demo(settings: Settings, data: Path | None, labels: int, rounds: int, per_round: int):
    """Runs the scripted session and prints first-guess accuracy per round; returns 0."""
    photos = load_demo_photos(data, labels, rounds * per_round)
    backbone = House(settings).backbone()  # cached under the real data dir: built once
    with scratch_bot(settings, backbone, "labelbot demo") as (fake, bot):
        _play(fake, bot, photos, rounds, per_round)
    return 0


@contextlib.contextmanager
def scratch_bot(
    settings: Settings, backbone, command: str
) -> Iterator[tuple[FakeTelegram, BackgroundBot]]:
    """The real bot on a temporary data dir, polling a fresh fake Telegram; ADMIN is its admin."""
    fake = FakeTelegram().start()
    try:
        with tempfile.TemporaryDirectory(prefix="labelbot-scratch-") as scratch:
            config = dataclasses.replace(
                settings, admins=frozenset({ADMIN["id"]}), data_dir=Path(scratch)
            )
            house = House(config, command=command, backbone=backbone)
            app = build_application(
                fake.token, house, base_url=fake.base_url, base_file_url=fake.base_file_url
            )
            with BackgroundBot(app) as bot:
                yield fake, bot
    finally:
        fake.stop()


def _play(fake: FakeTelegram, bot: BackgroundBot, photos, rounds: int, per_round: int) -> None:
    _say(f"labelbot demo: {len(photos)} labels, {rounds} rounds of {per_round} photos per label")
    for name in photos:
        say(fake, ADMIN, f"/addlabel {name}")
    _say(f"{ADMIN['first_name']} added the labels: {', '.join(photos)}")
    rng = np.random.default_rng(0)
    for round_number in range(rounds):
        batch = [
            (name, images[i])
            for name, images in photos.items()
            for i in range(round_number * per_round, (round_number + 1) * per_round)
        ]
        started, right = time.perf_counter(), 0
        for n in rng.permutation(len(batch)):
            name, image = batch[n]
            person = CONTRIBUTORS[n % len(CONTRIBUTORS)]
            reply = send_photo(fake, person, image)
            right += reply.buttons()[0]["text"].startswith(f"✅ {name} ")
            tap_label(fake, person, reply, name)
        version = bot.application.bot_data.desk.snapshot.version
        _say(
            f"round {round_number + 1}: first guess right {right}/{len(batch)} "
            f"({right / len(batch):.0%}), model version {version}, "
            f"{(time.perf_counter() - started) / len(batch) * 1000:.0f} ms per photo and tap"
        )
    _say("The bot learned from every tap. Run it for real: see README, “Run it on Telegram”.")


def load_demo_photos(data: Path | None, labels: int, per_label: int) -> dict[str, list]:
    """Real photos per label: Fashion-MNIST from Debian, or a folder-per-class tree."""
    from model_core.datasets import (
        FASHION_MNIST_LABELS,
        DatasetError,
        list_labeled_images,
        load_fashion_mnist,
    )

    if data is None:
        images, ys = load_fashion_mnist("train", per_class=per_label, seed=0)
        chosen = FASHION_MNIST_LABELS[:labels]
        big = [cv2.cvtColor(cv2.resize(i, (256, 256)), cv2.COLOR_GRAY2BGR) for i in images]
        return {n: [b for b, y in zip(big, ys, strict=True) if FASHION_MNIST_LABELS[y] == n]
                for n in chosen}  # fmt: skip
    root = data / "train" if (data / "train").is_dir() else data
    by_label: dict[str, list] = {}
    for path, label in list_labeled_images(root):
        by_label.setdefault(label, []).append(path)
    usable = [name for name, paths in sorted(by_label.items()) if len(paths) >= per_label]
    if len(usable) < 2:
        raise DatasetError(f"{data} needs two labels with at least {per_label} photos each")
    return {name: [p.read_bytes() for p in by_label[name][:per_label]] for name in usable[:labels]}


def _say(line: str) -> None:
    print(line, flush=True)
    sys.stdout.flush()
