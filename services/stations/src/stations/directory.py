"""The station directory: add, read, change and list stations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from common.clock import Clock, utc_now
from stations.domain import Capacity, CapacityInUse, Station, StationNotFound
from stations.store.stations import RESOURCES, StationStore


class Directory:
    def __init__(self, stations: StationStore, *, clock: Clock = utc_now) -> None:
        self._stations = stations
        self.now = clock

    async def add_station(self, fields: dict[str, Any]) -> Station:
        now = self.now()
        capacity = Capacity.model_validate(fields.get("capacity") or {})
        station = Station.model_validate(
            {
                **fields,
                "station_id": fields.get("station_id") or f"stn_{uuid.uuid4().hex[:12]}",
                "capacity": capacity,
                "free": {r: getattr(capacity, r) for r in RESOURCES},
                "created_at": now,
                "updated_at": now,
            }
        )
        await self._stations.insert(station)
        return station

    async def find_station(self, station_id: str) -> Station | None:
        return await self._stations.get(station_id)

    async def get_station(self, station_id: str) -> Station:
        station = await self._stations.get(station_id)
        if station is None:
            raise StationNotFound(f"no station {station_id}")
        return station

    async def change_station(self, station_id: str, changes: dict[str, Any]) -> Station:
        """Apply a partial change; capacity changes keep every held bed and space."""
        current = await self.get_station(station_id)
        # Validate the merged result before writing any of it.
        Station.model_validate({**current.model_dump(), **changes})
        fields = dict(changes)
        capacity = fields.pop("capacity", None)
        if capacity is not None:
            # A resource the change does not name keeps its capacity (not 0).
            wanted = Capacity.model_validate({**current.capacity.model_dump(), **capacity})
            for resource in RESOURCES:
                was = getattr(current.capacity, resource)
                delta = getattr(wanted, resource) - was
                if not await self._stations.adjust_capacity(station_id, resource, delta, was=was):
                    again = await self.get_station(station_id)
                    if getattr(again.capacity, resource) != was:
                        raise CapacityInUse(
                            f"{resource} capacity was changed meanwhile; read it and ask again"
                        )
                    raise CapacityInUse(
                        f"{resource} cannot shrink by {-delta}: fewer are free right now"
                    )
            fields["capacity.showers"] = wanted.showers
        if fields:
            await self._stations.set_fields(station_id, fields, self.now())
        return await self.get_station(station_id)

    async def stations(
        self, *, filters: dict[str, Any], after: str | None, limit: int
    ) -> Sequence[Station]:
        return await self._stations.page(filters=filters, after=after, limit=limit)
