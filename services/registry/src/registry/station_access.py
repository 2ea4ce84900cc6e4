"""Which drivers a station's staff reach (issue 14): those who checked in at the station and
those of its census assignment. Anyone else's driver answers like a missing one.

The registry learns "checked in here" from the stations service's ``service.used.v1`` (no
service asks another; only events), and the assignment from its own grids.
"""

from __future__ import annotations

from common.events.stations import ServiceUsed
from registry.domain import Driver
from registry.store.drivers import DriverStore
from registry.store.station_visits import StationVisitStore
from registry.units import Units


class StationAccess:
    def __init__(self, visits: StationVisitStore, units: Units, drivers: DriverStore) -> None:
        self._visits = visits
        self._units = units
        self._drivers = drivers

    async def checked_in(self, used: ServiceUsed) -> None:
        await self._visits.record(used.station_id, used.driver_id, used.used_at)
        # A check-in announced before an erasure can arrive after it. The erasure marks the
        # driver erased before it forgets their visits, so either it forgets this one too or
        # this read sees the mark: no visit outlives the erasure.
        driver = await self._drivers.by_id(used.driver_id)
        if driver is not None and driver.erased:
            await self._visits.forget(used.station_id, used.driver_id)

    async def reaches(self, station_id: str | None, driver: Driver) -> bool:
        if not station_id:
            return False
        if driver.grid_id is not None and driver.grid_id in await self._units.grids_of_station(
            station_id
        ):
            return True
        return await self._visits.visited(station_id, driver.driver_id)
