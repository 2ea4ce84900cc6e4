"""Points accounts and ledger entries: pure models and rules, no I/O."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.domain_errors import DomainError, PartnerSuspendedRefusal
from common.events.points import Grade
from common.events.registry import DriverKind

AccountStatus = Literal["active", "frozen", "closed"]
EntryKind = Literal["award", "redemption", "reversal", "expiry", "adjustment"]
EntryState = Literal["pending", "applied", "rejected"]

OPENING_GRADE: Grade = "A"


class PointsError(DomainError):
    """Base of the points service's domain errors; ``points.api.errors`` gives their statuses.

    The answer's detail is the error's message unless the class names a fixed one: the ids
    and counters a refusal is raised with are for logs, not for the caller.
    """


class AccountNotFound(PointsError):
    problem_detail = "no such account"


class AccountNotActive(PointsError):
    def __init__(self, status: str) -> None:
        super().__init__(f"the account is {status}")
        self.status = status


class InsufficientPoints(PointsError):
    def __init__(self, balance: int, needed: int) -> None:
        super().__init__(f"balance {balance} does not cover {needed}")
        self.balance = balance
        self.needed = needed

    def problem_members(self) -> dict[str, Any]:
        return {"reason": "insufficient points"}


class EntryNotFound(PointsError):
    problem_detail = "no applied entry with this id"


class NotReversible(PointsError):
    pass


class PartnerSuspended(PartnerSuspendedRefusal, PointsError):
    """A suspended partner's driver lookup."""


class Cause(BaseModel):
    """Why an entry exists: the event that caused it, or the operator and their reason."""

    model_config = ConfigDict(frozen=True)

    source: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    operator: str | None = None
    reason: str | None = None
    fingerprint: str | None = Field(default=None, description="Hash of the causing event")


class Entry(BaseModel):
    """One ledger line. Never edited once applied; corrections are reversals."""

    model_config = ConfigDict(frozen=True)

    entry_id: str
    driver_id: str
    kind: EntryKind
    amount: int = Field(description="Signed change to the balance")
    cause: Cause
    rule_id: str | None = None
    rule_version: int | None = None
    occurred_at: datetime = Field(description="When the cause happened (event time)")
    created_at: datetime
    state: EntryState = "pending"
    published: bool = False
    seq: int | None = Field(default=None, description="Position in the account's history")
    balance_after: int | None = None
    reverses: str | None = None
    sanction: bool = False
    detail: dict[str, Any] = Field(default_factory=dict)


class Account(BaseModel):
    model_config = ConfigDict(frozen=True)

    driver_id: str
    balance: int = Field(ge=0)
    grade: Grade
    status: AccountStatus
    opened_at: datetime
    seq: int = 0
    fleet: str | None = None
    grid: str | None = None
    # Accounts opened before kinds existed are container trucks' (issue 16).
    kind: DriverKind = "container_truck"
    earned: dict[str, int] = Field(
        default_factory=dict, description="Points awarded per month (YYYY-MM), net of reversals"
    )
    debited: int = Field(default=0, description="All points ever taken out (FIFO consumption)")
    expired_through: str | None = Field(default=None, description="Last month (YYYY-MM) expired")
    sanctions: dict[str, int] = Field(default_factory=dict, description="Sanctions per month")


def entry_id(driver_id: str, kind: str, *parts: str) -> str:
    """Deterministic: the same cause always names the same entry (the dedupe key).

    Starts with the driver id so the key stays unique when the ledger is sharded by driver.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{driver_id}:{kind}:{digest}"


def month_of(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return f"{moment.year:04d}-{moment.month:02d}"


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def months_back(month: str, count: int) -> str:
    """The month ``count`` months before ``month`` (both ``YYYY-MM``)."""
    year, mon = (int(p) for p in month.split("-"))
    index = year * 12 + (mon - 1) - count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def expirable_amount(account: Account, through_month: str) -> int:
    """Points still unspent from awards made up to ``through_month``, oldest spent first.

    Consumption (redemptions, expiries, negative adjustments) eats the oldest awards first, so
    what remains of the awards up to a month is what they total minus everything consumed.
    """
    awarded = sum(v for m, v in account.earned.items() if m <= through_month)
    return max(0, min(account.balance, awarded - account.debited))
