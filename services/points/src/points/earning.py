"""What the earning use cases take: one fact that may earn points, not the Kafka envelope.

The earning handler translates an event into an :class:`Earning`; the parking and the review
hold keep the event as it arrived (``payload``: a hold given up is dead-lettered unchanged) and
read it back into an ``Earning`` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.events import CloudEvent
from common.idempotency import fingerprint
from points.domain import PointsError


class EventInFuture(PointsError):
    """Dated after points' clock by more than the allowed skew: never credited."""

    code = "event_in_future"


class CompensationAboveMaximum(PointsError):
    """A compensation larger than points will ever credit (forged or mistaken)."""

    code = "compensation_above_maximum"


@dataclass(frozen=True)
class Earning:
    driver_id: str
    source: str
    event_id: str
    event_type: str
    occurred_at: datetime
    data: dict[str, Any]
    fingerprint: str
    partner: bool
    payload: bytes

    @classmethod
    def of(cls, event: CloudEvent, *, partner: bool = False) -> Earning:
        return cls(
            driver_id=event.subject,
            source=event.source,
            event_id=event.id,
            event_type=event.type,
            occurred_at=event.time,
            data=dict(event.data),
            fingerprint=fingerprint(event),
            partner=partner,
            payload=event.to_bytes(),
        )

    @classmethod
    def stored(cls, payload: bytes, *, partner: bool) -> Earning:
        """An earning kept as its event's bytes (parked or held for review)."""
        return cls.of(CloudEvent.model_validate_json(payload), partner=partner)

    @property
    def key(self) -> str:
        """The cause, starting with the driver id (unique when sharded by driver)."""
        return f"{self.driver_id}\x1f{self.source}\x1f{self.event_id}"
