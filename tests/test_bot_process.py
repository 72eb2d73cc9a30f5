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

from bot.fake_telegram import FakeTelegram, user

pytestmark = pytest.mark.slow
TOKEN = "123456:" + "A" * 35  # the shape BotFather's tokens have


def run_bot_process_and_vote(tmp_path, photos, stop: signal.Signals, votes: int = 3):
    """`labelbot run` against the fake API: an admin adds a label, people vote, then `stop`."""
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
        for n in range(votes):
            photo = photos["coffee"][n * 10 :]  # a different photo each time
            tap_label(fake, user(50 + n), send_photo(fake, user(50 + n), photo), "coffee")
        saved = lambda: sum(s.text.startswith("Saved") for s in fake.sent.values())  # noqa: E731
        fake.wait_for(lambda: saved() == votes, what="every vote saved")
        started = time.monotonic()
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=30)
        assert time.monotonic() - started < 30
    finally:
        process.kill()
        fake.stop()
    assert TOKEN not in stderr and "AAAAAAAAAA" not in stderr
    return stderr, process.returncode


def examples_after_restart(tmp_path, backbone) -> str:
    fake = FakeTelegram(token=TOKEN).start()
    running = start_bot(fake, tmp_path / "data", backbone)
    try:
        return say(fake, ALICE, "/labels").text
    finally:
        running.stop()
        fake.stop()


def test_run_against_another_api_server_stops_on_sigterm(tmp_path, backbone, photos):
    stderr, code = run_bot_process_and_vote(tmp_path, photos, signal.SIGTERM)
    assert code == 0, stderr
    assert "stopped cleanly" in stderr
    assert "coffee: 3 examples" in examples_after_restart(tmp_path, backbone)


def test_a_killed_bot_replays_committed_votes_on_restart(tmp_path, backbone, photos):
    stderr, code = run_bot_process_and_vote(tmp_path, photos, signal.SIGKILL)
    assert code == -signal.SIGKILL and "stopped cleanly" not in stderr
    # The votes were in SQLite, not in a checkpoint: the journal brings them back.
    assert "coffee: 3 examples" in examples_after_restart(tmp_path, backbone)


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
