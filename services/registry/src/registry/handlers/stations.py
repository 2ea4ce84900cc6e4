"""Handlers for the stations service's topic: parse, one use-case call, nothing else."""

from __future__ import annotations

from common.dispatch import EventHandler, on
from common.events.stations import ServiceUsed
from registry.station_access import StationAccess


class StationHandlers:
    def __init__(self, access: StationAccess) -> None:
        self._access = access

    def handlers(self) -> dict[str, EventHandler]:
        return {"service.used.v1": on(ServiceUsed, self.on_service_used)}

    async def on_service_used(self, data: ServiceUsed) -> None:
        await self._access.checked_in(data)
