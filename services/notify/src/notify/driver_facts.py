"""What notify keeps about drivers from other services' events: the facts segments, languages
and the skipping of inactive drivers need (fleet, grid, grade, active, registered language).

Facts come in groups, each stored with the time its event announced it (``facts_at.<group>``)
and only over an older announcement of the group: a dead letter replayed after newer events of
the driver undoes none of them, while a change never applied still applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from notify.store.drivers import DriverStore
from notify.store.units import UnitTree


class DriverFactsBook:
    def __init__(self, drivers: DriverStore) -> None:
        self._drivers = drivers
        # The registry's organisation and grid trees (organisation/grid.placed.v1).
        self.units = UnitTree(drivers.facts.database)

    async def note(
        self, driver_id: str, facts: Mapping[str, Mapping[str, Any]], at: datetime
    ) -> None:
        """Facts another service announced at ``at`` (the event's own time, not notify's), by
        group: ``fleet``, ``grid``, ``organisations``, ``route_grids``, ``kind``, ``language``,
        ``grade``."""
        if facts:
            await self._drivers.note_facts(driver_id, facts, at)

    async def note_deactivation(self, driver_id: str, erased: bool, at: datetime) -> None:
        if erased:
            await self._drivers.forget(driver_id)
        else:
            await self._drivers.note_status(driver_id, False, at)

    async def note_reactivation(self, driver_id: str, at: datetime) -> None:
        await self._drivers.note_status(driver_id, True, at)
