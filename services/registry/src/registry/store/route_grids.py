"""The ``route_grids`` collection: nationwide corridors drivers join by declaring routes."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from registry.groups import RouteGrid

Document = dict[str, Any]

ROUTE_GRIDS = "route_grids"


def _from_doc(doc: Document) -> RouteGrid:
    return RouteGrid.model_validate({**doc, "route_grid_id": doc["_id"]})


class RouteGridStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ROUTE_GRIDS]

    async def insert(self, grid: RouteGrid) -> None:
        doc = grid.model_dump(mode="python")
        doc["_id"] = doc.pop("route_grid_id")
        await self.collection.insert_one(doc)

    async def get(self, route_grid_id: str) -> RouteGrid | None:
        doc = await self.collection.find_one({"_id": route_grid_id})
        return _from_doc(doc) if doc else None

    async def all(self) -> list[RouteGrid]:
        # A handful of corridors (Xuecheng has four): matching routes reads them all.
        return [_from_doc(doc) async for doc in self.collection.find({}).sort("_id", 1)]

    async def join_alliance(self, route_grid_id: str, organisation_id: str) -> bool:
        result = await self.collection.update_one(
            {"_id": route_grid_id}, {"$addToSet": {"alliance": organisation_id}}
        )
        return result.matched_count == 1

    async def leave_alliance(self, route_grid_id: str, organisation_id: str) -> bool:
        result = await self.collection.update_one(
            {"_id": route_grid_id}, {"$pull": {"alliance": organisation_id}}
        )
        return result.matched_count == 1
