"""A fake Telegram for the offline demo and the tests: a Bot API server on 127.0.0.1
(`server`), scripted users acting on it (`scripted`), and the real bot run in a thread of its
own to talk to it (`background`)."""

from labelbot_testkit.fake_telegram.background import BackgroundBot, Webhook
from labelbot_testkit.fake_telegram.scripted import say, send_photo, tap, tap_label
from labelbot_testkit.fake_telegram.server import BOT_USERNAME, FakeTelegram, Sent, group, user

__all__ = [
    "BOT_USERNAME",
    "BackgroundBot",
    "FakeTelegram",
    "Sent",
    "Webhook",
    "group",
    "say",
    "send_photo",
    "tap",
    "tap_label",
    "user",
]
