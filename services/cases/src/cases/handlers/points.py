"""Handlers for ``points.events``: record on the case that points applied a compensation."""

from __future__ import annotations

from cases.service import EVENT_SOURCE, CasesService
from common.events import CloudEvent, EventData
from common.events.points import PointsAwarded

COMPENSATION = "case.compensation_granted.v1"
# Events this service published before its source carried the ``driverhome/`` prefix.
OUR_SOURCES = frozenset({EVENT_SOURCE, "cases"})


class PointsHandlers:
    def __init__(self, service: CasesService) -> None:
        self._service = service

    async def on_points_awarded(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, PointsAwarded)
        if data.cause_type != COMPENSATION or data.cause_source not in OUR_SOURCES:
            return  # an award for something else
        await self._service.compensation_applied(
            compensation_id=data.cause_id,
            entry_id=data.entry_id,
            amount=data.amount,
            applied_at=data.awarded_at,
        )
