"""Broadcast fan-out work items: one per page of drivers, on notify's own Kafka topic.

The topic is internal to notify (not in the partner-facing catalogue); it is consumed with the
same delivery rules as every other topic, through ``EventConsumer.internal``.

A work item carries the facts the resolver read with its drivers (``facts``, ``read_at``), so
fanning a fresh page out does not read them again (issue 19: that read was a third of the
store's work per inbox). Items without them (made before they existed) or older than
``broadcast_facts_fresh_seconds`` read the facts at fan-out as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.events import EventData
from notify.domain import DriverFacts

WORK_TOPIC = "notify.broadcasts"


class PageFacts(BaseModel):
    """What planning a page's inbox items and webhooks needs of its drivers' facts, one list per
    fact in the page's driver order (lists of strings parse several times faster than a model
    per driver): the fleet (webhook subscriptions per fleet) and the registered language. Not the
    drive: it holds only an SMS, and the facts of a driver an SMS would reach are read at fan-out
    (``Broadcasts``), so where drivers drive never travels on the topic."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    fleet: list[str | None]
    language: list[str | None]

    @classmethod
    def of(cls, drivers: list[dict[str, Any]]) -> PageFacts:
        return cls(
            fleet=[d.get("fleet") for d in drivers], language=[d.get("language") for d in drivers]
        )


class BroadcastBatch(EventData):
    event_type: ClassVar[str] = "notify.broadcast_batch.v1"

    broadcast_id: str
    batch_no: int = Field(ge=0)
    driver_ids: list[str] = Field(max_length=5000)
    # Each driver's facts as the resolver read them, in ``driver_ids`` order, and when the read
    # began: every driver of the page was active then.
    facts: PageFacts | None = None
    read_at: datetime | None = None

    @model_validator(mode="after")
    def _facts_match_drivers(self) -> Self:
        if self.facts is None:
            return self
        count = len(self.driver_ids)
        if {len(self.facts.fleet), len(self.facts.language)} != {count} or self.read_at is None:
            raise ValueError("facts must name every driver of the page, with read_at")
        return self

    def carried_facts(self, now: datetime, fresh_seconds: float) -> dict[str, DriverFacts] | None:
        """The page's facts by driver, if carried and read at most ``fresh_seconds`` ago."""
        if self.facts is None or self.read_at is None or fresh_seconds <= 0:
            return None
        # Either way: a read_at ahead of this clock by more than the bound is not trusted.
        if abs((now - self.read_at).total_seconds()) > fresh_seconds:
            return None
        return {
            # Validated, not model_construct: that is a hundred times slower in pydantic 2.14.
            driver_id: DriverFacts(driver_id=driver_id, fleet=fleet, language=language)
            for driver_id, fleet, language in zip(
                self.driver_ids, self.facts.fleet, self.facts.language, strict=True
            )
        }
