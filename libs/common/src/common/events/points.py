"""Events the points service announces on ``points.events``."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from common.events.base import EventData
from common.events.erasure import ErasureCompleted

Grade = Literal["AAA", "AA", "A"]


class PointsAwarded(EventData):
    event_type: ClassVar[str] = "points.awarded.v1"

    driver_id: str
    entry_id: str
    amount: int = Field(gt=0)
    balance_after: int = Field(ge=0)
    rule_id: str
    cause_source: str
    cause_id: str
    cause_type: str
    awarded_at: AwareDatetime


class EventParked(EventData):
    """An earning event is held because its driver has no active account (yet).

    Announced once per held event; it is applied when the account opens or thaws, or given up
    at ``parked_until`` (then it is dead-lettered on its own topic with reason
    ``driver_unknown`` or ``account_not_active``).
    """

    event_type: ClassVar[str] = "points.event_parked.v1"

    driver_id: str
    cause_source: str
    cause_id: str
    cause_type: str
    reason: Literal["driver_unknown", "account_not_active"]
    parked_at: AwareDatetime
    parked_until: AwareDatetime


class PointsRedeemed(EventData):
    event_type: ClassVar[str] = "points.redeemed.v1"

    driver_id: str
    entry_id: str
    amount: int = Field(gt=0)
    balance_after: int = Field(ge=0)
    redemption_id: str
    reward_id: str
    redeemed_at: AwareDatetime


class PointsReversed(EventData):
    event_type: ClassVar[str] = "points.reversed.v1"

    driver_id: str
    entry_id: str
    amount: int = Field(description="Signed change the reversal made to the balance")
    balance_after: int = Field(ge=0)
    reversed_entry_id: str
    reason: str
    reversed_at: AwareDatetime


class PointsExpired(EventData):
    event_type: ClassVar[str] = "points.expired.v1"

    driver_id: str
    entry_id: str
    amount: int = Field(gt=0)
    balance_after: int = Field(ge=0)
    awarded_through: date
    expired_at: AwareDatetime


class GradeChanged(EventData):
    event_type: ClassVar[str] = "points.grade_changed.v1"

    driver_id: str
    old_grade: Grade
    new_grade: Grade
    earned_last_12_months: int
    reasons: list[str]
    changed_at: AwareDatetime


class PointsAdjusted(EventData):
    event_type: ClassVar[str] = "points.adjusted.v1"

    driver_id: str
    entry_id: str
    amount: int = Field(description="Signed change an operator made, with a mandatory reason")
    balance_after: int = Field(ge=0)
    reason: str
    sanction: bool = False
    adjusted_at: AwareDatetime


class PointsErasureCompleted(ErasureCompleted):
    """The points service holds nothing personal about the erased driver any more."""

    event_type: ClassVar[str] = "points.erasure_completed.v1"
