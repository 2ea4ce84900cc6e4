"""The ``station_awards`` collection: activity attendances each station got credited per month.

One document per station and month lists the attendance events counted, up to the threshold,
so a redelivered event is recognised rather than counted twice, and a slot is taken by one
conditional update (two instances never both take the last one). Each take moves the document's
version ``v`` on, so an erasure's rewrite of the events (they start with the driver's id) is
written only over the list it read.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]

STATION_AWARDS = "station_awards"
# When the document's month ends (points.retention purges it a while after).
MONTH_ENDS = "month_ends"


def month_end(month: str) -> datetime:
    """The first instant (UTC) after the month ``YYYY-MM``."""
    year, number = (int(part) for part in month.split("-"))
    return datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)


def renamed_events(doc: Document, driver_id: str, anon: str) -> Document:
    """The document with the driver's events (keys starting with the driver's id) under the
    pseudonym, each still its own: the count and the other drivers' events stay."""
    mine = f"{driver_id}\x1f"
    events = [f"{anon}\x1f{e[len(mine) :]}" if e.startswith(mine) else e for e in doc["events"]]
    return {**doc, "events": events}


class StationAwards:
    def __init__(self, db: AsyncDatabase[Document], *, per_month: int) -> None:
        self.collection = db[STATION_AWARDS]
        self.per_month = per_month

    async def take(self, station_id: str, month: str, event_key: str) -> bool:
        """True when the event is (or already was) within the station's monthly threshold."""
        key = f"{station_id}@{month}"
        # Full, or counted already, the upsert collides with the existing document: the read
        # below tells which.
        with suppress(DuplicateKeyError):
            await self.collection.update_one(
                {"_id": key, "n": {"$lt": self.per_month}, "events": {"$ne": event_key}},
                {
                    "$inc": {"n": 1, "v": 1},
                    "$push": {"events": event_key},
                    "$setOnInsert": {MONTH_ENDS: month_end(month)},
                },
                upsert=True,
            )
        counted = await self.collection.find_one({"_id": key, "events": event_key}, {"_id": 1})
        return counted is not None

    async def has_room(self, station_id: str, month: str, event_key: str) -> bool:
        """Whether ``take`` would count the event now, read without taking a slot (the rule
        simulator's question)."""
        key = f"{station_id}@{month}"
        doc = await self.collection.find_one({"_id": key}, {"n": 1, "events": 1})
        if doc is None:
            return True
        return event_key in doc.get("events", []) or int(doc.get("n", 0)) < self.per_month
