"""Scripted Telegram users: what a person does in a chat, as blocking calls on the fake API.

The offline demo and the tests share them, so the demo exercises the same paths the tests check.
"""

from __future__ import annotations

from labelbot_testkit.fake_telegram.server import FakeTelegram, Sent


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
