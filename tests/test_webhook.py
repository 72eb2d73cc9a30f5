"""Webhook mode: Telegram posts each update to the bot, which checks the secret header."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from helpers import ADMIN, ALICE, desk_of, say, start_bot

pytestmark = pytest.mark.slow


def post(url: str, update: dict, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, json.dumps(update).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_updates_arrive_by_webhook_and_a_wrong_secret_is_refused(fake, tmp_path, backbone):
    running = start_bot(fake, tmp_path / "data", backbone, webhook=True)
    try:
        assert fake.webhook == running.webhook.url and fake.webhook_secret == running.webhook.secret
        assert "Added label cat" in say(fake, ADMIN, "/addlabel cat").text
        assert fake.deliveries >= 1 and "getUpdates" not in fake.calls
        forged = {"update_id": 10**6, "message": {
            "message_id": 1, "date": 0, "chat": {"id": ADMIN["id"], "type": "private"},
            "from": ADMIN, "text": "/addlabel dog"}}  # fmt: skip
        assert post(running.webhook.url, forged, "not-the-secret") == 403
        assert post(running.webhook.url, forged, None) == 403
        assert "dog" not in say(fake, ADMIN, "/labels").text  # the forged update did nothing
    finally:
        running.stop()


def test_labelbot_run_by_webhook_answers_and_stops_on_sigterm(tmp_path):
    import signal

    from helpers import free_port, labelbot_process

    from labelbot_testkit.fake_telegram import FakeTelegram

    token = "123456:" + "W" * 35
    fake = FakeTelegram(token=token).start()
    port = free_port()
    process = labelbot_process(
        "-v", "run", "--webhook-url", f"http://127.0.0.1:{port}/hook", "--port", str(port),
        "--api-base-url", fake.base_url, "--api-file-url", fake.base_file_url, cwd=tmp_path,
        TELEGRAM_BOT_TOKEN=token, LABELBOT_ADMINS=str(ADMIN["id"]),
        LABELBOT_DATA_DIR=str(tmp_path / "data"),
    )  # fmt: skip
    try:
        fake.wait_for(lambda: fake.webhook, timeout=180, what="setWebhook")
        assert fake.webhook == f"http://127.0.0.1:{port}/hook" and len(fake.webhook_secret) >= 32
        assert "Added label tea" in say(fake, ADMIN, "/addlabel tea").text
        assert post(fake.webhook, {"update_id": 1}, "forged") == 403
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        fake.stop()
    assert process.returncode == 0, stderr
    assert fake.webhook_secret not in stderr and "W" * 20 not in stderr
    assert "receiving updates by webhook" in stderr


def test_an_update_delivered_again_is_handled_once(fake, tmp_path, backbone, photos):
    running = start_bot(fake, tmp_path / "data", backbone, webhook=True)
    try:
        say(fake, ADMIN, "/addlabel coffee")
        message_id = fake.send_photo(ALICE, photos["coffee"])
        fake.wait_reply(message_id, ALICE["id"])
        delivered = fake.deliveries
        fake.deliver_again(message_id)  # Telegram missed the 200 and sends it once more
        fake.wait_for(lambda: fake.deliveries > delivered, what="the second delivery")
        assert "Added label tea" in say(fake, ADMIN, "/addlabel tea").text  # handled after it
        replies = [s for s in fake.messages_to(ALICE["id"]) if s.reply_to == message_id]
        assert len(replies) == 1
        assert running.run(desk_of(running).store.samples.by_message(ALICE["id"], message_id))
    finally:
        running.stop()
