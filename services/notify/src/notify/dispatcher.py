"""The background loop: releases held messages, sends external channels, starts broadcasts.

Every step claims its work with a conditional update or a lease, so several instances can run
it side by side; a crash leaves leases that simply run out.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from common.periodic import Periodic
from notify.broadcasts import Broadcasts
from notify.delivery import Delivery

_PURGE_EVERY_SECONDS = 600.0
# The most of the store's time each scan for due notifications may take (issue 19).
_SCAN_SHARE = 0.1


class Paced:
    """A lookup of due work run again only after ``1 / share`` times its own last duration.

    The lookups read the waiting notifications by their due mark and take milliseconds, so
    they run every round. They once scanned every notification on the local store (seconds at
    100,000 inboxes, and back to back they took the store from a broadcast's fan-out, issue 19);
    the pacing stays as a guard: a slow lookup waits longer (a 3 s one runs every 30 s at most),
    and a due message waits at most that long more."""

    def __init__(
        self,
        step: Callable[[], Awaitable[int]],
        *,
        share: float = _SCAN_SHARE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._step = step
        self._share = share
        self._clock = clock
        self._next = 0.0

    async def __call__(self) -> int:
        started = self._clock()
        if started < self._next:
            return 0
        try:
            return await self._step()
        finally:
            self._next = started + (self._clock() - started) / self._share


class Dispatcher:
    def __init__(self, delivery: Delivery, broadcasts: Broadcasts, *, interval: float) -> None:
        steps = (
            Paced(delivery.release_held),
            Paced(delivery.send_due),
            broadcasts.start_due_broadcasts,
        )
        self._loops = [
            Periodic("notify-dispatcher", interval, steps),
            Periodic("notify-rate-window-purge", _PURGE_EVERY_SECONDS, delivery.purge_rate_windows),
        ]

    def start(self) -> None:
        for loop in self._loops:
            loop.start()

    async def stop(self) -> None:
        for loop in self._loops:
            await loop.stop()
