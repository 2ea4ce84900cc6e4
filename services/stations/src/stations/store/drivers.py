"""The ``drivers`` collection: the few facts about a driver this service needs.

Whether the registry knows the driver and whether they are active, their kind (truck, ride-
hailing, taxi), their coarse declared base when they consent to location (the service
circle's coverage), and where their last counted check-in was (for impossible-travel checks).
Nothing else: no name, ID or phone.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.events.registry import BaseLocation, DriverKind
from common.mongo import Indexes, announced_after, follow_newer
from stations.domain import LastSeen

Document = dict[str, Any]

DRIVERS = "drivers"
INDEXES = [Indexes(DRIVERS)]


# When the registry announced the driver's status last (a replayed older word changes nothing).
STATUS_AT = "status_at"
# The groups of facts followed by ``common.mongo.follow_newer`` (each with its own time in
# ``facts_at``); a location consent withdrawal stamps BASE too (stations.consents).
KIND, BASE = "kind", "base"


class DriverFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    driver_id: str
    active: bool
    kind: DriverKind | None = None
    last: LastSeen | None = None


class DriverStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[DRIVERS]

    async def get(self, driver_id: str) -> DriverFacts | None:
        doc = await self.collection.find_one({"_id": driver_id})
        if doc is None:
            return None
        return DriverFacts(
            driver_id=doc["_id"], active=doc["active"], kind=doc.get("kind"), last=doc.get("last")
        )

    async def registered(
        self, driver_id: str, at: datetime, kind: DriverKind, base: BaseLocation | None
    ) -> None:
        # $setOnInsert: a replayed registration never reactivates a deactivated driver.
        await self.collection.update_one(
            {"_id": driver_id},
            {
                "$setOnInsert": {
                    "active": True,
                    "registered_at": at,
                    "kind": kind,
                    "base": base.model_dump() if base else None,
                }
            },
            upsert=True,
        )

    async def changed(self, driver_id: str, facts: dict[str, Any], at: datetime) -> None:
        """Set the kind or the base the registry announced at ``at``; a None base is removed.
        A dead letter replayed after newer changes lands behind them: each group only
        replaces an older announcement of it."""
        groups = {group: {group: value} for group, value in facts.items()}
        if groups:
            await follow_newer(self.collection, driver_id, groups, at)

    async def bases(self) -> list[tuple[float, float]]:
        """The declared bases of active drivers who consent to location."""
        cursor = self.collection.find(
            {"active": True, "base": {"$ne": None}, "consents.location": {"$ne": False}},
            {"base": 1},
        )
        return [(d["base"]["lat"], d["base"]["lng"]) async for d in cursor if d.get("base")]

    async def active_count(self) -> int:
        return await self.collection.count_documents({"active": True})

    async def deactivated(self, driver_id: str, at: datetime, erase: bool) -> None:
        update: Document = {"$set": {"active": False, "deactivated_at": at, STATUS_AT: at}}
        if erase:
            # A location track is sensitive personal information: forget the last position
            # and the declared base. An erasure applies whenever it arrives.
            update["$unset"] = {"last": "", "base": ""}
            await self.collection.update_one({"_id": driver_id}, update, upsert=True)
            return
        with suppress(DuplicateKeyError):  # the driver is there with a newer status
            await self.collection.update_one(
                {"_id": driver_id, **announced_after(STATUS_AT, at)}, update, upsert=True
            )

    async def reactivated(self, driver_id: str, at: datetime) -> None:
        # One driver's events arrive in order, but a dead letter replayed later does not: a
        # reactivation older than the last status change changes nothing.
        await self.collection.update_one(
            {"_id": driver_id, **announced_after(STATUS_AT, at)},
            {"$set": {"active": True, "reactivated_at": at, STATUS_AT: at}},
        )

    async def saw(self, driver_id: str, judged_against: LastSeen | None, seen: LastSeen) -> bool:
        """Make ``seen`` the last use if the last use is still the one it was judged against;
        False when another use took its place meanwhile. An older use changes nothing."""
        if judged_against is not None and seen.at <= judged_against.at:
            return True
        pinned: Document = (
            {"last": None}
            if judged_against is None
            else {"last.at": judged_against.at, "last.station_id": judged_against.station_id}
        )
        result = await self.collection.update_one(
            {"_id": driver_id, **pinned}, {"$set": {"last": seen.model_dump(mode="python")}}
        )
        return result.matched_count == 1
