"""Background work of a cases instance: the breach scan (idempotent; every instance runs it)."""

from __future__ import annotations

import asyncio
import contextlib

from cases.service import CasesService
from common.logging import get_logger

log = get_logger(__name__)


class Scanner:
    def __init__(self, service: CasesService, *, every_seconds: float) -> None:
        self._service = service
        self._every = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                await self._service.scan()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store away: the next round tries again
                log.warning("breach scan failed", error=type(exc).__name__)
            await asyncio.sleep(self._every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cases-breach-scan")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
