"""The ``drivers`` collection: one document per driver, with its outbox."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once
from common.outbox import OUTBOX_HIDDEN, outbox_fields, push_outbox
from registry.domain import Driver, DriverStatus
from registry.store import lookups
from registry.store.lookups import KEYS_FIELD, LookupStore

Document = dict[str, Any]

DRIVERS = "drivers"
# A ``lookups`` document listing the drivers whose erasure may be unfinished (found by _id at
# start-up instead of scanning drivers for ``erasure: pending``), and the mark that drivers
# marked pending before the list existed have been listed.
ERASING = "meta:erasing"
ERASING_LISTED = "meta:erasing-listed"

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
        # The conditional updates (a change to a driver not erased, a merge at the version
        # read, a deactivation at the status read) are found by _id; these unique copies of
        # _id served them on the local store before it could.
        retired=("id_erased", "id_updated", "id_status", "id_status_erased"),
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

    def lookup_keys(self) -> list[list[str]]:
        """The ``lookups`` keys serving this filter, one list per criterion (a driver is a
        candidate when it is filed under a key of every list); empty when none applies."""
        kinds: list[list[str]] = []
        if self.phone_hash:
            kinds.append([lookups.phone_key(h) for h in self.phone_hash])
        if self.national_id_hash:
            kinds.append([lookups.national_id_key(h) for h in self.national_id_hash])
        if self.name_prefix:
            kinds.append([lookups.name_key(self.name_prefix)])
        if self.fleet_id:
            kinds.append([lookups.fleet_key(self.fleet_id)])
        grids = [self.grid_id] if self.grid_id else (self.grid_ids or [])
        if grids:
            statuses = [self.status] if self.status else lookups.STATUSES
            kinds.append([k for grid in grids for k in lookups.grid_keys(grid, statuses)])
        return kinds

    def matches(self, doc: Document) -> bool:
        """Whether a stored document meets the filter: ``query()`` evaluated here, for the
        candidates a lookup found (the stand-in would scan a query naming more than ``_id``)."""
        return all(check(doc) for check in self._checks())

    def _checks(self) -> list[Callable[[Document], bool]]:
        checks = self._group_checks()
        if self.driver_ids is not None:
            ids = set(self.driver_ids)
            checks.append(lambda d: d["_id"] in ids)
        if self.phone_hash:
            phones = set(self.phone_hash)
            checks.append(lambda d: _at(d, "phone", "hash") in phones)
        if self.national_id_hash:
            numbers = set(self.national_id_hash)
            checks.append(lambda d: _at(d, "national_id", "hash") in numbers)
        if self.name_prefix:
            prefix = self.name_prefix
            checks.append(lambda d: str(d.get("name") or "").startswith(prefix))
        if self.status:
            status = self.status
            checks.append(lambda d: d.get("status") == status)
        if self.partner_id:
            partner = self.partner_id
            checks.append(lambda d: partner in _each(d, "partner_links", "partner_id"))
        if self.not_verified_since is not None:
            since = self.not_verified_since
            checks.append(
                lambda d: d.get("last_verified_at") is None or d["last_verified_at"] < since
            )
        return checks

    def _group_checks(self) -> list[Callable[[Document], bool]]:
        checks: list[Callable[[Document], bool]] = []
        if self.fleet_id:
            fleet = self.fleet_id
            checks.append(lambda d: d.get("fleet_id") == fleet)
        grids = [self.grid_id] if self.grid_id else self.grid_ids
        if grids:
            grid_set = set(grids)
            checks.append(lambda d: d.get("grid_id") in grid_set)
        organisations = [self.organisation_id] if self.organisation_id else self.organisation_ids
        if organisations:
            wanted = set(organisations)
            checks.append(lambda d: bool(wanted & _each(d, "memberships", "organisation_id")))
        if self.route_grid_id:
            route = self.route_grid_id
            checks.append(lambda d: route in (d.get("route_grid_ids") or ()))
        return checks

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


def _at(doc: Document, field: str, sub: str) -> Any:
    value = doc.get(field)
    return value.get(sub) if isinstance(value, dict) else None


def _each(doc: Document, field: str, sub: str) -> set[Any]:
    return {item.get(sub) for item in doc.get(field) or () if isinstance(item, dict)}


def to_doc(driver: Driver) -> Document:
    """The stored form: no empty field (none, or an empty list or map) is stored, as
    :func:`from_doc` gives it its default and a query or an update treats an absent field as an
    empty one; a new driver is 14 fields instead of 24, and the store's work per registration
    falls with it (issue 19)."""
    doc = {
        k: v
        for k, v in driver.model_dump(mode="python", exclude_none=True).items()
        if v not in ([], {})
    }
    doc["_id"] = doc.pop("driver_id")
    return doc


def from_doc(doc: Document) -> Driver:
    fields = {
        k: v for k, v in doc.items() if k not in ("_id", "erasure", KEYS_FIELD, *OUTBOX_HIDDEN)
    }
    return Driver.model_validate({**fields, "driver_id": doc["_id"]})


class DriverStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[DRIVERS]
        self.lookups = LookupStore(db, DRIVERS)

    def filing(self, driver: Driver) -> tuple[str, list[str]]:
        """The driver's id and the lookup keys a new driver is filed under."""
        return driver.driver_id, lookups.keys_of(to_doc(driver))

    async def insert_new(
        self, driver: Driver, outbox: list[Document], *, filed: Sequence[str] = ()
    ) -> Document | None:
        """Insert with its pending events; the document as inserted, or None when the national
        ID is already registered. ``filed``: the keys the caller has just filed it under.

        Filed in ``lookups`` first: a crash in between leaves entries naming a driver that does
        not exist, which searches skip, never a stored driver that searches cannot find.
        """
        doc = to_doc(driver)
        doc[KEYS_FIELD] = lookups.keys_of(doc)
        doc.update(outbox_fields(outbox))
        unfiled = [key for key in doc[KEYS_FIELD] if key not in filed]
        if unfiled:
            await self.lookups.add(driver.driver_id, unfiled)
        try:
            inserted = await insert_once(self.collection, doc)
        except BaseException:
            await self.lookups.remove(driver.driver_id, doc[KEYS_FIELD])
            raise
        if not inserted:
            await self.lookups.remove(driver.driver_id, doc[KEYS_FIELD])
            return None
        return doc

    async def insert_many_raw(self, docs: list[Document]) -> None:
        """Bulk load of prepared documents (demo data and benchmarks), filed in ``lookups``."""
        for doc in docs:
            doc.setdefault(KEYS_FIELD, lookups.keys_of(doc))
        await self.lookups.load(docs)
        await self.collection.insert_many(docs, ordered=False)

    async def by_id(self, driver_id: str) -> Driver | None:
        doc = await self.collection.find_one({"_id": driver_id})
        return from_doc(doc) if doc else None

    async def exists(self, driver_id: str) -> bool:
        return await self.collection.find_one({"_id": driver_id}, {"_id": 1}) is not None

    async def by_link_code(self, digest: str) -> Driver | None:
        doc = await self.collection.find_one({"link_codes.hash": digest}, OUTBOX_HIDDEN)
        return from_doc(doc) if doc else None

    async def by_national_id_hash(
        self, digests: list[str], partner_hashes: Sequence[str] = ()
    ) -> Driver | None:
        """The driver whose ID number has one of these hashes (every key it may be stored
        under) or one of these partner hashes: found through ``lookups``, then checked."""
        keys = [lookups.national_id_key(h) for h in [*digests, *partner_hashes]]
        ids = sorted(await self.lookups.ids(keys))
        if not ids:
            return None
        partners = set(partner_hashes)
        async for doc in self.collection.find({"_id": {"$in": ids}}, OUTBOX_HIDDEN):
            record = doc.get("national_id") or {}
            if record.get("hash") in digests or partners & set(record.get("partner_hashes", ())):
                return from_doc(doc)
        return None

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
        if push:
            change["$push"] = dict(push)
        change = push_outbox(change, outbox or [])
        if pull:
            change["$pull"] = pull
        if not change:
            return True
        result = await self.collection.update_one({"_id": driver_id, **(when or {})}, change)
        return result.matched_count == 1

    async def search(self, where: DriverFilter, *, after: str | None, limit: int) -> list[Driver]:
        kinds = where.lookup_keys()
        if kinds or where.driver_ids is not None:
            return await self._search_candidates(where, kinds, after=after, limit=limit)
        query = where.query()
        if after is not None:
            query = {"$and": [query, {"_id": {"$gt": after}}]} if query else {"_id": {"$gt": after}}
        cursor = self.collection.find(query, OUTBOX_HIDDEN).sort("_id", 1).limit(limit)
        return [from_doc(doc) async for doc in cursor]

    async def _search_candidates(
        self, where: DriverFilter, kinds: list[list[str]], *, after: str | None, limit: int
    ) -> list[Driver]:
        """Candidates from ``lookups`` (and given ids), fetched by ``_id`` in id order and
        checked against the whole filter, until a page is full."""
        candidates = set(where.driver_ids) if where.driver_ids is not None else None
        if kinds:
            filed = await self.lookups.ids_by_key([k for kind in kinds for k in kind])
            for kind in kinds:
                ids = set().union(*(filed.get(k, ()) for k in kind))
                candidates = ids if candidates is None else candidates & ids
        ordered = sorted(c for c in candidates or () if after is None or c > after)
        found: list[Driver] = []
        step = max(limit, 50)
        for start in range(0, len(ordered), step):
            chunk = ordered[start : start + step]
            cursor = self.collection.find({"_id": {"$in": chunk}}, OUTBOX_HIDDEN).sort("_id", 1)
            found.extend([from_doc(doc) async for doc in cursor if where.matches(doc)])
            if len(found) >= limit:
                break
        return found[:limit]

    async def count_by_grid(self, where: DriverFilter) -> dict[str | None, int]:
        pipeline: list[Document] = [
            {"$match": where.query()},
            {"$group": {"_id": "$grid_id", "n": {"$sum": 1}}},
        ]
        return {
            row["_id"]: int(row["n"]) async for row in await self.collection.aggregate(pipeline)
        }

    async def erasing(self, driver_id: str) -> None:
        """List a driver as being erased: before ``erasure: pending`` is stored, so a crash
        leaves a listed driver that is not pending (skipped), never an unlisted pending one."""
        await self.lookups.add(driver_id, [ERASING])

    async def erased_fully(self, driver_id: str) -> None:
        """Clear the pending mark, then take the driver off the list."""
        await self.update(driver_id, unset=["erasure"])
        await self.lookups.remove(driver_id, [ERASING])

    async def pending_erasures(self) -> list[str]:
        """Listed drivers still marked pending (an ``_id`` lookup, no scan of drivers)."""
        if not await self.lookups.collection.find_one({"_id": ERASING_LISTED}, {"_id": 1}):
            # Once per database: pending erasures stored before the list existed.
            cursor = self.collection.find({"erasure": "pending"}, {"_id": 1})
            for driver_id in [doc["_id"] async for doc in cursor]:
                await self.lookups.add(driver_id, [ERASING])
            await self.lookups.collection.update_one(
                {"_id": ERASING_LISTED}, {"$set": {"ids": []}}, upsert=True
            )
        listed = sorted(await self.lookups.ids([ERASING]))
        if not listed:
            return []
        cursor = self.collection.find({"_id": {"$in": listed}}, {"erasure": 1})
        return [doc["_id"] async for doc in cursor if doc.get("erasure") == "pending"]
