"""Scripted Telegram users against the real bot over HTTP (the fake Bot API on 127.0.0.1)."""

from __future__ import annotations

from bot.app import build_application
from bot.background import BackgroundBot
from bot.fake_telegram import FakeTelegram, user
from bot.scripted import say, send_photo, tap, tap_label  # noqa: F401  (re-exported for tests)
from bot.settings import Settings

ADMIN = user(1, "Ada")
ALICE = user(2, "Alice")
BOB = user(3, "Bob")


def start_bot(fake: FakeTelegram, data_dir, backbone, **settings) -> BackgroundBot:
    config = Settings(admins=frozenset({ADMIN["id"]}), data_dir=data_dir, **settings)
    app = build_application(
        config,
        fake.token,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        backbone=backbone,
    )
    return BackgroundBot(app).__enter__()
