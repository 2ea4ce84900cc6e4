"""The background loop: releases held messages, sends external channels, starts broadcasts.

Every step claims its work with a conditional update or a lease, so several instances can run
it side by side; a crash leaves leases that simply run out.
"""

from __future__ import annotations

from common.periodic import Periodic
from notify.broadcasts import Broadcasts
from notify.delivery import Delivery

_PURGE_EVERY_SECONDS = 600.0


class Dispatcher:
    def __init__(self, delivery: Delivery, broadcasts: Broadcasts, *, interval: float) -> None:
        steps = (delivery.release_held, delivery.send_due, broadcasts.start_due_broadcasts)
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
