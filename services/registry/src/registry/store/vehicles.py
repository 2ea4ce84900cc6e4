"""The ``vehicles`` collection, keyed by plate: a plate's one document names its one holder."""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo import DeleteOne, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, is_duplicate_key
from registry.domain import Vehicle
from registry.store.lookups import LookupStore, plates_key

Document = dict[str, Any]

VEHICLES = "vehicles"

INDEXES = [
    Indexes(
        VEHICLES,
        (
            IndexModel([("driver_id", 1)], name="driver"),
            IndexModel([("pass_expires_on", 1), ("_id", 1)], name="pass_expiry", sparse=True),
        ),
        # A plate's claim, release and pass update ({_id, driver_id}, {_id, holder_active}) are
        # found by _id; these unique copies of _id served them on the local store before.
        retired=("plate_holder", "plate_active"),
    )
]


def to_doc(vehicle: Vehicle) -> Document:
    doc = vehicle.model_dump(mode="python", exclude_none=True)
    doc["_id"] = doc.pop("plate")
    if vehicle.pass_expires_on is not None:
        # ISO dates compare correctly as strings, and BSON has no date-only type.
        doc["pass_expires_on"] = vehicle.pass_expires_on.isoformat()
    return doc


def _from_doc(doc: Document) -> Vehicle:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return Vehicle.model_validate({**fields, "plate": doc["_id"]})


def plate_filing(vehicle: Vehicle) -> tuple[str, list[str]]:
    """The plate and the lookup key it is listed under: its driver's plates."""
    return vehicle.plate, [plates_key(vehicle.driver_id)]


class VehicleStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[VEHICLES]
        self.lookups = LookupStore(db)

    async def claim(self, vehicle: Vehicle, *, listed: bool = False) -> Vehicle | None:
        """Hold the plate for ``vehicle.driver_id`` if it is free, already theirs, or its holder
        is no longer active; None when another active driver holds it. ``listed``: the caller
        has just listed the plate under the driver (:func:`plate_filing`).

        Three single-document steps, each keyed by an index on both stores: insert (a free
        plate), update where it is already theirs, update where its holder is inactive.
        """
        doc = to_doc(vehicle)
        added_at = doc.pop("added_at")
        doc.pop("_id")
        # Listed under its driver first: a crash leaves a plate listed that the driver does not
        # hold (reads check the holder), never a held plate missing from the list.
        plate, filed = plate_filing(vehicle)
        if not listed:
            await self.lookups.add_each({plate: filed})
        for _ in range(2):  # a plate released between the steps is inserted on the next round
            try:
                await self.collection.insert_one(
                    {"_id": vehicle.plate, **doc, "added_at": added_at}
                )
                return vehicle
            except Exception as exc:
                if not is_duplicate_key(exc):
                    raise
            for holder in ({"driver_id": vehicle.driver_id}, {"holder_active": False}):
                stored = await self.collection.find_one_and_update(
                    {"_id": vehicle.plate, **holder},
                    {"$set": doc},
                    return_document=ReturnDocument.AFTER,
                )
                if stored is not None:
                    return _from_doc(stored)
        await self.lookups.remove(plate, filed)
        return None

    async def take_over(self, vehicle: Vehicle, *, from_driver: str) -> bool:
        """Move a plate held by a driver who does not exist (a registration that crashed)."""
        doc = to_doc(vehicle)
        doc.pop("_id")
        await self.lookups.add(vehicle.plate, [plates_key(vehicle.driver_id)])
        result = await self.collection.update_one(
            {"_id": vehicle.plate, "driver_id": from_driver}, {"$set": doc}
        )
        return result.modified_count == 1

    async def get(self, plate: str) -> Vehicle | None:
        doc = await self.collection.find_one({"_id": plate})
        return _from_doc(doc) if doc else None

    async def of_driver(self, driver_id: str) -> list[Vehicle]:
        return (await self.of_drivers([driver_id]))[driver_id]

    async def of_drivers(self, driver_ids: list[str]) -> dict[str, list[Vehicle]]:
        """Each driver's plates, oldest first: the lists in ``lookups``, then the plates by
        ``_id``, each kept only if it still names that driver."""
        out: dict[str, list[Vehicle]] = {d: [] for d in driver_ids}
        plates = await self.lookups.ids([plates_key(d) for d in driver_ids])
        if plates:
            cursor = self.collection.find({"_id": {"$in": sorted(plates)}}).sort("added_at", 1)
            async for doc in cursor:
                if doc.get("driver_id") in out:
                    out[doc["driver_id"]].append(_from_doc(doc))
        return out

    async def update_pass(
        self, plate: str, driver_id: str, pass_number: str | None, expires_on: date | None
    ) -> bool:
        change: Document = {"pass_number": pass_number}
        change["pass_expires_on"] = expires_on.isoformat() if expires_on else None
        result = await self.collection.update_one(
            {"_id": plate, "driver_id": driver_id}, {"$set": change}
        )
        return result.matched_count == 1

    async def release(self, plate: str, driver_id: str) -> bool:
        result = await self.collection.delete_one({"_id": plate, "driver_id": driver_id})
        await self.lookups.remove(plate, [plates_key(driver_id)])
        return result.deleted_count == 1

    async def _listed(self, driver_id: str) -> list[str]:
        """The plates listed under a driver: every plate it holds (listed before it is claimed)
        and maybe some it no longer does, which the ``{_id, driver_id}`` filters skip."""
        return sorted(await self.lookups.ids([plates_key(driver_id)]))

    async def set_holder_active(self, driver_id: str, active: bool) -> None:
        # Per plate by {_id, driver_id} (the plate_holder index), not one update_many by
        # driver_id, which the local stand-in serves by scanning every vehicle.
        plates = await self._listed(driver_id)
        if plates:
            await self.collection.bulk_write(
                [
                    UpdateOne(
                        {"_id": p, "driver_id": driver_id}, {"$set": {"holder_active": active}}
                    )
                    for p in plates
                ],
                ordered=False,
            )

    async def forget_driver(self, driver_id: str) -> int:
        plates = await self._listed(driver_id)
        deleted = 0
        if plates:
            result = await self.collection.bulk_write(
                [DeleteOne({"_id": p, "driver_id": driver_id}) for p in plates], ordered=False
            )
            deleted = result.deleted_count
        await self.lookups.collection.delete_one({"_id": plates_key(driver_id)})
        return deleted

    async def passes_due(
        self, by: date, *, after: tuple[str, str] | None, limit: int
    ) -> list[Vehicle]:
        """Active holders' passes expiring on or before ``by``, soonest first."""
        query: Document = {"holder_active": True, "pass_expires_on": {"$lte": by.isoformat()}}
        if after is not None:
            expiry, plate = after
            query["$or"] = [
                {"pass_expires_on": {"$gt": expiry}},
                {"pass_expires_on": expiry, "_id": {"$gt": plate}},
            ]
        cursor = self.collection.find(query).sort([("pass_expires_on", 1), ("_id", 1)]).limit(limit)
        return [_from_doc(doc) async for doc in cursor]
