"""Hardship visits (困难走访; docs/cases.md "Hardship visits"): care staff record a visit to a
driver's family - when, who went, what they found (kept in cases only) and what follows: nothing
more, an aid application or a case. The driver's visits sit beside their aid history.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase

from cases.domain import InvalidRequest
from cases.records import EVENT_SOURCE, TOPIC, aware, refuse_erased
from common.auth import Principal
from common.clock import Clock
from common.erased_drivers import ErasedDrivers
from common.events import new_event
from common.events.aid_campaigns import HardshipVisited
from common.outbox import (
    OUTBOX_HIDDEN,
    RelayRef,
    drop_outbox,
    outbox_entry,
    outbox_fields,
    publish_now,
)

Record = dict[str, Any]
VISITS = "aid_visits"


@dataclass(frozen=True)
class Visit:
    driver_id: str
    visited_on: date
    visitors: list[str]
    findings: str
    follow_up: Literal["none", "aid", "case"] = "none"


class HardshipVisits:
    def __init__(self, db: AsyncDatabase[Record], *, clock: Clock, relay: RelayRef) -> None:
        self.collection = db[VISITS]
        self._clock = clock
        self._relay = relay
        # The drivers this service erased (set when the erasure is wired).
        self.erased: ErasedDrivers | None = None

    async def record(self, principal: Principal, visit: Visit) -> Record:
        await refuse_erased(self.erased, visit.driver_id)
        now = aware(self._clock())
        if visit.visited_on > now.date():
            raise InvalidRequest("a visit is recorded after it took place")
        visit_id = f"V{now:%Y%m%d}-{uuid.uuid4().hex[:8]}"
        data = HardshipVisited(
            visit_id=visit_id,
            driver_id=visit.driver_id,
            visited_on=visit.visited_on,
            follow_up=visit.follow_up,
            recorded_at=now,
        )
        event = new_event(
            data, source=EVENT_SOURCE, subject=visit.driver_id, event_id=visit_id, time=now
        )
        doc: Record = {
            **data.model_dump(mode="json"),
            "_id": visit_id,
            "recorded_at": now,
            "recorded_by": principal.actor,
            "visitors": visit.visitors,
            "findings": visit.findings,
            **outbox_fields([outbox_entry(TOPIC, event)]),
        }
        await self.collection.insert_one(doc)
        await publish_now(self._relay, self.collection, visit_id)
        drop_outbox(doc)
        return doc

    async def of_driver(self, driver_id: str) -> list[Record]:
        cursor = self.collection.find({"driver_id": driver_id}, OUTBOX_HIDDEN)
        return [doc async for doc in cursor.sort("visited_on", -1).limit(100)]
