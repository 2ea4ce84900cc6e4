"""The district's points figures for one day: credited by cause, redeemed, expired, counts.

A day is the district's day (midnight to midnight in ``district_timezone``), not UTC's. The
figures are computed on request from the applied ledger entries created that day with two
``$group`` pipelines (credits, debits). On MongoDB the ``state_created`` index bounds the match
to the day's entries; the local store scans the ledger (handbook section 1), which is fine for a
figure asked a few times a minute by the console. A per-day counter document would be faster
but would need its own crash-safe upkeep beside the ledger's dedupe; not built (docs/points.md).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from common.clock import Clock
from points.store.entries import EntryStore

Document = dict[str, Any]

COMPENSATION_RULE = "case-compensation"
BONUS_EVENT = "honour.awarded.v1"
CREDIT_CAUSES = ("earning_rules", "bonuses", "compensation", "adjustments")


class DayFigures(BaseModel):
    day: date = Field(description="The district's calendar day")
    time_zone: str
    starts_at: datetime
    ends_at: datetime
    awarded: int = Field(description="Points awarded this day (sum of awarded_by_cause)")
    awarded_by_cause: dict[str, int] = Field(
        description="earning_rules, bonuses (honours), compensation (cases), adjustments "
        "(manual credits)"
    )
    refunded: int = Field(description="Redemptions given back (reversals): credits, not awards")
    redeemed: int = Field(description="Points spent in the mall (positive number)")
    expired: int = Field(description="Points that expired (positive number)")
    debited_by_kind: dict[str, int] = Field(
        description="Every debit by entry kind: redemption, expiry, adjustment, reversal"
    )
    entries: int = Field(description="Applied ledger entries created this day")
    entries_by_kind: dict[str, int]


def credit_cause(kind: str, rule_id: str | None, event_type: str | None) -> str:
    """Which cause a credit counts under (the console's 'points awarded today' by cause)."""
    if kind == "adjustment":
        return "adjustments"
    if kind == "reversal":
        return "refunded"
    if rule_id == COMPENSATION_RULE:
        return "compensation"
    return "bonuses" if event_type == BONUS_EVENT else "earning_rules"


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))


class Figures:
    def __init__(self, entries: EntryStore, *, clock: Clock, zone: str) -> None:
        self._ledger = entries.collection
        self._clock = clock
        self._zone = zone

    def today(self) -> date:
        return self._clock().astimezone(ZoneInfo(self._zone)).date()

    async def _grouped(self, match: Document, key: Document) -> list[Document]:
        pipeline: list[Document] = [
            {"$match": match},
            {"$group": {"_id": key, "points": {"$sum": "$amount"}, "count": {"$sum": 1}}},
        ]
        return [row async for row in await self._ledger.aggregate(pipeline)]

    async def of_day(self, day: date | None = None) -> DayFigures:
        day = day or self.today()
        start, end = day_bounds(day, self._zone)
        base: Document = {"state": "applied", "created_at": {"$gte": start, "$lt": end}}
        credits = await self._grouped(
            {**base, "amount": {"$gt": 0}},
            {"kind": "$kind", "rule_id": "$rule_id", "event_type": "$cause.event_type"},
        )
        debits = await self._grouped({**base, "amount": {"$lte": 0}}, {"kind": "$kind"})
        by_cause = dict.fromkeys((*CREDIT_CAUSES, "refunded"), 0)
        counts: dict[str, int] = {}
        for row in credits:
            key = row["_id"]
            cause = credit_cause(key["kind"], key.get("rule_id"), key.get("event_type"))
            by_cause[cause] += int(row["points"])
            counts[key["kind"]] = counts.get(key["kind"], 0) + int(row["count"])
        debited: dict[str, int] = {}
        for row in debits:
            kind = row["_id"]["kind"]
            debited[kind] = -int(row["points"])
            counts[kind] = counts.get(kind, 0) + int(row["count"])
        return DayFigures(
            day=day,
            time_zone=self._zone,
            starts_at=start,
            ends_at=end,
            awarded=sum(by_cause[c] for c in CREDIT_CAUSES),
            awarded_by_cause={c: by_cause[c] for c in CREDIT_CAUSES},
            refunded=by_cause["refunded"],
            redeemed=debited.get("redemption", 0),
            expired=debited.get("expiry", 0),
            debited_by_kind=debited,
            entries=sum(counts.values()),
            entries_by_kind=counts,
        )
