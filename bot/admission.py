"""Fair turns at reading photos, so that one contributor cannot stall everyone else.

Reading a photo (download, decode, backbone) is the bot's scarce work. `Admission` lets at
most `at_once` photos be read at the same time, across everyone, and at most `per_user` photos
of one contributor be waiting or read; a photo beyond that is turned away (`SlowDown`) before
it is even downloaded. When a turn frees up, it goes to the waiting contributor with the fewest
photos being read, then the one served least recently, then the longest waiting: someone with
photos already in flight waits behind someone sending their first, and contributors with many
photos take turns round-robin.

A flood could also be answered with a flood of replies, which would eat the bot's own sending
rate (Telegram allows about 30 messages a second in all) and so slow everyone's answers: the
"slow down" reply (`SlowDown.tell`) is given once per contributor in `quiet_for` seconds, and
`may_refuse` allows `refusals` replies to unreadable uploads per contributor in that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


class SlowDown(Exception):
    """A photo over its sender's share; `tell` says whether to say so (see the module)."""

    def __init__(self, tell: bool) -> None:
        super().__init__("too many photos waiting from one contributor")
        self.tell = tell


@dataclass(order=True)
class _Waiter:
    arrival: int
    user_id: int = field(compare=False)
    granted: asyncio.Future = field(compare=False)


class Admission:
    """See the module docstring; one instance per bot, used from its event loop only."""

    def __init__(
        self, per_user: int, at_once: int, quiet_for: float = 30.0, refusals: int = 3
    ) -> None:
        if per_user < 1 or at_once < 1:
            raise ValueError("per_user and at_once must be at least 1")
        self.per_user = per_user
        self.at_once = at_once
        self.quiet_for = quiet_for
        self.refusals = refusals
        self._refused: dict[int, deque[float]] = {}  # when each contributor was last refused
        self._reading: Counter[int] = Counter()  # photos being read, by contributor
        self._held: Counter[int] = Counter()  # photos waiting or being read, by contributor
        self._waiting: dict[int, deque[_Waiter]] = {}
        self._served: dict[int, int] = {}  # when each contributor holding photos last got a turn
        self._arrivals = itertools.count()
        self._last_told: dict[int, float] = {}

    @property
    def reading(self) -> int:
        return sum(self._reading.values())

    @contextlib.asynccontextmanager
    async def turn(self, user_id: int) -> AsyncIterator[None]:
        """Waits for this contributor's turn to read a photo; raises SlowDown over the share."""
        if self._held[user_id] >= self.per_user:
            raise SlowDown(self._should_tell(user_id))
        self._held[user_id] += 1
        try:
            await self._wait_for_turn(user_id)
        except BaseException:
            self._release_hold(user_id)
            raise
        try:
            yield
        finally:
            self._reading[user_id] -= 1
            self._release_hold(user_id)
            self._grant_next()

    async def _wait_for_turn(self, user_id: int) -> None:
        if self.reading < self.at_once and not self._waiting:
            self._start(user_id)
            return
        waiter = _Waiter(next(self._arrivals), user_id, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(user_id, deque()).append(waiter)
        try:
            await waiter.granted  # _grant_next counts it as reading before waking it
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self._reading[user_id] -= 1  # granted, then cancelled: hand the turn on
                self._grant_next()
            else:
                self._forget(waiter)
            raise

    def _grant_next(self) -> None:
        while self.reading < self.at_once and self._waiting:
            user_id = min(
                self._waiting,
                key=lambda u: (
                    self._reading[u],
                    self._served.get(u, -1),
                    self._waiting[u][0].arrival,
                ),
            )
            waiter = self._waiting[user_id].popleft()
            if not self._waiting[user_id]:
                del self._waiting[user_id]
            if waiter.granted.cancelled():  # its task is being cancelled: it will not read
                continue
            self._start(user_id)
            waiter.granted.set_result(None)

    def _start(self, user_id: int) -> None:
        self._reading[user_id] += 1
        self._served[user_id] = next(self._arrivals)

    def _forget(self, waiter: _Waiter) -> None:
        queue = self._waiting.get(waiter.user_id)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._waiting[waiter.user_id]

    def _release_hold(self, user_id: int) -> None:
        """Forgets a contributor's counts once they reach zero, so idle users cost nothing."""
        self._held[user_id] -= 1
        for counts in (self._held, self._reading):
            if counts[user_id] <= 0:
                counts.pop(user_id, None)
        if user_id not in self._held:
            self._served.pop(user_id, None)

    def may_refuse(self, user_id: int) -> bool:
        """Whether to answer this contributor's unreadable upload (see the module)."""
        now = time.monotonic()
        if len(self._refused) > 4096:  # many contributors: forget the long-quiet ones
            self._refused = {u: t for u, t in self._refused.items() if now - t[-1] < self.quiet_for}
        recent = self._refused.setdefault(user_id, deque())
        while recent and now - recent[0] >= self.quiet_for:
            recent.popleft()
        if len(recent) >= self.refusals:
            return False
        recent.append(now)
        return True

    def _should_tell(self, user_id: int) -> bool:
        now = time.monotonic()
        if now - self._last_told.get(user_id, -self.quiet_for) < self.quiet_for:
            return False
        if len(self._last_told) > 4096:  # many contributors: forget the long-quiet ones
            self._last_told = {u: t for u, t in self._last_told.items() if now - t < self.quiet_for}
        self._last_told[user_id] = now
        return True
