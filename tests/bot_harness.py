"""Scripted Telegram users against the real bot over HTTP (the fake Bot API on 127.0.0.1)."""

from __future__ import annotations

from bot.app import build_application
from bot.background import BackgroundBot
from bot.fake_telegram import FakeTelegram, Sent, user
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


def say(fake: FakeTelegram, who: dict, text: str, chat=None) -> Sent:
    """Sends a text message and returns the bot's reply to it."""
    message_id = fake.send_text(who, text, chat)
    return fake.wait_reply(message_id, (chat or who)["id"])


def send_photo(fake: FakeTelegram, who: dict, image, chat=None, caption=None) -> Sent:
    message_id = fake.send_photo(who, image, chat, caption)
    return fake.wait_reply(message_id, (chat or who)["id"], timeout=60)


def tap(fake: FakeTelegram, who: dict, sent: Sent, data: str) -> dict:
    """Taps a button (by its data) and returns the bot's answerCallbackQuery."""
    return fake.wait_answer(fake.tap(who, sent, data))


def tap_label(fake: FakeTelegram, who: dict, sent: Sent, name: str) -> dict:
    """Picks a label the way a person does: a guess button, else through “Other…” pages."""
    edits = sent.edits
    for button in sent.buttons():
        if button["text"] == name or button["text"].removeprefix("✅ ").rsplit(" ", 1)[0] == name:
            return tap(fake, who, sent, button["callback_data"])
    tap(fake, who, sent, sent.button("Other").get("callback_data"))
    while True:
        fake.wait_for(lambda e=edits: sent.edits > e, what="the label list")
        edits = sent.edits
        for button in sent.buttons():
            if button["text"] == name:
                return tap(fake, who, sent, button["callback_data"])
        tap(fake, who, sent, sent.button("Next »")["callback_data"])
