"""Units held for check-ins that were never stored.

A check-in takes its bed or parking space before it is stored (``stations.checkins``). A
process that dies between the two leaves the unit held by an id no check-out will ever name.
A kiosk's redelivery, or the app retrying with the same check-in id, takes that hold up again;
a retry that never comes would keep the unit from every later driver. Every round lists who
holds what, and a holder without a stored check-in is noted in ``orphan_holds``; one that is
still held and still without a check-in ``grace`` later gets its unit back. The grace is far
longer than a check-in takes between its two writes, so an attempt still in flight keeps its
unit. Idempotent, so every instance runs it (a release names its holder: only one succeeds).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from common.clock import Clock, utc_now
from common.logging import get_logger
from common.mongo import Indexes, is_duplicate_key
from stations.domain import Resource
from stations.store.checkins import CheckinStore
from stations.store.stations import StationStore

log = get_logger(__name__)

ORPHANS = "orphan_holds"
INDEXES = [Indexes(ORPHANS)]

Document = dict[str, Any]
Hold = tuple[str, Resource, str]


def _key(hold: Hold) -> str:
    station_id, resource, holder = hold
    return f"{station_id}\x1f{resource}\x1f{holder}"


class OrphanHolds:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        stations: StationStore,
        checkins: CheckinStore,
        *,
        grace: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._noted = db[ORPHANS]
        self._stations = stations
        self._checkins = checkins
        self._grace = grace
        self._clock = clock

    async def reconcile(self) -> int:
        """One round; returns the units given back."""
        now = self._clock()
        held = await self._stations.held()
        stored = await self._checkins.stored_among(sorted({h for _, _, h in held}))
        orphans = {_key(hold): hold for hold in held if hold[2] not in stored}
        noted = {d["_id"]: d async for d in self._noted.find({})}
        gone = [key for key in noted if key not in orphans]
        if gone:
            await self._noted.delete_many({"_id": {"$in": gone}})
        await self._note([(key, hold) for key, hold in orphans.items() if key not in noted], now)
        released = 0
        for key, hold in orphans.items():
            since = noted.get(key, {}).get("since")
            if since is not None and since <= now - self._grace:
                released += await self._give_back(hold)
                await self._noted.delete_one({"_id": key})
        return released

    async def _note(self, new: list[tuple[str, Hold]], now: datetime) -> None:
        if not new:
            return
        docs = [
            {"_id": key, "station_id": s, "resource": r, "holder": h, "since": now}
            for key, (s, r, h) in new
        ]
        try:
            await self._noted.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            # Another instance noted some first: its time stands.
            if not is_duplicate_key(exc):
                raise

    async def _give_back(self, hold: Hold) -> int:
        station_id, resource, holder = hold
        if not await self._stations.release(station_id, resource, holder):
            return 0
        # The check-in was stored after all, between the look and the release (a retry
        # arriving just then): it takes its unit again if one is free.
        if await self._checkins.stored_among([holder]):
            if not await self._stations.take(station_id, resource, holder):
                log.warning(
                    "a late check-in found no free unit again",
                    station_id=station_id,
                    resource=resource,
                    checkin_id=holder,
                )
            return 0
        log.warning(
            "unit given back: held for a check-in that was never stored",
            station_id=station_id,
            resource=resource,
            checkin_id=holder,
        )
        return 1
