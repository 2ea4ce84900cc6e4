"""The ``drivers`` collection: one document per driver, with its outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once
from registry.domain import Driver, DriverStatus

Document = dict[str, Any]

DRIVERS = "drivers"

INDEXES = [
    Indexes(
        DRIVERS,
        (
            # Sparse: an erased driver has no hash left, and many may be erased.
            IndexModel(
                [("national_id.hash", 1)], unique=True, sparse=True, name="national_id_hash_unique"
            ),
            IndexModel([("phone.hash", 1)], name="phone_hash"),
            IndexModel(
                [("national_id.partner_hashes", 1)], sparse=True, name="national_id_partner_hashes"
            ),
            IndexModel([("name", 1), ("_id", 1)], name="name"),
            IndexModel([("fleet_id", 1), ("_id", 1)], name="fleet"),
            IndexModel([("grid_id", 1), ("_id", 1)], name="grid"),
            IndexModel([("memberships.organisation_id", 1)], name="memberships"),
            IndexModel([("status", 1), ("_id", 1)], name="status"),
            IndexModel([("erasure", 1)], name="erasure", sparse=True),
            IndexModel([("link_codes.hash", 1)], name="link_codes", sparse=True),
        ),
    )
]

# Every field of a driver that is personal data: erasure removes all of them.
PERSONAL_FIELDS = (
    "name",
    "national_id",
    "phone",
    "home_province",
    "languages",
    "photo_ref",
    "base_location",
    "fleet_id",
    "fleet",
    "grid_id",
    "memberships",
    "family",
    "partner_links",
    "link_requests",
    "link_codes",
    "routes",
    "route_grid_ids",
    "census_answers",
)


@dataclass(frozen=True)
class DriverFilter:
    """What an operator searches by; every given criterion must hold."""

    driver_ids: list[str] | None = None
    # A value's hash under every key it may still be stored under (key rotation).
    phone_hash: list[str] | None = None
    national_id_hash: list[str] | None = None
    name_prefix: str | None = None
    fleet_id: str | None = None
    grid_id: str | None = None
    organisation_id: str | None = None
    status: DriverStatus | None = None
    partner_id: str | None = None
    not_verified_since: datetime | None = None
    grid_ids: list[str] | None = None
    organisation_ids: list[str] | None = None
    route_grid_id: str | None = None

    def query(self) -> Document:
        return self._who() | self._where()

    def _who(self) -> Document:
        """Criteria naming the driver: ids, personal keys, the name."""
        query: Document = {}
        if self.driver_ids is not None:
            # Equality on one id is a primary-key lookup on every store.
            ids = self.driver_ids
            query["_id"] = ids[0] if len(ids) == 1 else {"$in": ids}
        if self.phone_hash:
            query["phone.hash"] = {"$in": self.phone_hash}
        if self.national_id_hash:
            query["national_id.hash"] = {"$in": self.national_id_hash}
        if self.name_prefix:
            # A range rather than a regex: index-friendly, and nothing to escape.
            query["name"] = {"$gte": self.name_prefix, "$lt": self.name_prefix + "\U0010ffff"}
        return query

    def _where(self) -> Document:
        """Criteria placing the driver: groupings, status, partners, verification."""
        query: Document = self._groups()
        if self.status:
            query["status"] = self.status
        if self.partner_id:
            query["partner_links.partner_id"] = self.partner_id
        if self.not_verified_since is not None:
            query["$or"] = [
                {"last_verified_at": {"$exists": False}},
                {"last_verified_at": {"$lt": self.not_verified_since}},
            ]
        return query

    def _groups(self) -> Document:
        """Criteria naming the driver's units: fleet, grids, organisations, route grid."""
        query: Document = {}
        if self.fleet_id:
            query["fleet_id"] = self.fleet_id
        if self.grid_id:
            query["grid_id"] = self.grid_id
        elif self.grid_ids:
            query["grid_id"] = {"$in": self.grid_ids}
        if self.organisation_id:
            query["memberships.organisation_id"] = self.organisation_id
        elif self.organisation_ids:
            query["memberships.organisation_id"] = {"$in": self.organisation_ids}
        if self.route_grid_id:
            query["route_grid_ids"] = self.route_grid_id
        return query


def to_doc(driver: Driver) -> Document:
    doc = driver.model_dump(mode="python", exclude_none=True)
    doc["_id"] = doc.pop("driver_id")
    return doc


def from_doc(doc: Document) -> Driver:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "outbox", "erasure")}
    return Driver.model_validate({**fields, "driver_id": doc["_id"]})


class DriverStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[DRIVERS]

    async def insert_new(self, driver: Driver, outbox: list[Document]) -> bool:
        """Insert with its pending events; False when the national ID is already registered."""
        return await insert_once(self.collection, {**to_doc(driver), "outbox": outbox})

    async def insert_many_raw(self, docs: list[Document]) -> None:
        """Bulk load of prepared documents (demo data and benchmarks)."""
        await self.collection.insert_many(docs, ordered=False)

    async def by_id(self, driver_id: str) -> Driver | None:
        doc = await self.collection.find_one({"_id": driver_id})
        return from_doc(doc) if doc else None

    async def exists(self, driver_id: str) -> bool:
        return await self.collection.find_one({"_id": driver_id}, {"_id": 1}) is not None

    async def by_link_code(self, digest: str) -> Driver | None:
        doc = await self.collection.find_one({"link_codes.hash": digest}, {"outbox": 0})
        return from_doc(doc) if doc else None

    async def by_national_id_hash(
        self, digests: list[str], partner_hashes: Sequence[str] = ()
    ) -> Driver | None:
        """The driver whose ID number has one of these hashes (every key it may be stored
        under) or one of these partner hashes."""
        query: Document = {"national_id.hash": {"$in": digests}}
        if partner_hashes:
            partners = {"national_id.partner_hashes": {"$in": list(partner_hashes)}}
            query = {"$or": [query, partners]}
        doc = await self.collection.find_one(query)
        return from_doc(doc) if doc else None

    async def update(
        self,
        driver_id: str,
        *,
        when: Document | None = None,
        set_: Document | None = None,
        unset: list[str] | None = None,
        push: Document | None = None,
        pull: Document | None = None,
        outbox: list[Document] | None = None,
    ) -> bool:
        """One single-document update, with the events announcing it; False if not matched."""
        change: Document = {}
        if set_:
            change["$set"] = set_
        if unset:
            change["$unset"] = dict.fromkeys(unset, "")
        pushes = dict(push or {})
        if outbox:
            pushes["outbox"] = {"$each": outbox}
        if pushes:
            change["$push"] = pushes
        if pull:
            change["$pull"] = pull
        if not change:
            return True
        result = await self.collection.update_one({"_id": driver_id, **(when or {})}, change)
        return result.matched_count == 1

    async def search(self, where: DriverFilter, *, after: str | None, limit: int) -> list[Driver]:
        query = where.query()
        if after is not None:
            query = {"$and": [query, {"_id": {"$gt": after}}]} if query else {"_id": {"$gt": after}}
        cursor = self.collection.find(query, {"outbox": 0}).sort("_id", 1).limit(limit)
        return [from_doc(doc) async for doc in cursor]

    async def count_by_grid(self, where: DriverFilter) -> dict[str | None, int]:
        pipeline: list[Document] = [
            {"$match": where.query()},
            {"$group": {"_id": "$grid_id", "n": {"$sum": 1}}},
        ]
        return {
            row["_id"]: int(row["n"]) async for row in await self.collection.aggregate(pipeline)
        }

    async def pending_erasures(self) -> list[str]:
        return [
            doc["_id"] async for doc in self.collection.find({"erasure": "pending"}, {"_id": 1})
        ]
