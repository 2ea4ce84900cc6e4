"""What notify keeps about drivers from other services' events: the facts segments, languages
and the skipping of inactive drivers need (fleet, grid, grade, active, registered language).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from common.clock import Clock
from notify.store.drivers import DriverStore
from notify.store.units import UnitTree


class DriverFactsBook:
    def __init__(self, drivers: DriverStore, *, clock: Clock) -> None:
        self._drivers = drivers
        self._clock = clock
        # The registry's organisation and grid trees (organisation/grid.placed.v1).
        self.units = UnitTree(drivers.facts.database)

    async def note(self, driver_id: str, facts: dict[str, Any]) -> None:
        """Facts another service announced (fleet, grid, grade, language, active again)."""
        if facts:
            await self._drivers.note_facts(driver_id, facts, self._clock())

    async def note_deactivation(self, driver_id: str, erased: bool, at: datetime) -> None:
        if erased:
            await self._drivers.forget(driver_id)
        else:
            await self._drivers.note_status(driver_id, False, at)

    async def note_reactivation(self, driver_id: str, at: datetime) -> None:
        await self._drivers.note_status(driver_id, True, at)
