"""The inbox (bot.inbox): updates kept until handled, taken over when their process dies."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.inbox import LEASE, MAX_ATTEMPTS
from bot.store import InboxEntry, Store

BOT = 123456
FRESH = 0.0  # a stale_before no claim is older than: nothing is stale


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
async def store(request, tmp_path):
    if request.param == "postgresql":
        opened = await Store.connect(request.getfixturevalue("postgres").new_database())
    else:
        opened = await Store.open(tmp_path / "labelbot.sqlite3")
    yield opened
    await opened.close()


def entry(update_id: int, user_id: int = 7) -> InboxEntry:
    return InboxEntry(BOT, update_id, user_id, json.dumps({"update_id": update_id}))


def ids(entries: list[InboxEntry]) -> list[int]:
    return [e.update_id for e in entries]


async def test_an_update_is_kept_once_and_a_redelivery_is_recognised(store):
    assert await store.inbox.receive(entry(1), "a")
    assert not await store.inbox.receive(entry(1), "a")
    assert not await store.inbox.receive(entry(1), "b")  # delivered again, to another replica
    assert await store.inbox.receive(InboxEntry(BOT + 1, 1, 7, "{}"), "a")  # another bot's


async def test_a_restarted_process_takes_back_at_once_what_it_left_open(store):
    for update_id in (1, 2, 3):
        await store.inbox.receive(entry(update_id), "a")
    await store.inbox.receive(entry(4), "b")
    await store.inbox.done(BOT, 2)
    restarted = time.time()
    taken = await store.inbox.claim("a", FRESH, restarted, MAX_ATTEMPTS)
    assert ids(taken) == [1, 3] and json.loads(taken[0].payload) == {"update_id": 1}
    # Claimed again in this life: not taken a second time; b's is b's while fresh.
    assert await store.inbox.claim("a", FRESH, restarted, MAX_ATTEMPTS) == []
    await store.inbox.receive(entry(5), "a")  # received after the restart: in flight
    assert await store.inbox.claim("a", FRESH, restarted, MAX_ATTEMPTS) == []


async def test_another_process_takes_over_only_a_claim_gone_stale(store):
    await store.inbox.receive(entry(1), "a")
    received = time.time()
    await asyncio.sleep(0.01)
    await store.inbox.renew("a")  # a is alive and still working on it
    assert await store.inbox.claim("b", received, time.time(), MAX_ATTEMPTS) == []
    later = time.time() + LEASE  # a renewed no more: a lease later, its claim is stale
    assert ids(await store.inbox.claim("b", later, time.time(), MAX_ATTEMPTS)) == [1]
    now_stale = time.time() - LEASE  # b has it now, freshly claimed
    assert await store.inbox.claim("c", now_stale, time.time(), MAX_ATTEMPTS) == []


async def test_a_handled_update_keeps_its_ids_not_its_content(store):
    await store.inbox.receive(entry(1), "a")
    await store.inbox.done(BOT, 1)
    assert not await store.inbox.receive(entry(1), "b")  # still recognised
    async with store.database.connection.execute("SELECT payload FROM inbox") as cursor:
        assert [row[0] for row in await cursor.fetchall()] == [""]


async def test_an_update_started_too_often_is_given_up_then_pruned(store):
    await store.inbox.receive(entry(1), "a")
    await store.inbox.receive(entry(2), "a")
    await store.inbox.done(BOT, 2)
    takers = [f"p{n}" for n in range(MAX_ATTEMPTS)]
    claims = [await store.inbox.claim(p, time.time() + 1, 0.0, MAX_ATTEMPTS) for p in takers]
    assert [ids(c) for c in claims] == [[1]] * (MAX_ATTEMPTS - 1) + [[]]
    assert await store.inbox.give_up(time.time() - LEASE, MAX_ATTEMPTS) == []  # still running
    assert await store.inbox.give_up(time.time() + 1, MAX_ATTEMPTS) == [1]  # its owner died
    assert await store.inbox.give_up(time.time() + 1, MAX_ATTEMPTS) == []  # said once
    await store.inbox.prune(time.time() - 60)  # kept while recent
    assert not await store.inbox.receive(entry(1), "a")
    await store.inbox.prune(time.time() + 1)
    assert await store.inbox.receive(entry(1), "a") and await store.inbox.receive(entry(2), "a")


async def test_forgetting_a_person_deletes_their_updates(store):
    await store.inbox.receive(entry(1, user_id=7), "a")
    await store.inbox.receive(entry(2, user_id=8), "a")
    await store.people.delete(7)
    assert await store.people.rows_naming(7) == 0
    assert ids(await store.inbox.claim("b", time.time() + 1, 0.0, MAX_ATTEMPTS)) == [2]


async def test_two_processes_sweeping_at_once_take_each_update_once(postgres):
    url = postgres.new_database()
    first, second = await Store.connect(url), await Store.connect(url)
    try:
        for update_id in range(1, 41):
            await first.inbox.receive(entry(update_id), "dead")
        await asyncio.sleep(0.01)
        stale = time.time()  # what the dead process claimed is older; what b and c claim newer
        await asyncio.sleep(0.01)
        taken = await asyncio.gather(
            *(s.inbox.claim(name, stale, 0.0, MAX_ATTEMPTS)
              for s, name in ((first, "b"), (second, "c")) for _ in range(3))
        )  # fmt: skip
    finally:
        await first.close()
        await second.close()
    every = sorted(i for claims in taken for i in ids(claims))
    assert every == list(range(1, 41))


def test_a_running_bot_takes_over_what_a_dead_replica_left(fake, bot, monkeypatch):
    """The sweeper end to end: an update another process claimed and never finished (its
    claim gone stale) is handled by this bot, once, and marked done."""
    from helpers import ALICE, say

    from bot import inbox

    monkeypatch.setattr(inbox, "LEASE", 0.5)  # the real lease is 30 s
    say(fake, ALICE, "/start")  # the bot is up and sweeping
    desk = bot.application.bot_data.desk
    update_id = 10**9
    command = {"type": "bot_command", "offset": 0, "length": 7}
    left = {"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "from": ALICE, "text": "/labels",
        "chat": {"id": ALICE["id"], "type": "private", "first_name": "Alice"},
        "entities": [command]}}  # fmt: skip
    entry = InboxEntry(bot.application.bot.id, update_id, ALICE["id"], json.dumps(left))
    assert bot.run(desk.store.inbox.receive(entry, "dead-replica"))
    reply = fake.wait_reply(update_id, ALICE["id"], timeout=15)  # a sweep every 5 s
    assert "label" in reply.text.lower()

    async def handled() -> bool:
        query = "SELECT done_at FROM inbox WHERE update_id = ?"
        return await desk.store.database.value(query, (update_id,)) is not None

    fake.wait_for(lambda: bot.run(handled()), timeout=5, what="the update marked done")
    stale = time.time() + 1  # done: no process takes it again, however stale
    assert bot.run(desk.store.inbox.claim("another", stale, 0.0, MAX_ATTEMPTS)) == []
