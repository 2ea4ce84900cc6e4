"""Counting a case's deadlines again after a year's holidays were loaded or corrected.

A clock keeps how it was counted (its limit, then each pause and extension in order), so
counting again on the calendar as it is now gives exactly what the clock would have said had
the year been known from the start. Pure rules; the use case is in ``cases.calendars``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cases.calendar import BusinessCalendar, provisional
from cases.domain import WARNING_FRACTION, Limit

Document = dict[str, Any]
# The store keeps milliseconds: a difference below that is no change.
_TOLERANCE = timedelta(milliseconds=1)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def replay(calendar: BusinessCalendar, clock: Document) -> Document | None:
    """``due``, ``warn_at`` and the provisional fields as counted now (None: not replayable)."""
    limit = clock.get("limit")
    if not limit:
        return None  # counted before clocks kept their limit: on a fully loaded calendar
    start = _aware(clock["started_at"])
    due = Limit(limit["unit"], int(limit["amount"])).due(calendar, start)
    span = calendar.business_seconds_between(start, due)
    warn_at = calendar.add_business_seconds(start, span * WARNING_FRACTION)
    for op in clock.get("ops", []):
        if "pause" in op:
            paused_at, resumed_at = (_aware(m) for m in op["pause"])
            paused = calendar.business_seconds_between(paused_at, resumed_at)
            due = calendar.add_business_seconds(due, paused)
            warn_at = calendar.add_business_seconds(warn_at, paused)
        elif "extend" in op:
            extended = calendar.working_days_after(due, int(op["extend"]))
            warn_at = calendar.add_business_seconds(
                warn_at, calendar.business_seconds_between(due, extended)
            )
            due = extended
    return {"due": due, "warn_at": warn_at, **provisional(calendar, start, due)}


def clock_years(calendar: BusinessCalendar, clocks: Document) -> list[int]:
    """Every year a case's clocks count days in (the years whose loading concerns it)."""
    years: set[int] = set()
    for clock in clocks.values():
        if clock:
            years.update(calendar.years_between(_aware(clock["started_at"]), _aware(clock["due"])))
    return sorted(years)


def recount(
    calendar: BusinessCalendar, case: Document
) -> tuple[Document, list[Document], Document]:
    """``$set`` fields for the running clocks whose deadline changed, what changed, and the case
    as it will be.

    A clock already met keeps the deadline it was measured against, and a breach already
    announced stays announced: both were facts when they happened.
    """
    fields: Document = {}
    changes: list[Document] = []
    clocks = {name: dict(clock) for name, clock in case.get("clocks", {}).items() if clock}
    for name, clock in list(clocks.items()):
        if clock.get("met_at") is not None:
            continue
        fresh = replay(calendar, clock)
        if fresh is None:
            continue
        old_due, old_warn = _aware(clock["due"]), _aware(clock["warn_at"])
        moved = abs(fresh["due"] - old_due) > _TOLERANCE
        settled = fresh["provisional"] != bool(clock.get("provisional", False))
        if not (moved or settled or abs(fresh["warn_at"] - old_warn) > _TOLERANCE):
            continue
        clocks[name].update(fresh)
        for key, value in fresh.items():
            fields[f"clocks.{name}.{key}"] = value
        changes.append(
            {
                "clock": name,
                "old_due": old_due,
                "new_due": fresh["due"],
                "provisional": fresh["provisional"],
            }
        )
    return fields, changes, {**case, "clocks": clocks}
