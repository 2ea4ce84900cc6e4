"""The ``lookups`` collection: which drivers hold a searchable value, keyed by ``_id``.

Why it exists: the local MongoDB stand-in (handbook section 1) uses an index only when a query's
fields are exactly those of a unique index, so a search by phone hash, name prefix, fleet or grid
scanned every driver (seconds at 100,000). One document per searched value instead, ``_id`` =
``"<kind>:<value>"`` with the matching driver ids in ``ids``, is found by ``_id`` on both stores
(an ``_id`` lookup on real MongoDB, where it costs one point read like a plain index would).

Kept with the driver document: the keys a driver is filed under are recomputed from the document
after every announced change (``DriverRecords.announce``) and the driver document records them in
``lookup_keys``, so the next sync knows what to take back. A search re-checks every candidate
against the full filter, so an entry left behind (a crash between two steps) costs time, never a
wrong answer; a missing one is what the order of writes avoids (see ``DriverRecords``).
Empty documents are deleted, guarded by their version ``v``, so an erased driver's name or phone
hash does not linger as a key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from common.mongo import Indexes, is_duplicate_key

Document = dict[str, Any]

LOOKUPS = "lookups"
KEYS_FIELD = "lookup_keys"
# Name prefixes filed up to this many characters (Chinese names are 2-4); a longer prefix is
# served by its first three characters and the rest checked on the candidates.
NAME_PREFIX_MAX = 3
STATUSES = ("active", "inactive", "deactivated")
_ATTEMPTS = 3
# Not a lookup key (no kind is "meta"): present once every stored driver has been filed.
FILED_MARK = "meta:filed"

INDEXES = [
    Indexes(
        LOOKUPS,
        # The version-guarded delete of an empty document ({_id, v}) is found by _id; the
        # unique (_id, v) index served it on the local store before it could.
        retired=("id_version",),
    )
]


def plates_key(driver_id: str) -> str:
    """A driver's plates (the ``ids`` of this document are plates, kept by the vehicles)."""
    return f"plates:{driver_id}"


def phone_key(digest: str) -> str:
    return f"phone:{digest}"


def national_id_key(digest: str) -> str:
    return f"nid:{digest}"


def name_key(prefix: str) -> str:
    return f"name:{prefix[:NAME_PREFIX_MAX]}"


def fleet_key(fleet_id: str) -> str:
    return f"fleet:{fleet_id}"


def grid_keys(grid_id: str, statuses: Iterable[str] = STATUSES) -> list[str]:
    """A grid's documents, one per status (the hot search is a grid's active drivers)."""
    return [f"grid:{grid_id}:{status}" for status in statuses]


def keys_of(doc: Document) -> list[str]:
    """Every key a stored driver document is filed under (none once erased)."""
    if doc.get("erased"):
        return []
    keys: list[str] = []
    national_id = doc.get("national_id") or {}
    for digest in [national_id.get("hash"), *national_id.get("partner_hashes", ())]:
        if digest:
            keys.append(national_id_key(digest))
    phone = (doc.get("phone") or {}).get("hash")
    if phone:
        keys.append(phone_key(phone))
    name = doc.get("name") or ""
    keys.extend(name_key(name[:n]) for n in range(1, min(len(name), NAME_PREFIX_MAX) + 1))
    if doc.get("fleet_id"):
        keys.append(fleet_key(doc["fleet_id"]))
    if doc.get("grid_id"):
        keys.extend(grid_keys(doc["grid_id"], [doc.get("status", "active")]))
    return sorted(set(keys))


# What keys_of reads: a sync fetches only these fields.
KEY_FIELDS = {
    "erased": 1,
    "national_id.hash": 1,
    "national_id.partner_hashes": 1,
    "phone.hash": 1,
    "name": 1,
    "fleet_id": 1,
    "grid_id": 1,
    "status": 1,
    KEYS_FIELD: 1,
}


class LookupStore:
    def __init__(self, db: AsyncDatabase[Document], drivers: str = "drivers") -> None:
        self.collection = db[LOOKUPS]
        self._drivers = db[drivers]

    async def add(self, driver_id: str, keys: Sequence[str]) -> None:
        """File a driver (or a plate) under ``keys`` (idempotent): one unordered bulk write."""
        await self.add_each({driver_id: keys})

    async def add_each(self, filings: Mapping[str, Sequence[str]]) -> None:
        """File each driver or plate under its keys, all in one unordered bulk write."""
        writes = [
            UpdateOne({"_id": key}, {"$addToSet": {"ids": value}, "$inc": {"v": 1}}, upsert=True)
            for value, keys in filings.items()
            for key in keys
        ]
        if writes:
            await self._upsert(writes)

    async def _upsert(self, writes: list[UpdateOne]) -> None:
        # Two upserts creating one document race on its _id; the loser's write is retried
        # (every write here is idempotent apart from the version, which only has to grow).
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                await self.collection.bulk_write(writes, ordered=False)
                return
            except BulkWriteError as exc:
                if attempt == _ATTEMPTS or not is_duplicate_key(exc):
                    raise

    async def sync(self, driver_id: str) -> None:
        """File a stored driver under the keys its document has now, and nowhere else.

        ``lookup_keys`` on the driver is recorded before an entry is added and cleared after it
        is removed, so every entry is named there (erasure finds them all); after its writes a
        sync reads again and repeats if the driver changed meanwhile, and takes back what it
        added itself and is no longer wanted (two syncs of one driver racing converge).
        """
        mine: set[str] = set()
        for _ in range(3):
            doc = await self._drivers.find_one({"_id": driver_id}, KEY_FIELDS)
            if doc is None:
                return
            wanted = set(keys_of(doc))
            recorded = set(doc.get(KEYS_FIELD) or ())
            stale = (recorded | mine) - wanted
            missing = wanted - recorded
            if not stale and not missing:
                return
            if missing:
                await self._drivers.update_one(
                    {"_id": driver_id}, {"$addToSet": {KEYS_FIELD: {"$each": sorted(missing)}}}
                )
                await self.add(driver_id, sorted(missing))
                mine |= missing
            if stale:
                await self.remove(driver_id, sorted(stale))
                await self._drivers.update_one(
                    {"_id": driver_id}, {"$pullAll": {KEYS_FIELD: sorted(stale)}}
                )
                mine -= stale

    async def remove(self, driver_id: str, keys: Sequence[str]) -> None:
        """Take a driver out of ``keys`` (idempotent); documents left empty are deleted."""
        if not keys:
            return
        await self.collection.bulk_write(
            [UpdateOne({"_id": k}, {"$pull": {"ids": driver_id}, "$inc": {"v": 1}}) for k in keys],
            ordered=False,
        )
        # Deleted only at the version seen empty: an entry added meanwhile keeps the document.
        empty = [
            DeleteOne({"_id": doc["_id"], "v": doc["v"]})
            async for doc in self.collection.find({"_id": {"$in": list(keys)}})
            if not doc.get("ids")
        ]
        if empty:
            await self.collection.bulk_write(empty, ordered=False)

    async def ids(self, keys: Sequence[str]) -> set[str]:
        """The drivers filed under any of ``keys`` (one ``_id`` lookup)."""
        return set().union(*(await self.ids_by_key(keys)).values())

    async def ids_by_key(self, keys: Sequence[str]) -> dict[str, list[str]]:
        """Each of ``keys`` that has drivers, with their ids (one ``_id`` lookup)."""
        if not keys:
            return {}
        cursor = self.collection.find({"_id": {"$in": sorted(set(keys))}}, {"v": 0})
        return {doc["_id"]: list(doc.get("ids", ())) async for doc in cursor}

    async def backfill(self) -> int:
        """File every driver stored before ``lookups`` existed (once: a mark says it ran)."""
        if await self.collection.find_one({"_id": FILED_MARK}, {"_id": 1}):
            return 0
        filed = 0
        async for doc in self._drivers.find({KEYS_FIELD: {"$exists": False}}, {"_id": 1}):
            await self.sync(doc["_id"])
            filed += 1
        async for vehicle in self.collection.database["vehicles"].find({}, {"driver_id": 1}):
            await self.add(vehicle["_id"], [plates_key(vehicle["driver_id"])])
        await self.mark_filed()
        return filed

    async def mark_filed(self) -> None:
        """Say every stored driver is filed (the backfill, or a bulk load into a new database)."""
        await self.collection.update_one({"_id": FILED_MARK}, {"$set": {"ids": []}}, upsert=True)

    async def load(self, drivers: Iterable[Document]) -> None:
        """File prepared driver documents in bulk (demo data and benchmarks): one write per key."""
        by_key: dict[str, list[str]] = defaultdict(list)
        for doc in drivers:
            for key in doc.get(KEYS_FIELD) or keys_of(doc):
                by_key[key].append(doc["_id"])
        if by_key:
            await self._upsert(
                [
                    UpdateOne(
                        {"_id": key},
                        {"$addToSet": {"ids": {"$each": ids}}, "$inc": {"v": 1}},
                        upsert=True,
                    )
                    for key, ids in by_key.items()
                ]
            )
