"""The service circle's coverage: the share of drivers' declared bases within the circle's
minutes of an open station ("打造全域15分钟服务圈", seeds/000:51).

Bases are the coarse locations the registry announces with location consent (two decimals),
so many drivers share one; each distinct base is measured once, against the open stations in
the indexed cells within the fastest road's reach.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from stations.geography import cell_query, distance_km
from stations.nearby import NearbySearch
from stations.settings import StationsSettings
from stations.store.drivers import DriverStore
from stations.store.stations import StationStore, from_doc


@dataclass(frozen=True)
class CircleCoverage:
    minutes: int
    active_drivers: int
    drivers_with_base: int
    drivers_within: int

    @property
    def share(self) -> float | None:
        if not self.drivers_with_base:
            return None
        return round(self.drivers_within / self.drivers_with_base, 4)


class ServiceCircle:
    def __init__(
        self,
        stations: StationStore,
        drivers: DriverStore,
        nearby: NearbySearch,
        settings: StationsSettings,
    ) -> None:
        self._stations = stations
        self._drivers = drivers
        self._nearby = nearby
        self._settings = settings

    async def coverage(self, minutes: int) -> CircleCoverage:
        bases = Counter(await self._drivers.bases())
        within = 0
        for (lat, lng), drivers in bases.items():
            if await self._reachable(lat, lng, minutes):
                within += drivers
        return CircleCoverage(
            minutes=minutes,
            active_drivers=await self._drivers.active_count(),
            drivers_with_base=sum(bases.values()),
            drivers_within=within,
        )

    async def _reachable(self, lat: float, lng: float, minutes: int) -> bool:
        reach = self._settings.reach_km(minutes)
        for doc in await self._stations.candidates(cell_query(lat, lng, reach)):
            if doc.get("status") != "open":
                continue
            where = doc["location"]
            km = distance_km(lat, lng, where["lat"], where["lng"])
            if km <= reach and self._nearby.minutes_to(from_doc(doc), km) <= minutes:
                return True
        return False
