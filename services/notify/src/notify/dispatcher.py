"""The background loop: releases held messages, sends external channels, starts broadcasts.

Every step claims its work with a conditional update or a lease, so several instances can run
it side by side; a crash leaves leases that simply run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from common.logging import get_logger
from notify.broadcasts import Broadcasts
from notify.delivery import Delivery

log = get_logger(__name__)

_PURGE_EVERY_SECONDS = 600.0


class Dispatcher:
    def __init__(self, delivery: Delivery, broadcasts: Broadcasts, *, interval: float) -> None:
        self._delivery = delivery
        self._broadcasts = broadcasts
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._last_purge = 0.0

    async def run_once(self) -> None:
        for step in (
            self._delivery.release_held,
            self._delivery.send_due,
            self._broadcasts.start_due_broadcasts,
        ):
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store or broker away: the next pass tries again
                log.warning("dispatch step failed", step=step.__name__, error=type(exc).__name__)
        if time.monotonic() - self._last_purge > _PURGE_EVERY_SECONDS:
            self._last_purge = time.monotonic()
            with contextlib.suppress(Exception):
                await self._delivery.purge_rate_windows()

    async def _run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notify-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
