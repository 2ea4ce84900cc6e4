from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from common.events.points import Grade
from common.events.registry import DriverKind
from common.schemas import Code, Instant, Name, RequestModel, Text
from points.domain import Account, AccountStatus, Cause, Entry, EntryKind
from points.rules import Condition, Rule
from points.store.review import Held


class AccountView(BaseModel):
    driver_id: str
    balance: int
    grade: Grade
    status: AccountStatus
    opened_at: datetime
    earned_this_month: int = 0

    @classmethod
    def of(cls, account: Account, month: str) -> AccountView:
        return cls(
            driver_id=account.driver_id,
            balance=account.balance,
            grade=account.grade,
            status=account.status,
            opened_at=account.opened_at,
            earned_this_month=account.earned.get(month, 0),
        )


class GradeView(BaseModel):
    driver_id: str
    grade: Grade
    earned_last_12_months: int
    sanctions_last_12_months: int
    reasons: list[str]
    benefits: list[str]


class EntryView(BaseModel):
    """A ledger line with its answer to "why did I get or lose these points?"."""

    entry_id: str
    kind: EntryKind
    amount: int
    balance_after: int | None
    cause: Cause
    rule: str | None = Field(description="rule_id@version that decided an award")
    rule_name: str | None = None
    occurred_at: datetime
    created_at: datetime
    reverses: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, entry: Entry) -> EntryView:
        cause = entry.cause.model_copy(update={"fingerprint": None})
        notes = []
        requested = entry.detail.get("requested")
        asked, ceiling = entry.detail.get("asked"), entry.detail.get("max_per_event")
        if entry.kind == "award" and isinstance(asked, int) and isinstance(requested, int):
            notes.append(f"capped from {asked} by the rule's per-event maximum of {ceiling}")
        if entry.kind == "award" and isinstance(requested, int) and requested > entry.amount:
            notes.append(f"capped from {requested} by the rule's daily or monthly cap")
        note = "; ".join(notes) or None
        return cls(
            entry_id=entry.entry_id,
            kind=entry.kind,
            amount=entry.amount,
            balance_after=entry.balance_after,
            cause=cause,
            rule=f"{entry.rule_id}@v{entry.rule_version}" if entry.rule_id else None,
            rule_name=entry.detail.get("rule_name"),
            occurred_at=entry.occurred_at,
            created_at=entry.created_at,
            reverses=entry.reverses,
            note=note,
        )


class LedgerPage(BaseModel):
    items: list[EntryView]
    next_cursor: str | None = None


class ReversalRequest(RequestModel):
    entry_id: Code = Field(min_length=1, max_length=200)
    reason: Text = Field(min_length=3, max_length=500)


class AdjustmentRequest(RequestModel):
    amount: int = Field(ge=-100_000, le=100_000)
    reason: Text = Field(min_length=3, max_length=500)
    sanction: bool = False


class ConditionRequest(Condition, RequestModel):
    """A rule condition as a request: strict, like every request body."""


class RuleRequest(RequestModel):
    name: Name = Field(min_length=1, max_length=100)
    event_type: Code = Field(min_length=1, max_length=100)
    conditions: list[ConditionRequest] = Field(default_factory=list, max_length=10)
    points: int = Field(default=0, ge=0, le=10_000)
    points_per_unit: int = Field(default=0, ge=0, le=1_000)
    unit_field: Code | None = Field(default=None, max_length=64)
    cap_per_day: int | None = Field(default=None, ge=1, le=1_000_000)
    cap_per_month: int | None = Field(default=None, ge=1, le=1_000_000)
    max_per_event: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description=(
            "The most one event earns under this rule (at least `points`); a larger award is "
            "cut to it. Default: 100, or `points` when that is higher."
        ),
    )
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    priority: int = Field(default=0, ge=0, le=1000)
    active: bool = True
    driver_kinds: list[DriverKind] | None = Field(
        default=None, min_length=1, description="Only drivers of these kinds earn by it"
    )


class RuleView(BaseModel):
    rule_id: str
    version: int
    spec: dict[str, Any]
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, rule: Rule) -> RuleView:
        spec = rule.model_dump(
            mode="json", exclude={"rule_id", "version", "created_at", "created_by"}
        )
        return cls(
            rule_id=rule.rule_id,
            version=rule.version,
            spec=spec,
            created_at=rule.created_at,
            created_by=rule.created_by,
        )


class HeldEventView(BaseModel):
    """An earning event points holds for an operator instead of crediting it on its own."""

    hold_id: str
    driver_id: str
    reason: str = Field(
        description=(
            "`event_too_old`: dated before the accepted window; `station_threshold`: an "
            "activity attendance past its station's monthly threshold"
        )
    )
    state: str
    event_type: str
    event_source: str
    event_id: str
    event_time: datetime
    held_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None

    @classmethod
    def of(cls, held: Held) -> HeldEventView:
        return cls(
            hold_id=held.hold_id,
            driver_id=held.earning.driver_id,
            reason=held.reason,
            state=held.state,
            event_type=held.earning.event_type,
            event_source=held.earning.source,
            event_id=held.earning.event_id,
            event_time=held.earning.occurred_at,
            held_at=held.held_at,
            decided_by=held.decided_by,
            decided_at=held.decided_at,
            note=held.note,
        )


class HeldEventsPage(BaseModel):
    items: list[HeldEventView]
    next_cursor: str | None = None


class HeldDecision(BaseModel):
    hold: HeldEventView
    entry: EntryView | None = Field(
        default=None, description="The award, when the event earned one (absent: parked or none)"
    )


class RefusalRequest(RequestModel):
    reason: Text = Field(min_length=3, max_length=500)
