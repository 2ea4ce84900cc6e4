"""Which drivers were erased, without their ids: so late events about them change nothing.

Events about a driver travel on several topics; one announced before the erasure can arrive
after it (a points award reaching notify after the registry's erasure did), and a consumer
reset to its topic's earliest offset meets them all again. A service that would store such an
event's content wraps those handlers with :meth:`ErasedDrivers.skipping`. The collection keeps
only each erased driver's keyed pseudonym (``common.erasure``), and each process keeps them in
memory, read again every ``refresh_seconds``; what a handler stored about a driver another
replica erased within that is forgotten again at once (:meth:`ErasedDrivers.skipping`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.clock import utc_now
from common.dispatch import EventHandler
from common.events import CloudEvent, EventData
from common.logging import get_logger

log = get_logger(__name__)

ERASED_DRIVERS = "erased_drivers"
REFRESH_SECONDS = 30.0


class ErasedDrivers:
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        pseudonym: Callable[[str], str],
        *,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._collection = db[ERASED_DRIVERS]
        self._pseudonym = pseudonym
        self._refresh = refresh_seconds
        self._known: set[str] = set()
        self._read_at: float | None = None

    async def add(self, driver_id: str) -> None:
        anon = self._pseudonym(driver_id)
        self._known.add(anon)
        await self._collection.update_one(
            {"_id": anon}, {"$setOnInsert": {"erased_at": utc_now()}}, upsert=True
        )

    async def contains(self, driver_id: str) -> bool:
        now = time.monotonic()
        if self._read_at is None or now - self._read_at > self._refresh:
            self._known |= {d["_id"] async for d in self._collection.find({}, {"_id": 1})}
            self._read_at = now
        return self._pseudonym(driver_id) in self._known

    async def among(self, driver_ids: Sequence[str]) -> set[str]:
        """Which of ``driver_ids`` are erased, read from the store now (not the cached set): for
        work that names drivers without reading anything erasure deletes."""
        if not driver_ids:
            return set()
        by_pseudonym = {self._pseudonym(d): d for d in driver_ids}
        found = self._collection.find({"_id": {"$in": list(by_pseudonym)}}, {"_id": 1})
        return {by_pseudonym[d["_id"]] async for d in found}

    def skipping(
        self,
        handler: EventHandler,
        *,
        forget: Callable[[str], Awaitable[object]] | None = None,
    ) -> EventHandler:
        """``handler``, except for events about an erased driver (acknowledged, not handled).

        ``forget``: the service's erasure steps for one driver. The set in memory may be up to
        ``refresh_seconds`` old, and an erasure may land between the check and the handler's
        write; so after the handler the store is asked, and if the driver is erased by then
        what the handler stored is forgotten again. An erasure marks the driver before it runs
        its steps, so either its steps ran after the handler's write or this read sees it.
        """

        async def handle(event: CloudEvent, data: EventData) -> None:
            if await self.contains(event.subject):
                log.info("event about an erased driver skipped", type=event.type)
                return
            await handler(event, data)
            if forget is not None and await self.among([event.subject]):
                log.info("event about a driver erased meanwhile forgotten", type=event.type)
                self._known.add(self._pseudonym(event.subject))
                await forget(event.subject)

        return handle
