"""Stations' copy of the driver's ``location`` consent (``common.consents``), on its facts
about the driver; the visit history's retention reads it (stations.retention). A withdrawal
also withdraws the longer keeping of the visits already looked at."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import FACTS_AT, announced_after
from stations.retention import CONSENTED
from stations.store.checkins import CHECKINS
from stations.store.drivers import BASE, DRIVERS

PURPOSE = "location"
CONSENT_AT = "consents_at"


class LocationConsent:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._drivers = db[DRIVERS]
        self._checkins = db[CHECKINS]

    async def follow(self, driver_id: str, consents: dict[str, bool], at: datetime) -> None:
        if PURPOSE not in consents:
            return
        granted = consents[PURPOSE]
        # Newest answer wins: a dead letter replayed after a newer answer must not undo it.
        applied = await self._drivers.update_one(
            {"_id": driver_id, **announced_after(CONSENT_AT, at)},
            {"$set": {"consents.location": granted, CONSENT_AT: at}},
        )
        if not granted and applied.matched_count:
            # The declared base (the service circle's coverage) is location data too. Its
            # removal counts as an announcement of the base at ``at``: the grant that sent it
            # (older), replayed from a dead-letter queue, must not store it again. $max: a base
            # announced after this withdrawal keeps its own, newer time.
            await self._drivers.update_one(
                {"_id": driver_id},
                {"$unset": {BASE: ""}, "$max": {f"{FACTS_AT}.{BASE}": at}},
            )
            await self._checkins.update_many(
                {"driver_id": driver_id, CONSENTED: True}, {"$unset": {CONSENTED: ""}}
            )
