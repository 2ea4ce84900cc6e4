"""Background work of a points instance: the sweeper and the periodic expiry job."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

from common.logging import describe_error, get_logger
from points.service import PointsService

log = get_logger(__name__)


class Maintenance:
    def __init__(
        self,
        service: PointsService,
        *,
        sweep_seconds: float,
        jobs_seconds: float,
        extra_sweeps: Sequence[Callable[[], Awaitable[object]]] = (),
    ) -> None:
        self._service = service
        # e.g. the mall: redemptions left mid-step and reservations past their time.
        self._extra_sweeps = list(extra_sweeps)
        self._sweep_seconds = sweep_seconds
        self._jobs_seconds = jobs_seconds
        self._task: asyncio.Task[None] | None = None

    async def sweep_once(self) -> None:
        await self._service.ledger.finish_unfinished()
        await self._service.sweep_parked()
        for sweep in self._extra_sweeps:
            await sweep()

    async def _run(self) -> None:
        last_jobs = time.monotonic()
        while True:
            try:
                await self.sweep_once()
                if time.monotonic() - last_jobs >= self._jobs_seconds:
                    last_jobs = time.monotonic()
                    expired = await self._service.expire_all()
                    regraded = await self._service.refresh_all_grades()
                    log.info("periodic jobs done", expired_accounts=expired, regraded=regraded)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store away: the next round tries again
                log.warning("points maintenance failed", error=describe_error(exc))
            await asyncio.sleep(self._sweep_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="points-maintenance")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
