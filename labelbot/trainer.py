"""`labelbot run --role trainer`: the one process that changes the model when replicas answer.

It holds the data dir's writer lock and the model service, exactly like a single-process bot,
but talks to no one on Telegram. Replicas commit votes and other events to PostgreSQL and
notify `EVENTS_CHANNEL`; the trainer wakes (or polls every second, should a notification be
lost), applies every committed event in id order through the journal, and publishes the new
version for the replicas (`bot.heads`). Exactly once across restarts: the journal applies only
events after the newest checkpoint's last event, as after a crash in one process.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from bot.desk.desk import Desk
from bot.desk.views import REESTIMATE_EVERY
from bot.heads import CHECKPOINT_REQUEST, POLL_SECONDS, Head
from bot.store import EVENTS_CHANNEL
from labelbot.house import House

log = logging.getLogger(__name__)


class Trainer:
    def __init__(self, house: House) -> None:
        self.house = house
        self._wake = asyncio.Event()
        self._checkpoint_asked = False
        self._estimated_at = 0  # the last vote id when reliabilities were last estimated

    async def run(self, stop: asyncio.Event) -> None:
        """Applies and publishes until `stop` is set; then applies what is left and closes."""
        desk = await self.house.open_desk(reads_photos=False)
        listener = await asyncpg.connect(self.house.settings.database_url.reveal())
        try:
            await listener.add_listener(EVENTS_CHANNEL, self._notified)
            await self.publish(desk)
            log.info("trainer ready at model version %d", desk.snapshot.version)
            while not stop.is_set():
                await self._sleep(stop)
                await self.step(desk)
        finally:
            await listener.close()
            await self.house.close()

    def _notified(self, connection, pid, channel, payload: str) -> None:
        self._checkpoint_asked |= payload == CHECKPOINT_REQUEST
        self._wake.set()

    async def _sleep(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waits, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        self._wake.clear()

    async def step(self, desk: Desk) -> None:
        """Applies pending events, re-estimates reliabilities every REESTIMATE_EVERY votes
        (as one process does), checkpoints when a replica asked, and publishes whatever
        changed."""
        before = (desk.snapshot.version, desk.service.last_event_id)
        await desk.journal.pump()
        last_vote = await desk.store.votes.last_id()
        if last_vote - self._estimated_at >= REESTIMATE_EVERY:  # votes the replicas took
            self._estimated_at = last_vote
            if await desk.crowd.reestimate():
                await desk.journal.pump()
        if self._checkpoint_asked:
            self._checkpoint_asked = False
            await desk.service.checkpoint()
            await self.publish(desk)
        elif (desk.snapshot.version, desk.service.last_event_id) != before:
            await self.publish(desk)

    async def publish(self, desk: Desk) -> None:
        service = desk.service
        versions = service.versions()
        head = Head(desk.snapshot, service.last_event_id, tuple(versions), max(versions, default=0))
        meta, arrays = head.encode()
        await desk.store.heads.publish(head.snapshot.version, head.last_event_id, meta, arrays)


def run_trainer(house: House) -> None:
    """Runs the trainer until SIGINT or SIGTERM."""
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await Trainer(house).run(stop)

    asyncio.run(main())
    log.info("trainer stopped cleanly")
