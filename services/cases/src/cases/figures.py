"""Published figures: each with its numerator, denominator and cohort rule.

Pure rules over the stored case documents (``store.cases`` reads the cohort), then the use case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cases.records import CaseRecords, aware
from cases.store.cases import FigureCohort

Document = dict[str, Any]

# ---- the rules --------------------------------------------------------------------------------

COHORTS: dict[str, str] = {
    "timely_reply_rate": (
        "cases opened in the period (not withdrawn or merged) whose first-response deadline has "
        "passed or was met; numerator: first response at or before its deadline"
    ),
    "closed_within_limit_rate": (
        "cases whose current round's resolution deadline has passed or was met; numerator: "
        "resolved at or before the deadline (extensions approved before it count)"
    ),
    "revisit_rate": "resolved cases; numerator: revisited at least once",
    "satisfaction_rate": (
        "revisited cases, by their latest revisit (exempted cases stay in the denominator); "
        "numerator: satisfied or basically satisfied"
    ),
    "redo_rate": "resolved cases; numerator: needed a second round (ordered or reopened)",
}


def _figure(name: str, numerator: int, denominator: int) -> Document:
    return {
        "value": round(numerator / denominator, 4) if denominator else None,
        "numerator": numerator,
        "denominator": denominator,
        "cohort": COHORTS[name],
    }


def _decided(clock: Document | None, now: datetime) -> bool:
    if not clock:
        return False
    return clock["met_at"] is not None or aware(clock["due"]) <= now


def figures_of(docs: list[Document], now: datetime) -> Document:
    counts = dict.fromkeys(
        ("reply_n", "reply_d", "limit_n", "limit_d", "rev_n", "rev_d", "sat_n", "sat_d", "redo_n"),
        0,
    )
    exempt = 0
    for doc in docs:
        clocks = doc.get("clocks", {})
        first = clocks.get("first_response")
        if _decided(first, now):
            counts["reply_d"] += 1
            counts["reply_n"] += int(first["met_at"] is not None and not first["breached"])
        resolution = clocks.get("resolution")
        if _decided(resolution, now) and doc["status"] not in ("rejected",):
            counts["limit_d"] += 1
            counts["limit_n"] += int(
                resolution["met_at"] is not None and not resolution["breached"]
            )
        if doc.get("resolved_at") is not None:
            counts["rev_d"] += 1
            revisits = doc.get("revisits") or []
            counts["rev_n"] += int(bool(revisits))
            counts["redo_n"] += int(doc.get("round", 1) > 1)
            if revisits:
                counts["sat_d"] += 1
                latest = revisits[-1]["satisfaction"]
                counts["sat_n"] += int(latest in ("satisfied", "basically_satisfied"))
        exempt += int(bool(doc.get("exempt")))
    collectives = {doc["collective_id"] for doc in docs if doc.get("collective_id")}
    return {
        "cases": len(docs),
        "exempted": exempt,
        # Linked complaints stay separate cases, each counted in every figure on its own.
        "collective_complaints": sum(1 for doc in docs if doc.get("collective_id")),
        "collectives": len(collectives),
        "timely_reply_rate": _figure("timely_reply_rate", counts["reply_n"], counts["reply_d"]),
        "closed_within_limit_rate": _figure(
            "closed_within_limit_rate", counts["limit_n"], counts["limit_d"]
        ),
        "revisit_rate": _figure("revisit_rate", counts["rev_n"], counts["rev_d"]),
        "satisfaction_rate": _figure("satisfaction_rate", counts["sat_n"], counts["sat_d"]),
        "redo_rate": _figure("redo_rate", counts["redo_n"], counts["rev_d"]),
    }


GROUPS = {"unit": "lead_unit_id", "category": "category", "month": "month"}


def figures(docs: list[Document], now: datetime, group_by: str | None) -> list[Document]:
    if group_by is None:
        return [{"group": None, **figures_of(docs, now)}]
    key = GROUPS[group_by]
    groups: dict[str, list[Document]] = {}
    for doc in docs:
        groups.setdefault(str(doc.get(key) or "none"), []).append(doc)
    return [{"group": name, **figures_of(items, now)} for name, items in sorted(groups.items())]


class Figures:
    def __init__(self, records: CaseRecords) -> None:
        self._records = records

    async def figures(self, cohort: FigureCohort, group_by: str | None) -> list[Document]:
        docs = await self._records.store.for_figures(cohort)
        return figures(docs, self._records.clock(), group_by)
