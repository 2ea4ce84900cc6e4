"""The background loop every service runs some of: a step, every so many seconds, for good.

A failing step is logged and tried again next round (the store or the broker may be away for a
while); only cancellation ends the loop. Several steps in one loop run each on its own, so one
failing never keeps the others back. With a lease, the steps run only in rounds in which this
replica holds it: for jobs that must run once, not once per replica.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from common.lease import Lease
from common.logging import describe_error, get_logger

log = get_logger(__name__)

Step = Callable[[], Awaitable[object]]
STOP_RETRY_SECONDS = 0.5


class Periodic:
    def __init__(
        self,
        name: str,
        every: float,
        step: Step | Sequence[Step],
        *,
        lease: Lease | None = None,
        first_after: float = 0.0,
    ) -> None:
        if every <= 0:
            raise ValueError("every must be positive")
        self.name = name
        self._every = every
        self._steps = list(step) if isinstance(step, Sequence) else [step]
        self._lease = lease
        self._first_after = first_after
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> bool:
        """One round; False when another replica holds the lease and nothing ran."""
        if self._lease is not None and not await self._holds_lease():
            return False
        for step in self._steps:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store or broker away: the next round tries again
                log.warning(
                    "periodic step failed",
                    job=self.name,
                    step=getattr(step, "__name__", repr(step)),
                    error=describe_error(exc),
                )
        return True

    async def _holds_lease(self) -> bool:
        assert self._lease is not None
        try:
            return await self._lease.acquire()
        except Exception as exc:  # store away: nobody can tell who holds it, so wait
            log.warning("lease not checked", job=self.name, error=describe_error(exc))
            return False

    async def _run(self) -> None:
        await asyncio.sleep(self._first_after)
        while True:
            await self.run_once()
            await asyncio.sleep(self._every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            # Cancel until it ends: a cancellation that lands as an awaited operation completes
            # can be swallowed (asyncio.wait_for in Python 3.11, used by drivers), and the loop
            # would sleep a whole round on; shutdown would then wait for it.
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=STOP_RETRY_SECONDS)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._lease is not None:
            with contextlib.suppress(Exception):  # unreleased, it lapses after its ttl
                await self._lease.release()
