"""Every update kept in the store before Telegram is told it arrived, until it is handled.

python-telegram-bot acknowledges an update (the webhook's HTTP 200, or the next getUpdates
offset) once it is in the application's update queue, before any handler runs: a process
killed in between would lose it, and Telegram would never send it again. `DurableQueue` is
that update queue with one change: `put` first commits the update to the store's inbox
(claimed by this process), and skips an update the inbox already holds (Telegram delivers
again what it thinks was not received). `DurableApplication` marks each update done once its
handlers have run, whatever they raised.

What a process leaves open when it dies is taken over by `InboxSweeper`: at once by the same
process after a restart (the inbox knows it by its `owner` name), or by any other process once
the claim is LEASE seconds old. Each process renews its own claims every RENEW_EVERY seconds,
so a slow update is never taken from a process that is still working on it. An update whose
handling was started MAX_ATTEMPTS times is given up (logged as an error, its content kept
until pruned), so one that kills its process cannot kill every restart. Handling an update
twice is safe: the same vote again is that vote (`bot.store.Store.record_vote`), and a photo
already answered is not answered again (`bot.desk.photos.Photos.take`).

One person's taps and messages are handled in the order Telegram numbered them, whichever
process handles them and whenever: such an update waits until every older one of the same
person is done (`Inbox.wait_for_older`). A vote taken over from a killed process is thus
applied before the Undo the person sent after the restart, never after it (which would count
the vote again). Photos keep no order: each is a sample of its own, several of one person's
are read at once (up to `bot.admission`'s share), and a tap never waits for a download.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import sqlite3
import time

from telegram import Bot, Update
from telegram.ext import Application

from bot.metrics import Metrics
from bot.postgres import DATABASE_ERRORS
from bot.store import InboxEntry, Store

log = logging.getLogger(__name__)

LEASE = 30.0  # seconds after its owner's last renewal that an open update may be taken over
RENEW_EVERY = 5.0  # seconds between a process's renewals of its own claims (and sweeps)
MAX_ATTEMPTS = 3  # an update started this many times without finishing is given up
KEPT_FOR = 24 * 3600.0  # seconds handled updates are kept, to recognise redeliveries
ORDER_POLL = 0.05  # seconds between looks at a person's older updates still open
ORDER_PATIENCE = LEASE + 3 * RENEW_EVERY  # an older update is taken over well within this


class Inbox:
    """The store's inbox as one process (`owner`) uses it."""

    def __init__(self, store: Store, owner: str, bot: Bot) -> None:
        self.store = store
        self.owner = owner
        self.bot = bot
        self.started = time.time()  # what `owner` claimed before this is from a previous life

    async def receive(self, update: Update) -> bool:
        """Keeps the update; False if it was received before and must be skipped."""
        user = update.effective_user
        entry = InboxEntry(
            bot_id=self.bot.id,
            update_id=update.update_id,
            user_id=None if user is None else user.id,
            payload=json.dumps(update.to_dict()),
        )
        return await self.store.inbox.receive(
            dataclasses.replace(entry, in_order=keeps_order(update)), self.owner
        )

    async def wait_for_older(self, update: Update) -> None:
        """Returns once no older update of the same person is open: handled, given up, or
        (after ORDER_PATIENCE, which a takeover needs at most) left to whoever holds it."""
        user = update.effective_user
        if user is None or not keeps_order(update):
            return
        deadline = time.monotonic() + ORDER_PATIENCE
        while await self.store.inbox.open_before(self.bot.id, user.id, update.update_id):
            if time.monotonic() > deadline:
                log.warning("update %d goes ahead of an older one still open", update.update_id)
                return
            await asyncio.sleep(ORDER_POLL)

    async def done(self, update: Update) -> None:
        await self.store.inbox.done(self.bot.id, update.update_id)

    async def orphans(self) -> list[Update]:
        """The open updates this process takes over (see the module docstring); renews its
        own claims after, so that those of a previous life are still recognised."""
        entries = await self.store.inbox.claim(
            self.owner, time.time() - LEASE, self.started, MAX_ATTEMPTS
        )
        await self.store.inbox.renew(self.owner)
        return [Update.de_json(json.loads(entry.payload), self.bot) for entry in entries]

    async def give_up(self) -> list[int]:
        """The ids of updates that died with their process MAX_ATTEMPTS times, now closed."""
        return await self.store.inbox.give_up(time.time() - LEASE, MAX_ATTEMPTS)

    async def prune(self) -> None:
        await self.store.inbox.prune(time.time() - KEPT_FOR)


def keeps_order(update: Update) -> bool:
    """Taps and text keep their person's order; photos (and image files) do not."""
    message = update.message
    return message is None or not (message.photo or message.document)


class DurableQueue(asyncio.Queue):
    """The application's update queue; with an inbox attached, `put` keeps each update in it
    first (and drops a redelivered one). PTB's own items (its stop signal) pass through."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.inbox: Inbox | None = None
        self.metrics = metrics

    async def put(self, item: object) -> None:
        if not isinstance(item, Update) or self.inbox is None:
            await super().put(item)
        elif await self.inbox.receive(item):
            self.metrics.updates_received.inc()
            await super().put(item)
        else:
            log.info("update %d was received before; not handled again", item.update_id)

    async def put_kept(self, update: Update) -> None:
        """Queues an update the inbox already holds (one taken over from a dead process)."""
        await super().put(update)


class DurableApplication(Application):
    """The Application, handling one person's updates in order and marking each done in the
    inbox once it has been handled."""

    async def process_update(self, update: object) -> None:
        inbox = getattr(self.update_queue, "inbox", None)
        if isinstance(update, Update) and inbox is not None:
            await inbox.wait_for_older(update)
        await super().process_update(update)
        self.bot_data.metrics.updates_handled.inc()
        if isinstance(update, Update) and inbox is not None:
            try:
                await inbox.done(update)
            except (sqlite3.Error, *DATABASE_ERRORS):  # handled; only a restart would repeat it
                log.warning("could not mark update %d handled", update.update_id, exc_info=True)


class InboxSweeper:
    """Hands the updates a dead process left open to this one's update queue: its own from
    before a restart at once, any other's once stale; renews this process's claims and
    forgets old handled updates meanwhile."""

    def __init__(self, app: Application, inbox: Inbox) -> None:
        self.app = app
        self.inbox = inbox
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Takes over this process's open updates from before a restart now, ahead of any new
        one (the application handles them as soon as it starts), then sweeps every while."""
        await self._sweep()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                await self._sweep()
            except Exception:  # a database hiccup: the next sweep tries again
                log.exception("the inbox sweep failed")

    async def _sweep(self) -> None:
        orphans = await self.inbox.orphans()
        if orphans:
            log.warning("handling %d updates a stopped process had received", len(orphans))
        queue = self.app.update_queue
        for update in orphans:
            await queue.put_kept(update)
        for update_id in await self.inbox.give_up():
            log.error(
                "gave up on update %d: its handling stopped %d times with its process; it is "
                "kept in the inbox table for a day",
                update_id,
                MAX_ATTEMPTS,
            )
        await self.inbox.prune()
