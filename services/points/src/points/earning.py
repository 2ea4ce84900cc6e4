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
from common.events.cases import CaseCompensationGranted
from common.events.registry import DriverKind
from common.idempotency import fingerprint
from points.domain import Cause, Entry, PointsError, day_of, entry_id, month_of
from points.rules import Rule


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


@dataclass(frozen=True)
class RuleDecision:
    """The rules in force for an earning, the driver's kind, the rule chosen, the points it
    asks and the award entry to post (None when nothing is asked)."""

    rules: list[Rule]
    kind: DriverKind
    rule: Rule | None
    asked: int
    award: Entry | None


def award_entry(earning: Earning, rule: Rule, asked: int, now: datetime) -> Entry:
    """The award a rule gives for an earning, cut to the rule's maximum per event. Caps and
    expiry count from ``now``, when points records it: the time a sender writes into an event
    chooses the rule (campaign windows) but can neither multiply a daily cap nor postpone
    expiry."""
    requested = min(asked, rule.max_per_event)
    detail: dict[str, object] = {
        "requested": requested,
        "rule_name": rule.name,
        "cap_per_day": rule.cap_per_day,
        "cap_per_month": rule.cap_per_month,
        "max_per_event": rule.max_per_event,
        "earned_month": month_of(now),
        "cap_day": day_of(now),
    }
    if asked > requested:
        detail["asked"] = asked
    return Entry(
        entry_id=entry_id(earning.driver_id, "award", earning.source, earning.event_id),
        driver_id=earning.driver_id,
        kind="award",
        amount=requested,
        cause=Cause(
            source=earning.source,
            event_id=earning.event_id,
            event_type=earning.event_type,
            fingerprint=earning.fingerprint,
        ),
        rule_id=rule.rule_id,
        rule_version=rule.version,
        occurred_at=earning.occurred_at,
        created_at=now,
        detail=detail,
    )


def compensation_entry(earning: Earning, maximum: int, now: datetime) -> Entry:
    """The cases service's compensation: credited once per compensation id, no earning-rule
    caps, but never above ``maximum`` (the cases service's own, re-checked here: a forged or
    mistaken grant is dead-lettered, not credited)."""
    data = CaseCompensationGranted.model_validate(earning.data)
    if data.amount > maximum:
        raise CompensationAboveMaximum(
            f"{data.amount} points exceed the maximum compensation of {maximum}"
        )
    return Entry(
        entry_id=entry_id(earning.driver_id, "award", earning.source, data.compensation_id),
        driver_id=earning.driver_id,
        kind="award",
        amount=data.amount,
        cause=Cause(
            source=earning.source,
            event_id=earning.event_id,
            event_type=earning.event_type,
            fingerprint=earning.fingerprint,
            reason=f"case {data.case_id}: {data.kind}",
        ),
        rule_id="case-compensation",
        rule_version=1,
        occurred_at=data.granted_at,
        created_at=now,
        detail={
            "requested": data.amount,
            "earned_month": month_of(now),
            "cap_day": day_of(now),
            "rule_name": "Compensation granted by the cases service",
            "case_id": data.case_id,
            "compensation_id": data.compensation_id,
        },
    )
