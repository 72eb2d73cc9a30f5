"""Fair turns at reading photos: shares per contributor, a global limit, round-robin order."""

from __future__ import annotations

import asyncio

import pytest

from bot.admission import Admission, SlowDown


class Reader:
    """Holds turns open until released, and records the order in which they began."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.started: list[str] = []
        self.release = asyncio.Event()

    async def read(self, user_id: int, name: str) -> None:
        async with self.admission.turn(user_id):
            self.started.append(name)
            await self.release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_contributor_over_their_share_is_told_once_to_slow_down():
    admission = Admission(per_user=2, at_once=10, quiet_for=60)
    reader = Reader(admission)
    reading = [asyncio.create_task(reader.read(7, f"photo {n}")) for n in range(2)]
    await settle()
    told = []
    for _ in range(3):
        with pytest.raises(SlowDown) as over:
            async with admission.turn(7):
                pass
        told.append(over.value.tell)
    assert told == [True, False, False]  # a flood gets one reply, not a flood of replies
    async with admission.turn(8):  # someone else is not affected
        pass
    reader.release.set()
    await asyncio.gather(*reading)
    async with admission.turn(7):  # with the photos answered, the share is free again
        pass


async def test_a_freed_turn_goes_to_whoever_has_waited_with_least_in_flight():
    admission = Admission(per_user=4, at_once=1)
    reader = Reader(admission)
    tasks = [asyncio.create_task(reader.read(1, "flood 1"))]
    await settle()
    tasks += [asyncio.create_task(reader.read(1, f"flood {n}")) for n in (2, 3)]
    await settle()
    tasks += [asyncio.create_task(reader.read(user, f"honest {user}")) for user in (2, 3)]
    await settle()
    assert reader.started == ["flood 1"]
    for _ in range(4):  # one turn at a time
        reader.release.set()
        await settle()
        reader.release.clear()
        await settle()
    reader.release.set()
    await asyncio.gather(*tasks)
    # The flood's later photos arrived first, yet wait behind the honest ones.
    assert reader.started == ["flood 1", "honest 2", "honest 3", "flood 2", "flood 3"]


async def test_a_cancelled_wait_gives_its_place_and_share_back():
    admission = Admission(per_user=1, at_once=1)
    reader = Reader(admission)
    first = asyncio.create_task(reader.read(1, "first"))
    await settle()
    waiting = asyncio.create_task(reader.read(2, "cancelled"))
    await settle()
    waiting.cancel()
    await settle()
    later = asyncio.create_task(reader.read(2, "later"))  # the share of user 2 is free again
    await settle()
    reader.release.set()
    await asyncio.gather(first, later)
    assert waiting.cancelled() and reader.started == ["first", "later"]
    assert admission.reading == 0


def test_refusals_are_answered_a_few_times_a_minute_per_contributor():
    admission = Admission(per_user=4, at_once=64, quiet_for=60, refusals=3)
    assert [admission.may_refuse(7) for _ in range(5)] == [True, True, True, False, False]
    assert admission.may_refuse(8)  # others still get their answers
