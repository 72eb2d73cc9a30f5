"""`/readyz`: whether this process is fit to serve, and if not, why, in words an operator can
act on. `/healthz` only says the process answers HTTP; this looks behind it."""

from __future__ import annotations

import asyncio
import time

from bot.desk.desk import Desk

STORE_TIMEOUT = 2.0  # seconds the store gets to answer `SELECT 1`
BEHIND_AFTER = 30.0  # seconds an event may wait for the model before it counts as behind
STUCK_AFTER = 120.0  # seconds an update may stay open before the inbox counts as stuck


async def problems(desk: Desk | None, now: float | None = None) -> list[str]:
    """What stops this process from serving well; empty when it is ready.

    An event or update in flight for a moment is normal (a vote is committed, then applied);
    only one left waiting past BEHIND_AFTER or STUCK_AFTER is a problem.
    """
    if desk is None:
        return ["starting: the store is not open yet"]
    now = time.time() if now is None else now
    try:
        await asyncio.wait_for(desk.store.ping(), STORE_TIMEOUT)
    except Exception as error:  # whatever the driver raises: the answer is the same
        return [f"the store does not answer: {type(error).__name__}: {error}"]
    found = []
    stall = desk.journal.stall
    if stall is not None:
        found.append(f"the model stopped at event {stall.event_id} ({stall.kind}): {stall.error}")
    lag, oldest = await desk.store.events.waiting(desk.service.last_event_id)
    if oldest is not None and now - oldest > BEHIND_AFTER:
        found.append(
            f"the model is {lag} events behind the journal; the oldest has waited "
            f"{now - oldest:.0f} s"
        )
    open_updates, received = await desk.store.inbox.open_since()
    if received is not None and now - received > STUCK_AFTER:
        found.append(
            f"{open_updates} updates are open; the oldest arrived {now - received:.0f} s ago"
        )
    return found
