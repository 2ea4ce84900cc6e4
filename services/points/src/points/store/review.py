"""The ``held_for_review`` collection: earning events points will not credit on its own.

An event dated too long before points received it is held here until an operator approves
(credited then, as if received at that moment) or refuses it (never credited). Decided holds
stay, as the record of who decided what, and so that a redelivery of the same event is not
held, or offered for approval, a second time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes
from points.earning import Earning

Document = dict[str, Any]

HELD = "held_for_review"

HoldState = Literal["pending", "approved", "refused"]

INDEXES = [
    Indexes(
        HELD,
        (
            IndexModel([("state", 1), ("_id", 1)], name="state"),
            IndexModel([("driver_id", 1)], name="driver"),
        ),
    )
]


def hold_id(earning: Earning) -> str:
    # Opaque and stable: redeliveries name the same hold, and the id reveals no driver id.
    return f"hold_{uuid.uuid5(uuid.NAMESPACE_URL, earning.key).hex}"


@dataclass(frozen=True)
class Held:
    hold_id: str
    earning: Earning
    reason: str
    state: HoldState
    held_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


def _held(doc: Document) -> Held:
    return Held(
        hold_id=doc["_id"],
        earning=Earning.stored(bytes(doc["payload"]), partner=bool(doc["partner"])),
        reason=doc["reason"],
        state=doc["state"],
        held_at=doc["held_at"],
        decided_by=doc.get("decided_by"),
        decided_at=doc.get("decided_at"),
        note=doc.get("note"),
    )


class HeldForReview:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[HELD]

    async def hold(self, earning: Earning, *, reason: str, now: datetime) -> Held:
        """Hold the event once; a redelivery leaves the hold (and any decision) as it is."""
        await self.collection.update_one(
            {"_id": hold_id(earning)},
            {
                "$setOnInsert": {
                    "driver_id": earning.driver_id,
                    "payload": earning.payload,
                    "partner": earning.partner,
                    "reason": reason,
                    "state": "pending",
                    "held_at": now,
                },
            },
            upsert=True,
        )
        held = await self.get(hold_id(earning))
        if held is None:  # pragma: no cover - written just above
            raise RuntimeError("hold vanished")
        return held

    async def get(self, key: str) -> Held | None:
        doc = await self.collection.find_one({"_id": key})
        return _held(doc) if doc else None

    async def pending(self, *, after: str | None, limit: int) -> list[Held]:
        query: Document = {"state": "pending"}
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [_held(doc) async for doc in cursor]

    async def decide(
        self, key: str, state: HoldState, *, operator: str, note: str | None, now: datetime
    ) -> bool:
        """Record the decision once: False when the hold was already decided (or is unknown)."""
        result = await self.collection.update_one(
            {"_id": key, "state": "pending"},
            {"$set": {"state": state, "decided_by": operator, "decided_at": now, "note": note}},
        )
        return result.modified_count == 1
