"""Handlers for ``points.events``: record on the case that points applied a compensation, and
note a driver's traffic-safety milestone (credited by points) for honours' safety models."""

from __future__ import annotations

from cases.compensation import CompensationCredited, Compensations
from cases.honours import Honours
from cases.records import EVENT_SOURCE
from common.dispatch import EventHandler, on
from common.erased_drivers import ErasedDrivers
from common.events.points import PointsAwarded

COMPENSATION = "case.compensation_granted.v1"
MILESTONE = "safety.milestone.v1"
# Events this service published before its source carried the ``driverhome/`` prefix.
OUR_SOURCES = frozenset({EVENT_SOURCE, "cases"})


class PointsHandlers:
    def __init__(
        self,
        compensations: Compensations,
        honours: Honours | None = None,
        erased: ErasedDrivers | None = None,
    ) -> None:
        self._compensations = compensations
        self._honours = honours
        self._erased = erased

    async def on_points_awarded(self, data: PointsAwarded) -> None:
        if data.cause_type == MILESTONE and self._honours is not None:
            # A milestone announced before an erasure and read after it would note the driver
            # again (the compensation below only marks the pseudonymous case).
            if self._erased is None or not await self._erased.contains(data.driver_id):
                await self._honours.note_milestone(data.driver_id, data.awarded_at)
            return
        if data.cause_type != COMPENSATION or data.cause_source not in OUR_SOURCES:
            return  # an award for something else
        await self._compensations.credited(
            CompensationCredited(
                compensation_id=data.cause_id,
                entry_id=data.entry_id,
                amount=data.amount,
                applied_at=data.awarded_at,
            )
        )

    def handlers(self) -> dict[str, EventHandler]:
        return {"points.awarded.v1": on(PointsAwarded, self.on_points_awarded)}
