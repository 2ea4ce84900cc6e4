"""The ``accounts`` collection: balance, history position and the grade of each driver.

Every change to a balance is one conditional update pinned to the account's ``seq`` (so the
``balance_after`` written to the entry is exact) that also records the entry as in flight in
``pending``; the entry id in ``pending`` is what makes a retried application a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import FACTS_AT, Indexes, announced_after
from common.outbox import push_outbox
from points.domain import OPENING_GRADE, Account

Document = dict[str, Any]

ACCOUNTS = "accounts"

INDEXES = [
    Indexes(
        ACCOUNTS,
        (
            IndexModel([("fleet", 1)], name="fleet"),
            IndexModel([("grid", 1)], name="grid"),
            IndexModel([("status", 1)], name="status"),
        ),
    )
]

_ACCOUNT_FIELDS = set(Account.model_fields)


def account_of(doc: Document) -> Account:
    fields = {k: v for k, v in doc.items() if k in _ACCOUNT_FIELDS}
    return Account.model_validate({**fields, "driver_id": doc["_id"]})


# When the registry announced the account's status last (a replayed older word changes nothing).
STATUS_AT = "status_at"


class AccountStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ACCOUNTS]

    async def open(
        self,
        driver_id: str,
        opened_at: datetime,
        *,
        fleet: str | None = None,
        grid: str | None = None,
        kind: str = "container_truck",
    ) -> Account:
        """Create the account if absent (an upsert, so a replay changes nothing)."""
        doc = await self.collection.find_one_and_update(
            {"_id": driver_id},
            {
                "$setOnInsert": {
                    "balance": 0,
                    "seq": 0,
                    "grade": OPENING_GRADE,
                    "status": "active",
                    "opened_at": opened_at,
                    "created_at": datetime.now(UTC),
                    "fleet": fleet,
                    "grid": grid,
                    "kind": kind,
                    "earned": {},
                    "debited": 0,
                    "sanctions": {},
                    "caps": {},
                    "pending": [],
                    "outbox": [],
                }
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:  # an upsert returning AFTER always has the document
            raise RuntimeError(f"account upsert returned nothing for {driver_id}")
        return account_of(doc)

    async def raw(self, driver_id: str) -> Document | None:
        return await self.collection.find_one({"_id": driver_id})

    async def get(self, driver_id: str) -> Account | None:
        doc = await self.raw(driver_id)
        return account_of(doc) if doc else None

    async def apply(
        self,
        driver_id: str,
        *,
        planned_on: Document,
        guard: Document,
        inc: dict[str, int],
        pending: Document,
        set_fields: dict[str, Any] | None = None,
        unset_fields: list[str] | None = None,
        outbox: list[Document] | None = None,
    ) -> bool:
        """The one conditional update that moves a balance; False if the account moved on.

        It is pinned to the ``seq`` and the ``status`` of the account document the change was
        planned on: a freeze or an erasure does not move ``seq``, and must still stop a
        change planned before it. ``guard``: what else the account must still hold (a minimum
        balance, the consent an award was planned on)."""
        query: Document = {
            "_id": driver_id,
            "seq": planned_on["seq"],
            "pending.id": {"$ne": pending["id"]},
        }
        if "status" in planned_on:
            query["status"] = planned_on["status"]
        query.update(guard)
        update: Document = {"$inc": {**inc, "seq": 1}, "$push": {"pending": pending}}
        if set_fields:
            update["$set"] = set_fields
        if unset_fields:
            update["$unset"] = dict.fromkeys(unset_fields, "")
        update = push_outbox(update, outbox or [])
        result = await self.collection.update_one(query, update)
        return result.modified_count == 1

    async def settle(self, driver_id: str, entry_id: str) -> None:
        await self.collection.update_one(
            {"_id": driver_id}, {"$pull": {"pending": {"id": entry_id}}}
        )

    async def settle_many(self, entries: dict[str, list[str]]) -> None:
        """:meth:`settle` for many entries (by driver) in one unordered bulk write."""
        if not entries:
            return
        await self.collection.bulk_write(
            [
                UpdateOne({"_id": driver_id}, {"$pull": {"pending": {"id": {"$in": ids}}}})
                for driver_id, ids in entries.items()
            ],
            ordered=False,
        )

    async def set_grouping(
        self, driver_id: str, values: dict[str, str | None], at: datetime
    ) -> list[str]:
        """Set each grouping field (``fleet``, ``grid``, ``kind``) the registry announced at
        ``at``; returns those set. One driver's events arrive in order, but a dead letter
        replayed later lands behind newer changes: each field replaces only an older
        announcement of it (``common.mongo.follow_newer``'s per-group times, here with the
        status too), and a closed account (erased) takes none, so a replay cannot put the
        grouping its erasure removed back. One update per field: an update names one or two."""
        stored: list[str] = []
        for name, value in values.items():
            stamp = f"{FACTS_AT}.{name}"
            result = await self.collection.update_one(
                {"_id": driver_id, "status": {"$ne": "closed"}, **announced_after(stamp, at)},
                {"$set": {name: value, stamp: at}},
            )
            if result.matched_count:
                stored.append(name)
        return stored

    async def set_status(
        self,
        driver_id: str,
        status: str,
        *,
        only_from: str | None = None,
        announced_at: datetime | None = None,
    ) -> bool:
        """Whether the status was set. ``announced_at``: the registry's time of the change,
        which then applies over an older one only (``common.mongo.announced_after``)."""
        query: Document = {"_id": driver_id, "status": {"$ne": "closed"}}
        if only_from is not None:
            query["status"] = only_from
        fields: Document = {"status": status}
        if announced_at is not None:
            query.update(announced_after(STATUS_AT, announced_at))
            fields[STATUS_AT] = announced_at
        return (await self.collection.update_one(query, {"$set": fields})).matched_count == 1

    async def set_grade(
        self, driver_id: str, *, seq: int, old: str, new: str, outbox: list[Document]
    ) -> bool:
        result = await self.collection.update_one(
            {"_id": driver_id, "seq": seq, "grade": old, "status": {"$ne": "closed"}},
            push_outbox({"$set": {"grade": new}}, outbox),
        )
        return result.modified_count == 1

    async def with_pending(self, limit: int = 200) -> list[Document]:
        cursor = self.collection.find({"pending.0": {"$exists": True}}).limit(limit)
        return [doc async for doc in cursor]

    async def ids(self, after: str | None, limit: int) -> list[str]:
        query: Document = {"_id": {"$gt": after}} if after else {}
        cursor = self.collection.find(query, {"_id": 1}).sort("_id", 1).limit(limit)
        return [doc["_id"] async for doc in cursor]
