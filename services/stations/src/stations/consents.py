"""Stations' copy of the driver's ``location`` consent (``common.consents``), on its facts
about the driver; the visit history's retention reads it (stations.retention). A withdrawal
also withdraws the longer keeping of the visits already looked at."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from stations.retention import CONSENTED
from stations.store.checkins import CHECKINS
from stations.store.drivers import DRIVERS

PURPOSE = "location"


class LocationConsent:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._drivers = db[DRIVERS]
        self._checkins = db[CHECKINS]

    async def follow(self, driver_id: str, consents: dict[str, bool], at: datetime) -> None:
        if PURPOSE not in consents:
            return
        granted = consents[PURPOSE]
        await self._drivers.update_one(
            {"_id": driver_id}, {"$set": {"consents.location": granted, "consents_at": at}}
        )
        if not granted:
            # The declared base (the service circle's coverage) is location data too.
            await self._drivers.update_one({"_id": driver_id}, {"$unset": {"base": ""}})
            await self._checkins.update_many(
                {"driver_id": driver_id, CONSENTED: True}, {"$unset": {CONSENTED: ""}}
            )
