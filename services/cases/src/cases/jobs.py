"""Background work of a cases instance, every round: take up holiday notices other instances
loaded, count the deadlines they change again, watch for next year's notice, and the breach
scan. All idempotent, so every instance runs them; each step on its own, so one failing
never keeps the others back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from cases.breach_scan import BreachScan
from cases.calendars import CalendarService
from common.logging import describe_error, get_logger

log = get_logger(__name__)


class Scanner:
    def __init__(
        self, breach_scan: BreachScan, calendars: CalendarService, *, every_seconds: float
    ) -> None:
        self._breach_scan = breach_scan
        self._calendars = calendars
        self._every = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def round(self) -> None:
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("calendar refresh", self._calendars.refresh),
            ("deadline recount", self._calendars.recount_pending),
            ("breach scan", self._breach_scan.scan),
        ]
        self._calendars.next_year_missing(self._calendars.clock())
        for name, step in steps:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store away: the next round tries again
                log.warning(f"{name} failed", error=describe_error(exc))

    async def _run(self) -> None:
        while True:
            await self.round()
            await asyncio.sleep(self._every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cases-breach-scan")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
