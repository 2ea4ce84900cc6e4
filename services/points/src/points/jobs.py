"""Background work of a points instance: the sweeper and the periodic expiry job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from common.lease import Lease
from common.logging import get_logger
from common.periodic import Periodic
from points.service import PointsService

log = get_logger(__name__)


class Maintenance:
    def __init__(
        self,
        service: PointsService,
        *,
        sweep_seconds: float,
        jobs_seconds: float,
        jobs_lease: Lease | None = None,
        extra_sweeps: Sequence[Callable[[], Awaitable[object]]] = (),
    ) -> None:
        self._service = service
        # e.g. the mall: redemptions left mid-step and reservations past their time.
        self._extra_sweeps = list(extra_sweeps)
        # Every replica sweeps (each claim is conditional); expiry and the grade refresh go
        # over every account, so under the lease one replica does them per round.
        self._sweeper = Periodic("points-sweeper", sweep_seconds, self.sweep_once)
        self._jobs = Periodic(
            "points-jobs", jobs_seconds, self.run_jobs, lease=jobs_lease, first_after=jobs_seconds
        )

    async def sweep_once(self) -> None:
        await self._service.ledger.finish_unfinished()
        await self._service.sweep_parked()
        for sweep in self._extra_sweeps:
            await sweep()

    async def run_jobs(self) -> None:
        expired = await self._service.expire_all()
        regraded = await self._service.refresh_all_grades()
        log.info("periodic jobs done", expired_accounts=expired, regraded=regraded)

    def start(self) -> None:
        self._sweeper.start()
        self._jobs.start()

    async def stop(self) -> None:
        await self._jobs.stop()
        await self._sweeper.stop()
