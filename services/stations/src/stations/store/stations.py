"""The ``stations`` collection: one document per station, its free capacity and who holds it.

Beds and parking spaces are kept as ``free.<resource>`` plus ``holders.<resource>`` (the
check-ins holding one). Taking one is a single conditional update: ``free >= 1`` and "this
check-in does not hold one yet" in the filter, ``$inc -1`` and ``$push`` in the update, so
concurrent check-ins can never overbook and a retried check-in never takes two.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once
from stations.domain import Resource, Station, StationExists
from stations.geography import CELL_PRECISIONS, CellQuery, cells_of

Document = dict[str, Any]

STATIONS = "stations"
RESOURCES: tuple[Resource, ...] = ("beds", "parking")

INDEXES = [
    Indexes(
        STATIONS,
        (
            *(IndexModel([(f"cells.p{p}", ASCENDING)], name=f"cell_p{p}") for p in CELL_PRECISIONS),
            IndexModel([("status", ASCENDING)], name="status"),
            # A 1+X+Y network: its hubs, and a hub's homes and posts.
            IndexModel([("network.level", ASCENDING)], name="network_level", sparse=True),
            IndexModel([("network.parent_id", ASCENDING)], name="network_parent", sparse=True),
        ),
    )
]

# Candidates for a nearby search need neither the holder lists nor the bookkeeping.
_LIGHT = {"holders": 0, "cells": 0}


def to_doc(station: Station) -> Document:
    doc = station.model_dump(mode="json", exclude={"station_id", "created_at", "updated_at"})
    doc.update(
        _id=station.station_id,
        cells=cells_of(station.location.lat, station.location.lng),
        holders={r: [] for r in RESOURCES},
        created_at=station.created_at,
        updated_at=station.updated_at,
    )
    return doc


def from_doc(doc: Document) -> Station:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "holders", "cells")}
    return Station.model_validate({**fields, "station_id": doc["_id"]})


class StationStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[STATIONS]

    async def insert(self, station: Station) -> None:
        if not await insert_once(self.collection, to_doc(station)):
            raise StationExists(f"station {station.station_id} already exists")

    async def get(self, station_id: str) -> Station | None:
        doc = await self.collection.find_one({"_id": station_id}, _LIGHT)
        return from_doc(doc) if doc else None

    async def set_fields(self, station_id: str, fields: Document, updated_at: datetime) -> bool:
        update = {**fields, "updated_at": updated_at}
        if "location" in fields:
            update["cells"] = cells_of(fields["location"]["lat"], fields["location"]["lng"])
        result = await self.collection.update_one({"_id": station_id}, {"$set": update})
        return result.matched_count == 1

    async def adjust_capacity(
        self, station_id: str, resource: Resource, delta: int, *, was: int
    ) -> bool:
        """Grow or shrink capacity from ``was`` (the capacity the change was computed from: two
        changes at once must not add up); shrinking never takes away a bed someone holds."""
        if delta == 0:
            return True
        result = await self.collection.update_one(
            {
                "_id": station_id,
                f"capacity.{resource}": was,
                f"free.{resource}": {"$gte": max(0, -delta)},
            },
            {"$inc": {f"capacity.{resource}": delta, f"free.{resource}": delta}},
        )
        return result.modified_count == 1

    async def take(self, station_id: str, resource: Resource, holder: str) -> bool:
        """Hold one unit for ``holder``; True also when it already holds one (a retry)."""
        result = await self.collection.update_one(
            {
                "_id": station_id,
                # Closed or retired between the check-in's look and this write: no unit.
                "status": "open",
                f"free.{resource}": {"$gte": 1},
                f"holders.{resource}": {"$ne": holder},
            },
            {"$inc": {f"free.{resource}": -1}, "$push": {f"holders.{resource}": holder}},
        )
        if result.modified_count == 1:
            return True
        return await self.holds(station_id, resource, holder)

    async def holds(self, station_id: str, resource: Resource, holder: str) -> bool:
        found = await self.collection.find_one(
            {"_id": station_id, f"holders.{resource}": holder}, {"_id": 1}
        )
        return found is not None

    async def release(self, station_id: str, resource: Resource, holder: str) -> bool:
        """Give back ``holder``'s unit; False when it holds none (already released)."""
        result = await self.collection.update_one(
            {"_id": station_id, f"holders.{resource}": holder},
            {"$inc": {f"free.{resource}": 1}, "$pull": {f"holders.{resource}": holder}},
        )
        return result.modified_count == 1

    async def held(self) -> list[tuple[str, Resource, str]]:
        """Every unit held, as (station, resource, holder)."""
        anyone = [{f"holders.{r}.0": {"$exists": True}} for r in RESOURCES]
        found: list[tuple[str, Resource, str]] = []
        async for doc in self.collection.find({"$or": anyone}, {"holders": 1}):
            for resource in RESOURCES:
                found.extend((doc["_id"], resource, h) for h in doc["holders"].get(resource, []))
        return found

    async def set_network(
        self, station_id: str, place: Document | None, updated_at: datetime
    ) -> bool:
        change: Document = (
            {"$set": {"network": place, "updated_at": updated_at}}
            if place is not None
            else {"$unset": {"network": ""}, "$set": {"updated_at": updated_at}}
        )
        result = await self.collection.update_one({"_id": station_id}, change)
        return result.matched_count == 1

    async def network_members(self, hub_id: str) -> list[Station]:
        """The homes and posts that belong to a hub, by id."""
        cursor = self.collection.find({"network.parent_id": hub_id}, _LIGHT).sort("_id", 1)
        return [from_doc(doc) async for doc in cursor]

    async def network_hubs(self) -> list[Station]:
        cursor = self.collection.find({"network.level": "hub"}, _LIGHT).sort("_id", 1)
        return [from_doc(doc) async for doc in cursor]

    async def candidates(self, query: CellQuery) -> list[Document]:
        """Stations in the query's cells (or all of them), retired ones left out."""
        selector: Document = {"status": {"$in": ["open", "temporarily_closed"]}}
        if query.cells is not None:
            selector[query.field] = {"$in": sorted(query.cells)}
        return await self.collection.find(selector, _LIGHT).to_list(None)

    async def page(self, *, filters: Document, after: str | None, limit: int) -> Sequence[Station]:
        selector = dict(filters)
        if after is not None:
            selector["_id"] = {"$gt": after}
        cursor = self.collection.find(selector, _LIGHT).sort("_id", ASCENDING).limit(limit)
        return [from_doc(doc) async for doc in cursor]
