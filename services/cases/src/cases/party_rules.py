"""Party-member life's pure rules (issue 17; docs/party-life.md): attendance minutes from the
meeting system's joins and leaves, which organisations are party organisations, and the member
point rules' shape. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Organisations whose members are party members (registry.groups' kinds): branches of drivers
# (geographic, business, interest: 002:25), mobile branches under residence communities
# (000:43), enterprises' branches and the community party organisations.
PARTY_KINDS: frozenset[str] = frozenset(
    {"party_branch", "mobile_branch", "enterprise_branch", "community_party_organisation"}
)
# Where meetings are held: branches (三会一课 is a branch's duty).
BRANCH_KINDS: frozenset[str] = frozenset({"party_branch", "mobile_branch", "enterprise_branch"})

# The default member-point rules, seeded once; operators change them (party:manage). The
# articles name the system (党员量化积分, 002:27) but no numbers: these are the district's.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "attendance": {"cause": "attendance", "points": 5, "min_minutes": 0, "cap_per_month": 20},
    "learning": {"cause": "learning", "points": 2, "min_minutes": 30, "cap_per_month": 10},
    "volunteer": {"cause": "volunteer", "points": 3, "min_minutes": 60, "cap_per_month": 15},
}


@dataclass(frozen=True)
class Mark:
    """One join or leave the meeting system reported."""

    action: str  # joined | left
    at: datetime
    event_id: str


def attended_minutes(marks: Iterable[Mark], starts_at: datetime, ends_at: datetime) -> int:
    """Whole minutes a member was in the meeting, inside its time.

    Marks are taken in time order whatever order they came in (ties: the leave first, so a
    reconnect within the same second keeps both spans); a join while in, or a leave while
    out, changes nothing (a repeated or lost mark); a join never left counts to the end.
    """
    order = sorted(marks, key=lambda m: (m.at, m.action == "joined", m.event_id))
    total = 0.0
    since: datetime | None = None
    for mark in order:
        if mark.action == "joined" and since is None:
            since = mark.at
        elif mark.action == "left" and since is not None:
            total += _overlap(since, mark.at, starts_at, ends_at)
            since = None
    if since is not None:
        total += _overlap(since, ends_at, starts_at, ends_at)
    return int(total // 60)


def _overlap(start: datetime, end: datetime, window_start: datetime, window_end: datetime) -> float:
    lo, hi = max(start, window_start), min(end, window_end)
    return max(0.0, (hi - lo).total_seconds())


def counts(minutes: int, starts_at: datetime, ends_at: datetime, share: float) -> bool:
    """Attended: at least ``share`` of the meeting's length (and at least a minute)."""
    length = (ends_at - starts_at).total_seconds() / 60
    return minutes >= max(1.0, share * length)


def cap_left(cap: int, used: int) -> int:
    return max(0, cap - used)
