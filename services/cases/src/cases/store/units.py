"""What cases learns of the registry's district from ``registry.events`` (never by asking the
registry): each driver's grid, organisations and route grids, and the organisation and grid
trees, so a case list can target a subtree or a route grid (issue 16).

Each fact is kept with the time the registry announced it (``facts_at``) and only replaces an
older announcement: a dead letter replayed after newer changes must not put a driver back in an
organisation they left, nor move a unit back under its former parent."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, follow_newer

Document = dict[str, Any]
UnitKind = Literal["grid", "organisation"]

DRIVER_UNITS = "driver_units"
UNIT_TREE = "unit_tree"
INDEXES = [
    Indexes(
        DRIVER_UNITS,
        [
            IndexModel([("grid", ASCENDING)]),
            IndexModel([("organisations", ASCENDING)]),
            IndexModel([("route_grids", ASCENDING)]),
        ],
    ),
    Indexes(UNIT_TREE, [IndexModel([("kind", ASCENDING), ("ancestor_ids", ASCENDING)])]),
]
# The driver fact each unit kind is matched on.
_FIELDS = {"grid": "grid", "organisation": "organisations", "route_grid": "route_grids"}


class DistrictUnits:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.drivers = db[DRIVER_UNITS]
        self.tree = db[UNIT_TREE]

    async def note(self, driver_id: str, facts: Document, at: datetime) -> None:
        """Each fact (``grid``, ``organisations``, ``route_grids``) as announced at ``at``; one
        the registry changed since is left as it is, the others still apply."""
        # A removed grid stays stored as None, as readers have always found it.
        groups = {name: {name: value} for name, value in facts.items()}
        await follow_newer(self.drivers, driver_id, groups, at, upsert=True, unset_none=False)

    async def place(
        self,
        kind: UnitKind,
        unit_id: str,
        ancestor_ids: list[str],
        at: datetime,
        org_kind: str | None = None,
    ) -> None:
        # An organisation's own kind (party branch, union...) tells party life its branches.
        facts = {"kind": kind, "unit_id": unit_id, "ancestor_ids": ancestor_ids}
        if org_kind is not None:
            facts["org_kind"] = org_kind
        # One group: a unit's parent and its kind come in one announcement; the newest wins.
        await follow_newer(
            self.tree, f"{kind}:{unit_id}", {"placement": facts}, at, upsert=True, unset_none=False
        )

    async def organisations_of(self, driver_id: str) -> list[str]:
        doc = await self.drivers.find_one({"_id": driver_id}, {"organisations": 1})
        return list((doc or {}).get("organisations") or [])

    async def org_kinds(self, organisation_ids: list[str]) -> dict[str, str]:
        """The kind of each organisation known (placed since kinds were kept)."""
        ids = [f"organisation:{o}" for o in organisation_ids]
        cursor = self.tree.find({"_id": {"$in": ids}}, {"unit_id": 1, "org_kind": 1})
        return {doc["unit_id"]: doc.get("org_kind", "") async for doc in cursor}

    async def drivers_in(self, kind: str, unit_id: str, *, subtree: bool) -> list[str]:
        """Drivers of a grid, organisation or route grid (grids and organisations: with
        every unit below when ``subtree``)."""
        units = [unit_id]
        if subtree and kind in ("grid", "organisation"):
            below = self.tree.find({"kind": kind, "ancestor_ids": unit_id}, {"unit_id": 1})
            units += [doc["unit_id"] async for doc in below]
        cursor = self.drivers.find({_FIELDS[kind]: {"$in": units}}, {"_id": 1})
        return [doc["_id"] async for doc in cursor]
