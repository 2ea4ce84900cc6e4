"""The nearest stations: indexed geohash cells narrow the candidates, exact distance decides."""

from __future__ import annotations

from dataclasses import dataclass

from common.clock import Clock, utc_now
from stations.domain import Station
from stations.geography import cell_query, distance_km, travel_minutes
from stations.settings import StationsSettings
from stations.store.stations import StationStore, from_doc


@dataclass(frozen=True)
class Nearby:
    station: Station
    distance_km: float
    travel_minutes: int
    open_now: bool


@dataclass(frozen=True)
class NearbyQuery:
    lat: float
    lng: float
    radius_km: float
    facilities: frozenset[str] = frozenset()
    open_now: bool = False
    free_beds: bool = False
    free_parking: bool = False
    limit: int = 20
    minutes: int | None = None


class NearbySearch:
    def __init__(
        self, stations: StationStore, settings: StationsSettings, *, clock: Clock = utc_now
    ) -> None:
        self._stations = stations
        self._settings = settings
        self.now = clock

    def minutes_to(self, station: Station, km: float) -> int:
        speed = self._settings.speed_of(station.road_class)
        return travel_minutes(km, speed, self._settings.road_factor)

    async def nearby(self, query: NearbyQuery) -> list[Nearby]:
        """Stations within the radius, nearest first: indexed cells, then exact distance."""
        now = self.now()
        found: list[Nearby] = []
        for doc in await self._stations.candidates(
            cell_query(query.lat, query.lng, query.radius_km)
        ):
            where = doc["location"]
            km = distance_km(query.lat, query.lng, where["lat"], where["lng"])
            if km > query.radius_km:
                continue
            station = from_doc(doc)
            offered = {s.code for s in station.services}
            if not query.facilities <= offered:
                continue
            open_now = station.is_open(now)
            if query.open_now and not open_now:
                continue
            if query.free_beds and station.free_of("beds") < 1:
                continue
            if query.free_parking and station.free_of("parking") < 1:
                continue
            minutes = self.minutes_to(station, km)
            if query.minutes is not None and minutes > query.minutes:
                continue
            found.append(Nearby(station, km, minutes, open_now))
        if query.minutes is not None:  # a circle in minutes: the quickest to reach first
            found.sort(key=lambda n: (n.travel_minutes, n.distance_km, n.station.station_id))
        else:
            found.sort(key=lambda n: (n.distance_km, n.station.station_id))
        return found[: query.limit]
