"""The ``station_visits`` collection: which station a driver checked in at, last when (from the
stations service's ``service.used.v1``), so that station's staff may read that driver."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes

Document = dict[str, Any]

STATION_VISITS = "station_visits"

INDEXES = [Indexes(STATION_VISITS, [IndexModel([("driver_id", ASCENDING)])])]


def _id(station_id: str, driver_id: str) -> str:
    return f"{station_id}|{driver_id}"


class StationVisitStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[STATION_VISITS]

    async def record(self, station_id: str, driver_id: str, at: datetime) -> None:
        # An upsert with $max: a redelivered or older event changes nothing.
        await self.collection.update_one(
            {"_id": _id(station_id, driver_id)},
            {"$set": {"station_id": station_id, "driver_id": driver_id}, "$max": {"last_at": at}},
            upsert=True,
        )

    async def visited(self, station_id: str, driver_id: str) -> bool:
        return await self.collection.find_one({"_id": _id(station_id, driver_id)}) is not None

    async def forget(self, station_id: str, driver_id: str) -> None:
        await self.collection.delete_one({"_id": _id(station_id, driver_id)})

    async def delete_of(self, driver_id: str) -> None:
        await self.collection.delete_many({"driver_id": driver_id})
