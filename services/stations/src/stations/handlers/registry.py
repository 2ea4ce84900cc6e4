"""Handlers for ``registry.events``: parse, one use-case call, nothing else."""

from __future__ import annotations

from common.dispatch import EventHandler, typed
from common.events import CloudEvent
from common.events.registry import DriverDeactivated, DriverRegistered, DriverUpdated
from common.idempotency import ProcessedEvents
from stations.drivers import Drivers


class RegistryHandlers:
    def __init__(self, drivers: Drivers, processed: ProcessedEvents) -> None:
        self._drivers = drivers
        self._processed = processed

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "driver.registered.v1": typed(DriverRegistered, self.on_driver_registered),
            "driver.deactivated.v1": typed(DriverDeactivated, self.on_driver_deactivated),
            "driver.updated.v1": typed(DriverUpdated, self.on_driver_updated),
        }

    async def on_driver_registered(self, event: CloudEvent, data: DriverRegistered) -> None:
        if await self._processed.seen(event):
            return
        await self._drivers.driver_registered(
            data.driver_id, data.registered_at, data.kind, data.base_location
        )
        await self._processed.mark_done(event)

    async def on_driver_deactivated(self, event: CloudEvent, data: DriverDeactivated) -> None:
        if await self._processed.seen(event):
            return
        await self._drivers.driver_deactivated(data.driver_id, data.deactivated_at, data.erased)
        await self._processed.mark_done(event)

    async def on_driver_updated(self, event: CloudEvent, data: DriverUpdated) -> None:
        # The registry announces a reactivation as an update of the status field.
        if "status" in data.changed_fields:
            await self._drivers.driver_reactivated(data.driver_id, data.updated_at)
        if {"kind", "base_location"} & set(data.changed_fields):
            await self._drivers.driver_changed(
                data.driver_id, data.kind, data.base_location, data.changed_fields, data.updated_at
            )
