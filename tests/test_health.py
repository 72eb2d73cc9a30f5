"""`/readyz`'s judgement (`bot.web.health`) on a real desk: what counts as behind, stuck or
unreachable, and that a moment in flight does not."""

from __future__ import annotations

import time

import pytest
from desk_helpers import ADMIN, ALICE, open_desk

from bot.journal import Stall
from bot.store import EventKind, InboxEntry
from bot.web import health
from labelbot.house import House
from labelbot.settings import Settings


@pytest.fixture
async def house(tmp_path):
    built = House(Settings(admins=frozenset({ADMIN}), data_dir=tmp_path), command="labelbot run")
    yield built
    await built.close()


@pytest.fixture
async def desk(house):
    return await open_desk(house)


async def test_a_caught_up_desk_is_ready(desk):
    await desk.labels.add(ADMIN, "tea")
    assert await health.problems(desk) == []


async def test_the_model_behind_its_journal_is_not_ready_until_it_catches_up(desk):
    # A vote a replica committed while the trainer is down: in the journal, not in the model.
    await desk.store.events.add(EventKind.ADD_LABEL, ADMIN, name="tea")
    assert await health.problems(desk) == []  # just committed: in flight, not behind
    later = time.time() + health.BEHIND_AFTER + 5
    (problem,) = await health.problems(desk, now=later)
    assert "1 events behind the journal" in problem
    await desk.journal.catch_up()
    assert await health.problems(desk, now=later) == []
    assert desk.snapshot.labels.get("tea").id == 0


async def test_an_update_left_open_makes_the_inbox_stuck(desk):
    entry = InboxEntry(bot_id=1, update_id=7, user_id=ALICE, payload="{}")
    await desk.store.inbox.receive(entry, "replica-1")
    assert await health.problems(desk) == []
    (problem,) = await health.problems(desk, now=time.time() + health.STUCK_AFTER + 5)
    assert problem.startswith("1 updates are open")
    await desk.store.inbox.done(1, 7)
    assert await health.problems(desk, now=time.time() + health.STUCK_AFTER + 5) == []


async def test_a_stalled_journal_and_a_closed_store_are_named(house, desk):
    desk.journal.stall = Stall(12, "reinforce", "ValueError: bad embedding")
    (problem,) = await health.problems(desk)
    assert problem == "the model stopped at event 12 (reinforce): ValueError: bad embedding"
    desk.journal.stall = None
    await house.close()
    (problem,) = await health.problems(desk)
    assert problem.startswith("the store does not answer")


async def test_a_process_still_starting_is_not_ready():
    assert await health.problems(None) == ["starting: the store is not open yet"]
