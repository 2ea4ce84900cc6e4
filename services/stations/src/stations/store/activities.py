"""``activities`` (with their registrants) and ``attendances`` (each with its outbox).

A registration is one conditional update: ``seats_left >= 1`` and "not registered yet" in the
filter, ``$inc -1`` and ``$push`` in the update, so an activity is never overbooked and a
driver never holds two seats. A registered driver's attendance is marked on the activity
(``attended``) by an update that needs the registration, and a cancellation needs the driver
unmarked: whichever of the two lands first decides, so an attendance never keeps its points
while its seat goes back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.mongo import Indexes, insert_once
from common.outbox import OUTBOX_HIDDEN, outbox_fields
from stations.domain import Activity

Document = dict[str, Any]

ACTIVITIES = "activities"
ATTENDANCES = "attendances"
# One document per station and month: how many activities it scheduled (``n``).
ACTIVITY_QUOTAS = "activity_quotas"

INDEXES = [
    Indexes(
        ACTIVITIES,
        (IndexModel([("station_id", ASCENDING), ("starts_at", ASCENDING)], name="station"),),
    ),
    Indexes(
        ATTENDANCES,
        (IndexModel([("activity_id", ASCENDING)], name="activity"),),
    ),
]


def _from_doc(doc: Document) -> Activity:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "registrants", "attended")}
    return Activity.model_validate({**fields, "activity_id": doc["_id"]})


class ActivityStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ACTIVITIES]
        self.attendances = db[ATTENDANCES]
        self.quotas = db[ACTIVITY_QUOTAS]

    async def take_monthly_slot(self, station_id: str, month: str, limit: int) -> bool:
        """Count one more activity for the station's month; False once ``limit`` are taken.

        One conditional update, so stations scheduling at once never pass the limit together;
        at the limit the upsert collides with the existing document.
        """
        try:
            await self.quotas.update_one(
                {"_id": f"{station_id}@{month}", "n": {"$lt": limit}},
                {"$inc": {"n": 1}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def insert(self, activity: Activity) -> None:
        doc = activity.model_dump(mode="python", exclude={"activity_id"})
        doc.update(_id=activity.activity_id, registrants=[])
        await self.collection.insert_one(doc)

    async def get(self, activity_id: str) -> Activity | None:
        doc = await self.collection.find_one(
            {"_id": activity_id}, {"registrants": 0, "attended": 0}
        )
        return _from_doc(doc) if doc else None

    async def is_registered(self, activity_id: str, driver_id: str) -> bool:
        found = await self.collection.find_one(
            {"_id": activity_id, "registrants": driver_id}, {"_id": 1}
        )
        return found is not None

    async def registrants(self, activity_id: str) -> list[str]:
        doc = await self.collection.find_one({"_id": activity_id}, {"registrants": 1})
        return list((doc or {}).get("registrants", []))

    async def register(self, activity_id: str, driver_id: str) -> bool:
        """Take a seat; True also when the driver already has one."""
        result = await self.collection.update_one(
            {"_id": activity_id, "seats_left": {"$gte": 1}, "registrants": {"$ne": driver_id}},
            {"$inc": {"seats_left": -1}, "$push": {"registrants": driver_id}},
        )
        return result.modified_count == 1 or await self.is_registered(activity_id, driver_id)

    async def unregister(self, activity_id: str, driver_id: str) -> bool:
        """Give the seat back; False when the driver holds none or has attended."""
        result = await self.collection.update_one(
            {"_id": activity_id, "registrants": driver_id, "attended": {"$ne": driver_id}},
            {"$inc": {"seats_left": 1}, "$pull": {"registrants": driver_id}},
        )
        return result.modified_count == 1

    async def mark_attending(self, activity_id: str, driver_id: str) -> bool:
        """Mark a registered driver as attending (from then on they keep their seat); False
        when they are not registered (any more)."""
        result = await self.collection.update_one(
            {"_id": activity_id, "registrants": driver_id},
            {"$addToSet": {"attended": driver_id}},
        )
        return result.matched_count == 1

    async def has_attended(self, activity_id: str, driver_id: str) -> bool:
        found = await self.collection.find_one(
            {"_id": activity_id, "attended": driver_id}, {"_id": 1}
        )
        return found is not None

    async def upcoming(self, station_id: str, since: datetime, limit: int) -> list[Activity]:
        cursor = (
            self.collection.find(
                {"station_id": station_id, "ends_at": {"$gte": since}},
                {"registrants": 0, "attended": 0},
            )
            .sort([("starts_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [_from_doc(doc) async for doc in cursor]

    async def record_attendance(self, attendance: Document, outbox: list[Document]) -> bool:
        """False when this driver's attendance of this activity is already recorded."""
        return await insert_once(self.attendances, {**attendance, **outbox_fields(outbox)})

    async def attendance(self, attendance_id: str) -> Document | None:
        return await self.attendances.find_one({"_id": attendance_id}, OUTBOX_HIDDEN)

    async def attendees(self, activity_id: str, limit: int) -> list[Document]:
        """Who attended, first arrivals first (the ``activity`` index)."""
        cursor = (
            self.attendances.find({"activity_id": activity_id}, OUTBOX_HIDDEN)
            .sort([("attended_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]
