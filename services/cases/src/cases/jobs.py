"""Background work of a cases instance, every round: take up holiday notices other instances
loaded, count the deadlines they change again, watch for next year's notice, the breach scan
and the mutual-help board's handover of unclaimed needs. All idempotent, so every instance
runs them (no lease); each step on its own, so one failing never keeps the others back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from cases.breach_scan import BreachScan
from cases.calendars import CalendarService
from common.periodic import Periodic


def scanner(
    breach_scan: BreachScan,
    calendars: CalendarService,
    *,
    every: float,
    also: Sequence[Callable[[], Awaitable[object]]] = (),
) -> Periodic:
    async def next_year_watch() -> None:
        calendars.next_year_missing(calendars.clock())

    return Periodic(
        "cases-breach-scan",
        every,
        [
            next_year_watch,
            calendars.refresh,
            calendars.recount_pending,
            breach_scan.scan,
            *also,
        ],
    )
