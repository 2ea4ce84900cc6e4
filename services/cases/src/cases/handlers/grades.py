"""Handler for ``points.grade_changed.v1``: aid eligibility reads the credit grade points last
announced (cases never asks points; a driver without a change is at the starting grade)."""

from __future__ import annotations

from cases.aid import AidDesk
from common.dispatch import EventHandler, on
from common.events.points import GradeChanged


class GradeHandlers:
    def __init__(self, desk: AidDesk) -> None:
        self._desk = desk

    async def on_grade_changed(self, data: GradeChanged) -> None:
        await self._desk.follow_grade(data.driver_id, data.new_grade, data.changed_at)

    def handlers(self) -> dict[str, EventHandler]:
        return {"points.grade_changed.v1": on(GradeChanged, self.on_grade_changed)}
