"""`labelbot run` and `labelbot demo` as an operator starts them: real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bot_harness import ADMIN, ALICE, say, send_photo, start_bot, tap_label
from test_cli import labelbot

from bot.fake_telegram import FakeTelegram

pytestmark = pytest.mark.slow
TOKEN = "123456:" + "A" * 35  # the shape BotFather's tokens have


def test_run_against_another_api_server_stops_on_sigterm_and_keeps_votes(
    tmp_path, backbone, photos
):
    fake = FakeTelegram(token=TOKEN).start()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LABELBOT_", "TELE"))}
    environment |= {"TELEGRAM_BOT_TOKEN": TOKEN, "LABELBOT_ADMINS": str(ADMIN["id"]),
                    "LABELBOT_DATA_DIR": str(tmp_path / "data"),
                    "PYTHONPATH": str(Path(__file__).parents[1])}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--api-base-url", fake.base_url,
         "--api-file-url", fake.base_file_url],
        cwd=tmp_path, env=environment, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        fake.wait_for(lambda: "getUpdates" in fake.calls, timeout=180, what="polling")
        say(fake, ADMIN, "/addlabel coffee")
        tap_label(fake, ALICE, send_photo(fake, ALICE, photos["coffee"]), "coffee")
        fake.wait_for(lambda: any(s.text.startswith("Saved") for s in fake.sent.values()))
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert time.monotonic() - started < 30
    finally:
        process.kill()
        fake.stop()
    assert process.returncode == 0, stderr
    assert "stopped cleanly" in stderr and TOKEN not in stderr and "AAAAAAAAAA" not in stderr

    again = FakeTelegram(token=TOKEN).start()
    running = start_bot(again, tmp_path / "data", backbone)
    try:
        assert "coffee: 1 examples" in say(again, ALICE, "/labels").text
    finally:
        running.stop()
        again.stop()


def test_demo_runs_and_reports_rounds(tmp_path):
    result = labelbot(
        "demo", "--labels", "2", "--rounds", "2", "--per-round", "2",
        cwd=tmp_path, LABELBOT_DATA_DIR=str(tmp_path / "data"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "round 1: first guess right" in result.stdout
    assert "round 2: first guess right" in result.stdout


def test_run_without_a_token_explains_and_falls_back_to_the_demo(tmp_path):
    result = labelbot("run", cwd=tmp_path, LABELBOT_DATA_DIR=str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    assert "@BotFather" in result.stderr and "round 1: first guess right" in result.stdout
