"""`labelbot run` and `labelbot demo` as an operator starts them: real processes, real signals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time

import pytest
from desk_helpers import assert_model_holds_the_contributions
from helpers import (
    ADMIN,
    ALICE,
    BOB,
    encode,
    labelbot,
    labelbot_process,
    say,
    send_photo,
    start_bot,
    tap_label,
)

from labelbot.house import House
from labelbot.settings import Secret, Settings
from labelbot_testkit.fake_telegram import FakeTelegram, Sent, user

pytestmark = pytest.mark.slow
TOKEN = "123456:" + "A" * 35  # the shape BotFather's tokens have


@contextlib.contextmanager
def bot_process(tmp_path, fake: FakeTelegram | None = None, **env: str):
    """`labelbot run` against the fake API (a new one unless given), polling; yields (fake,
    process)."""
    own_fake = fake is None
    fake = FakeTelegram(token=TOKEN).start() if own_fake else fake
    polls = fake.calls.count("getUpdates")
    process = labelbot_process(
        "run", "--api-base-url", fake.base_url, "--api-file-url", fake.base_file_url,
        cwd=tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, LABELBOT_ADMINS=str(ADMIN["id"]),
        LABELBOT_DATA_DIR=str(tmp_path / "data"), **env,
    )  # fmt: skip
    try:
        fake.wait_for(lambda: fake.calls.count("getUpdates") > polls, 180, what="polling")
        yield fake, process
    finally:
        process.kill()
        process.wait()
        if own_fake:
            fake.stop()


def vote(fake: FakeTelegram, photos, votes: int) -> None:
    """An admin adds a label and `votes` people each send a photo of it and confirm it."""
    say(fake, ADMIN, "/addlabel coffee")
    for n in range(votes):
        photo = photos["coffee"][n * 10 :]  # a different photo each time
        tap_label(fake, user(50 + n), send_photo(fake, user(50 + n), photo), "coffee")
    saved = lambda: sum(s.text.startswith("Saved") for s in fake.sent.values())  # noqa: E731
    fake.wait_for(lambda: saved() == votes, what="every vote saved")


def run_bot_process_and_vote(tmp_path, photos, stop: signal.Signals, votes: int = 3, **env: str):
    """`labelbot run`: an admin adds a label, people vote, then `stop`."""
    with bot_process(tmp_path, **env) as (fake, process):
        vote(fake, photos, votes)
        started = time.monotonic()
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=30)
        assert time.monotonic() - started < 30
    assert TOKEN not in stderr and "AAAAAAAAAA" not in stderr
    return stderr, process.returncode


def test_one_writer_per_data_dir_and_readers_beside_it(tmp_path, photos):
    (tmp_path / "coffee.jpg").write_bytes(encode(photos["coffee"]))
    env = {"LABELBOT_DATA_DIR": str(tmp_path / "data")}
    with bot_process(tmp_path) as (fake, process):
        vote(fake, photos, 1)
        second = labelbot("addlabel", "tea", cwd=tmp_path, **env)
        assert second.returncode == 2
        assert second.stderr.strip() == (
            f"labelbot addlabel: labelbot run (pid {process.pid}) is using {tmp_path / 'data'}; "
            "stop it or point LABELBOT_DATA_DIR elsewhere"
        )
        # Readers see the newest checkpoint; the writer saves one within seconds of going idle.
        labels = lambda: json.loads(labelbot("labels", "--json", cwd=tmp_path, **env).stdout)  # noqa: E731
        fake.wait_for(lambda: labels()[0]["examples"] == 1, what="the vote in a checkpoint")
        predicted = labelbot("predict", "--json", "coffee.jpg", cwd=tmp_path, **env)
        assert predicted.returncode == 0, predicted.stderr
        assert json.loads(predicted.stdout)[0]["predictions"][0]["label"] == "coffee"
    # The killed writer's lock died with it: the next writer gets the data dir at once.
    assert labelbot("addlabel", "tea", cwd=tmp_path, **env).returncode == 0


def test_an_unreachable_api_server_is_one_line_without_the_token(tmp_path):
    result = labelbot(
        "run", "--api-base-url", "http://127.0.0.1:9/bot", cwd=tmp_path,
        TELEGRAM_BOT_TOKEN=TOKEN, LABELBOT_DATA_DIR=str(tmp_path / "data"),
    )  # fmt: skip
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("labelbot run: cannot reach the Bot API server (http://127.0.0.1:9/bot)")
    assert "Traceback" not in result.stderr and "AAAAAAAAAA" not in result.stderr


def test_a_locked_database_is_one_line(tmp_path):
    import sqlite3

    env = {"LABELBOT_DATA_DIR": str(tmp_path)}
    assert labelbot("addlabel", "tea", cwd=tmp_path, **env).returncode == 0
    holder = sqlite3.connect(tmp_path / "labelbot.sqlite3")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = labelbot("addlabel", "milk", cwd=tmp_path, **env)
    finally:
        holder.rollback()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("labelbot addlabel: ")
    assert "locked" in result.stderr


def examples_after_restart(tmp_path, backbone, **settings) -> str:
    fake = FakeTelegram(token=TOKEN).start()
    running = start_bot(fake, tmp_path / "data", backbone, **settings)
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


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_killed_bot_replays_committed_votes_on_restart(
    request, tmp_path, backbone, photos, store
):
    url = request.getfixturevalue("postgres").new_database() if store == "postgresql" else ""
    env = {"LABELBOT_DATABASE_URL": url} if url else {}
    stderr, code = run_bot_process_and_vote(tmp_path, photos, signal.SIGKILL, **env)
    assert code == -signal.SIGKILL and "stopped cleanly" not in stderr
    # The votes were in the store, not in a checkpoint: the journal brings them back.
    settings = {"database_url": Secret(url)} if url else {}
    assert "coffee: 3 examples" in examples_after_restart(tmp_path, backbone, **settings)
    assert (tmp_path / "data" / "labelbot.sqlite3").exists() == (store == "sqlite")


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


def test_a_photo_acknowledged_by_a_killed_bot_is_answered_after_restart(tmp_path, photos):
    fake = FakeTelegram(token=TOKEN).start()
    try:
        with bot_process(tmp_path, fake):
            say(fake, ADMIN, "/addlabel coffee")
            fake.download_delay = 30.0  # the photo is still downloading when the bot dies
            message_id = fake.send_photo(ALICE, photos["coffee"])
            # Polling again with a later offset tells Telegram the update has arrived.
            received = lambda: all(u["update_id"] < fake.pushed[-1]["update_id"]  # noqa: E731
                                   for u in fake.updates)  # fmt: skip
            fake.wait_for(received, what="the photo acknowledged")
        fake.download_delay = 0.0
        with bot_process(tmp_path, fake) as (_, restarted):
            reply = fake.wait_reply(message_id, ALICE["id"], timeout=60)
            restarted.send_signal(signal.SIGTERM)
            _, stderr = restarted.communicate(timeout=60)
    finally:
        fake.stop()
    assert reply.button("Skip")  # the guesses, with their buttons
    assert "handling 1 updates a stopped process had received" in stderr


@pytest.mark.parametrize("damage", ["garbage in the middle", "not a database"])
def test_a_damaged_store_is_refused_in_one_line_within_seconds(tmp_path, damage):
    """`labelbot run` and a command on a damaged store exit at once, naming the file and what
    to do; no thread is left to keep the process waiting (it used to hang)."""
    data = tmp_path / "data"
    assert labelbot("addlabel", "cat", cwd=tmp_path, LABELBOT_DATA_DIR=str(data)).returncode == 0
    store = data / "labelbot.sqlite3"
    if damage == "not a database":
        store.write_bytes(os.urandom(store.stat().st_size))
    else:
        with store.open("r+b") as file:  # past the header: the tables' pages
            file.seek(3 * 4096)
            file.write(os.urandom(4 * 4096))
    fake = FakeTelegram(token=TOKEN).start()
    try:
        for args in (
            ["run", "--api-base-url", fake.base_url, "--api-file-url", fake.base_file_url],
            ["addlabel", "dog"],
        ):
            started = time.monotonic()
            result = labelbot(*args, cwd=tmp_path, TELEGRAM_BOT_TOKEN=TOKEN,
                              LABELBOT_DATA_DIR=str(data))  # fmt: skip
            assert time.monotonic() - started < 30, args  # the import of TensorFlow at most
            assert result.returncode == 2, result.stderr
            last = result.stderr.strip().splitlines()[-1]
            assert f"the database {store} is damaged" in last and "backup" in last
            assert "Traceback" not in result.stderr
    finally:
        fake.stop()


def test_an_undo_sent_after_a_restart_is_applied_after_the_vote_the_killed_bot_left_open(
    tmp_path, photos
):
    """A vote acknowledged and applied, the bot killed before its update was closed, an Undo
    sent while it is down: after the restart the vote (taken over) is handled before the Undo
    (newer), so the vote is undone and stays undone. Handled the other way round, the vote
    taken over would be recorded again after the Undo."""
    import sqlite3

    fake = FakeTelegram(token=TOKEN).start()
    store = tmp_path / "data" / "labelbot.sqlite3"
    try:
        with bot_process(tmp_path, fake):
            say(fake, ADMIN, "/addlabel coffee")
            reply = send_photo(fake, ALICE, photos["coffee"])
            tapped = tap_label(fake, ALICE, reply, "coffee")
            fake.wait_for(lambda: "Undo" in str(reply.buttons()), what="the vote applied")
        # killed; its inbox row for the vote reopened as if the kill had come before closing it
        query_id = tapped["callback_query_id"]
        vote = next(u for u in fake.pushed if u.get("callback_query", {}).get("id") == query_id)
        with sqlite3.connect(store) as db:
            db.execute("UPDATE inbox SET done_at = NULL, payload = ? WHERE update_id = ?",
                       (json.dumps(vote), vote["update_id"]))  # fmt: skip
        fake.tap(ALICE, reply, reply.button("Undo")["callback_data"])  # while the bot is down
        with bot_process(tmp_path, fake) as (_, restarted):
            fake.wait_for(lambda: reply.text.startswith("Undone"), 60, what="the undo")
            still_open = "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL"
            fake.wait_for(lambda: _count(store, still_open) == 0, 60, what="both handled")
            restarted.send_signal(signal.SIGTERM)
            _, stderr = restarted.communicate(timeout=60)
    finally:
        fake.stop()
    assert "handling 1 updates a stopped process had received" in stderr
    assert _count(store, "SELECT COUNT(*) FROM votes WHERE undone_at IS NULL") == 0
    assert "Sorry" not in [sent.text[:5] for sent in fake.sent.values()]


def _count(store, query: str) -> int:
    import sqlite3

    with sqlite3.connect(store) as db:
        return db.execute(query).fetchone()[0]


def test_commands_and_undo_are_answered_while_the_backbone_loads(tmp_path, photos):
    """Back in seconds: after a restart, a command and an Undo sent while the bot was down are
    answered before TensorFlow has loaded (they need none of it); a photo sent with them waits
    for the backbone and is answered once it is ready."""
    fake = FakeTelegram(token=TOKEN).start()
    try:
        with bot_process(tmp_path, fake) as (_, first):
            say(fake, ADMIN, "/addlabel coffee")
            reply = send_photo(fake, ALICE, photos["coffee"])
            tap_label(fake, ALICE, reply, "coffee")
            fake.wait_for(lambda: "Undo" in str(reply.buttons()), what="the vote applied")
            first.send_signal(signal.SIGTERM)
            first.communicate(timeout=60)
        command = fake.send_text(ADMIN, "/labels")
        fake.tap(ALICE, reply, reply.button("Undo")["callback_data"])
        photo = fake.send_photo(BOB, photos["coffee"][20:])
        with bot_process(tmp_path, fake) as (_, restarted):
            assert "coffee" in fake.wait_reply(command, ADMIN["id"]).text
            fake.wait_for(lambda: reply.text.startswith("Undone"), what="the undo")
            assert fake.reply_to(photo, BOB["id"]) is None  # still waiting for the backbone
            guesses = fake.wait_reply(photo, BOB["id"], timeout=120)
            restarted.send_signal(signal.SIGTERM)
            _, stderr = restarted.communicate(timeout=60)
    finally:
        fake.stop()
    assert guesses.button("Skip")
    assert stderr.index("labelbot is up") < stderr.index("the backbone is ready")
    assert "Sorry" not in [sent.text[:5] for sent in fake.sent.values()]


def test_a_backbone_that_cannot_load_stops_the_bot_in_one_line(tmp_path):
    """The bot is up before its backbone; if the backbone then cannot be built (here its cache
    folder is a file), no photo could ever be read, so the bot stops and says why."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "backbones").write_text("not a folder")
    fake = FakeTelegram(token=TOKEN).start()
    try:
        result = labelbot(
            "run", "--api-base-url", fake.base_url, "--api-file-url", fake.base_file_url,
            cwd=tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, LABELBOT_DATA_DIR=str(data),
        )  # fmt: skip
    finally:
        fake.stop()
    assert result.returncode == 2, result.stderr
    assert "labelbot is up" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("labelbot run: the backbone cannot be loaded: ")
    assert str(data / "backbones") in last and "Traceback" not in result.stderr


def test_kill_9_cycles_lose_no_acknowledged_vote_and_revive_no_undone_one(tmp_path, photos):
    """Three kill -9 cycles while people vote and undo, with a vote and an Undo still in flight
    at each kill. After every restart, a vote whose "Saved" its sender saw counts unless its
    "Undone" was seen, an undone vote stays undone, and at the end the model holds exactly
    what the store's consensus says each photo contributes."""
    fake = FakeTelegram(token=TOKEN).start()
    seen: dict[int, bool] = {}  # reply message id -> whether its vote should count
    store = tmp_path / "data" / "labelbot.sqlite3"
    try:
        for cycle in range(3):
            with bot_process(tmp_path, fake):
                if cycle == 0:
                    say(fake, ADMIN, "/addlabel coffee")
                _assert_votes_as_seen(fake, store, seen)
                people = [user(100 + 10 * cycle + n) for n in range(3)]
                replies = [_voted(fake, p, photos["coffee"][9 * (3 * cycle + n) :])
                           for n, p in enumerate(people)]  # fmt: skip
                for reply in replies:
                    seen[reply.message_id] = True
                fake.tap(people[0], replies[0], replies[0].button("Undo")["callback_data"])
                fake.wait_for(lambda r=replies[0]: r.text.startswith("Undone"), what="undo")
                seen[replies[0].message_id] = False
                # In flight when the kill comes: their outcome is the bot's to decide.
                late = user(109 + 10 * cycle)
                unvoted = send_photo(fake, late, photos["coffee"][5 + 9 * cycle :])
                fake.tap(people[1], replies[1], replies[1].button("Undo")["callback_data"])
                fake.tap(late, unvoted, unvoted.button("coffee")["callback_data"])
                del seen[replies[1].message_id]
        with bot_process(tmp_path, fake) as (_, last):
            _assert_votes_as_seen(fake, store, seen)
            last.send_signal(signal.SIGTERM)
            last.communicate(timeout=60)
    finally:
        fake.stop()
    asyncio.run(_assert_model_holds_the_store(tmp_path / "data"))


def _voted(fake: FakeTelegram, person: dict, photo) -> Sent:
    reply = send_photo(fake, person, photo)
    tap_label(fake, person, reply, "coffee")
    fake.wait_for(lambda: reply.text.startswith("Saved"), what="the vote saved")
    return reply


def _assert_votes_as_seen(fake: FakeTelegram, store, seen: dict[int, bool]) -> None:
    """Once the updates the killed process left are handled: each reply's live votes."""
    still_open = "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL"
    fake.wait_for(lambda: _count(store, still_open) == 0, 120, what="the inbox handled")
    live = ("SELECT COUNT(*) FROM votes JOIN samples ON samples.id = votes.sample_id "
            "WHERE samples.reply_message_id = {} AND votes.undone_at IS NULL")  # fmt: skip
    assert {reply: _count(store, live.format(reply)) for reply in seen} == {
        reply: int(counts) for reply, counts in seen.items()
    }


async def _assert_model_holds_the_store(data) -> None:
    house = House(Settings(data_dir=data))
    desk = await house.open_desk(reads_photos=False)
    try:
        await assert_model_holds_the_contributions(desk)
    finally:
        await house.close()
