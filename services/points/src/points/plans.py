"""How each kind of entry changes an account, decided from a consistent account snapshot.

A plan depends only on the entry (its kind, amount requested and details fixed at insert) and
the account it is applied to, so the sweeper can finish any half-done entry on its own.
"""

from __future__ import annotations

from typing import Any

from points.domain import (
    Account,
    AccountNotActive,
    Entry,
    day_of,
    expirable_amount,
    month_of,
)
from points.effects import Effect, Plan
from points.rules import capped_amount


def plan_for(entry: Entry) -> Plan:
    planners = {
        "award": _award,
        "redemption": _redemption,
        "reversal": _reversal,
        "expiry": _expiry,
        "adjustment": _adjustment,
    }
    planner = planners[entry.kind]

    def plan(account: Account, doc: dict[str, Any]) -> Effect | str:
        return planner(entry, account, doc)

    return plan


def _require(account: Account, *allowed: str) -> None:
    if account.status not in allowed:
        raise AccountNotActive(account.status)


def _award(entry: Entry, account: Account, doc: dict[str, Any]) -> Effect | str:
    _require(account, "active")
    if doc.get(EARNING_PAUSED):
        return CONSENT_WITHDRAWN
    requested = int(entry.detail["requested"])
    month = award_month(entry)
    day_key, month_key = cap_keys(entry)
    caps = doc.get("caps", {})
    amount = capped_amount(
        requested,
        used_today=int(caps.get(day_key, 0)),
        used_month=int(caps.get(month_key, 0)),
        cap_per_day=entry.detail.get("cap_per_day"),
        cap_per_month=entry.detail.get("cap_per_month"),
    )
    if amount <= 0:
        return CAP_REACHED
    return Effect(
        amount=amount,
        inc={f"earned.{month}": amount, f"caps.{day_key}": amount, f"caps.{month_key}": amount},
        unset_fields=_stale_caps(caps, month),
        # A withdrawal of the points consent between the earning handler's look and this
        # write does not move ``seq``: the write must still find the answer it was planned on.
        pin={EARNING_PAUSED: doc.get(EARNING_PAUSED)},
    )


CAP_REACHED = "the rule's cap for this day or month is reached"
CONSENT_WITHDRAWN = "the driver withdrew consent to points: the event earns nothing"
EARNING_PAUSED = "earning_paused"


def award_month(entry: Entry) -> str:
    # When points recorded the award (fixed at insert), never the sender's event time: a back-
    # or forward-dated event would otherwise open a fresh day of caps, or a month that never
    # expires. Entries inserted before this was kept fall back to the event's time.
    return str(entry.detail.get("earned_month") or month_of(entry.occurred_at))


def cap_keys(entry: Entry) -> tuple[str, str]:
    """The account's ``caps`` counters an award counts against: its rule's day and month."""
    day = str(entry.detail.get("cap_day") or day_of(entry.occurred_at))
    return f"{entry.rule_id}@{day}", f"{entry.rule_id}@{award_month(entry)}"


def _stale_caps(caps: dict[str, Any], current_month: str) -> list[str]:
    # Counters older than the previous month can no longer limit anything that arrives now.
    stale = []
    for key in caps:
        _, _, period = key.partition("@")
        if period[:7] < _previous_month(current_month):
            stale.append(f"caps.{key}")
    return stale[:50]


def _previous_month(month: str) -> str:
    year, mon = (int(p) for p in month.split("-"))
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def _redemption(entry: Entry, account: Account, doc: dict[str, Any]) -> Effect | str:
    _require(account, "active")
    cost = -entry.amount
    if account.balance < cost:
        return "insufficient points"
    return Effect(amount=-cost, inc={"debited": cost}, min_balance=cost)


def _reversal(entry: Entry, account: Account, doc: dict[str, Any]) -> Effect | str:
    _require(account, "active", "frozen")
    original_kind = entry.detail["original_kind"]
    original_amount = int(entry.detail["original_amount"])
    if original_kind == "redemption":  # a refund: the points come back
        cost = -original_amount
        return Effect(amount=cost, inc={"debited": -cost})
    taken = min(original_amount, account.balance)
    if taken <= 0:
        return "nothing left to reverse: the balance is zero"
    month = str(entry.detail["original_month"])
    return Effect(amount=-taken, inc={f"earned.{month}": -taken}, min_balance=taken)


def _expiry(entry: Entry, account: Account, doc: dict[str, Any]) -> Effect | str:
    _require(account, "active", "frozen")
    through = str(entry.detail["through_month"])
    if account.expired_through and account.expired_through >= through:
        return f"already expired through {account.expired_through}"
    amount = expirable_amount(account, through)
    if amount <= 0:
        return "nothing to expire"
    return Effect(
        amount=-amount,
        inc={"debited": amount},
        min_balance=amount,
        set_fields={"expired_through": through},
    )


def _adjustment(entry: Entry, account: Account, doc: dict[str, Any]) -> Effect | str:
    _require(account, "active", "frozen")
    amount = int(entry.detail["requested"])
    month = month_of(entry.occurred_at)
    inc: dict[str, int] = {f"sanctions.{month}": 1} if entry.sanction else {}
    if amount >= 0:
        return Effect(amount=amount, inc={**inc, f"earned.{month}": amount})
    if account.balance < -amount:
        return "the balance does not cover this deduction"
    return Effect(amount=amount, inc={**inc, "debited": -amount}, min_balance=-amount)
