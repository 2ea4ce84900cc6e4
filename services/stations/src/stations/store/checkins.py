"""The ``checkins`` collection (each with its outbox) and ``use_windows`` (window dedupe)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once, is_duplicate_key
from common.outbox import OUTBOX_HIDDEN, outbox_fields
from stations.domain import Checkin

Document = dict[str, Any]

CHECKINS = "checkins"
WINDOWS = "use_windows"

INDEXES = [
    Indexes(
        CHECKINS,
        (
            IndexModel([("driver_id", ASCENDING), ("recorded_at", DESCENDING)], name="driver"),
            IndexModel([("station_id", ASCENDING), ("recorded_at", DESCENDING)], name="station"),
            # The life-cycle coverage figures read a month of uses.
            IndexModel([("used_at", ASCENDING)], name="used_at"),
        ),
    ),
    Indexes(WINDOWS),
]


def _from_doc(doc: Document) -> Checkin:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "fingerprint", *OUTBOX_HIDDEN)}
    return Checkin.model_validate({**fields, "checkin_id": doc["_id"]})


class CheckinStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[CHECKINS]
        self._windows = db[WINDOWS]

    async def insert(
        self, checkin: Checkin, outbox: list[Document], fingerprint: str | None = None
    ) -> Document | None:
        """Insert with its pending events; the document as inserted, or None when this
        check-in id is already recorded."""
        doc = checkin.model_dump(mode="python", exclude={"checkin_id"})
        doc.update(_id=checkin.checkin_id, fingerprint=fingerprint, **outbox_fields(outbox))
        return doc if await insert_once(self.collection, doc) else None

    async def get(self, checkin_id: str) -> Checkin | None:
        doc = await self.collection.find_one({"_id": checkin_id}, OUTBOX_HIDDEN)
        return _from_doc(doc) if doc else None

    async def stored_among(self, checkin_ids: list[str]) -> set[str]:
        """Which of these check-ins are stored."""
        found: set[str] = set()
        for start in range(0, len(checkin_ids), 1000):
            chunk = checkin_ids[start : start + 1000]
            async for doc in self.collection.find({"_id": {"$in": chunk}}, {"_id": 1}):
                found.add(doc["_id"])
        return found

    async def fingerprint_of(self, checkin_id: str) -> str | None:
        doc = await self.collection.find_one({"_id": checkin_id}, {"fingerprint": 1})
        return (doc or {}).get("fingerprint")

    async def mark_checked_out(self, checkin_id: str, at: datetime) -> Checkin | None:
        doc = await self.collection.find_one_and_update(
            {"_id": checkin_id, "checked_out_at": None},
            {"$set": {"checked_out_at": at}},
            projection=OUTBOX_HIDDEN,
            return_document=ReturnDocument.AFTER,
        )
        return _from_doc(doc) if doc else None

    async def page(
        self, *, filters: Document, after: dict[str, Any] | None, limit: int
    ) -> list[Checkin]:
        """Newest first, by ``(recorded_at, _id)``."""
        selector = dict(filters)
        if after is not None:
            at = datetime.fromisoformat(after["at"])
            selector["$or"] = [
                {"recorded_at": {"$lt": at}},
                {"recorded_at": at, "_id": {"$lt": after["id"]}},
            ]
        cursor = (
            self.collection.find(selector, OUTBOX_HIDDEN)
            .sort([("recorded_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [_from_doc(doc) async for doc in cursor]

    async def counted_uses(self, start: datetime, end: datetime) -> list[tuple[str, str]]:
        """(driver, service code) of every counted use in ``[start, end)``."""
        cursor = self.collection.find(
            {"used_at": {"$gte": start, "$lt": end}, "status": "counted"},
            {"driver_id": 1, "service_code": 1},
        )
        return [(doc["driver_id"], doc["service_code"]) async for doc in cursor]

    async def claim_window(
        self, key: str, used_at: datetime, window: timedelta, checkin_id: str
    ) -> bool:
        """Count this use unless another use of the same key lies within ``window`` of it.

        One conditional upsert: the filter matches only when the last counted use is at least a
        window away, so a concurrent twin hits the unique ``_id`` and counts as a duplicate.
        ``by`` lets a retried check-in recognise its own earlier claim.
        """
        try:
            await self._windows.update_one(
                {
                    "_id": key,
                    "$or": [
                        {"last": {"$lte": used_at - window}},
                        {"last": {"$gte": used_at + window}},
                    ],
                },
                {"$max": {"last": used_at}, "$set": {"by": checkin_id}},
                upsert=True,
            )
            return True
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
        current = await self._windows.find_one({"_id": key}, {"by": 1})
        return (current or {}).get("by") == checkin_id
