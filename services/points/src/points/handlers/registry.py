"""Handlers for ``registry.events``: parse, one use-case call, nothing else."""

from __future__ import annotations

from common.dispatch import EventHandler, on, typed
from common.events import CloudEvent
from common.events.registry import DriverDeactivated, DriverRegistered, DriverUpdated
from common.faults import Faults
from common.idempotency import ProcessedEvents
from points.service import PointsService


class RegistryHandlers:
    def __init__(self, service: PointsService, processed: ProcessedEvents, faults: Faults) -> None:
        self._service = service
        self._processed = processed
        self._faults = faults

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "driver.registered.v1": typed(DriverRegistered, self.on_driver_registered),
            "driver.deactivated.v1": on(DriverDeactivated, self.on_driver_deactivated),
            "driver.updated.v1": on(DriverUpdated, self.on_driver_updated),
        }

    async def on_driver_registered(self, event: CloudEvent, data: DriverRegistered) -> None:
        if await self._processed.seen(event):
            return
        self._faults.hit("points.on_driver_registered.before_effect")
        await self._service.open_account(
            data.driver_id, data.registered_at, fleet=data.fleet, grid=data.grid_id, kind=data.kind
        )
        self._faults.hit("points.on_driver_registered.before_commit")
        await self._processed.mark_done(event)

    async def on_driver_deactivated(self, data: DriverDeactivated) -> None:
        await self._service.deactivate(
            data.driver_id, erased=data.erased, announced_at=data.deactivated_at
        )

    async def on_driver_updated(self, data: DriverUpdated) -> None:
        # The registry announces a reactivation as an update of the status field.
        if "status" in data.changed_fields:
            await self._service.reactivate(data.driver_id, announced_at=data.updated_at)
        if {"fleet", "grid_id", "kind"} & set(data.changed_fields):
            await self._service.regroup(
                data.driver_id,
                fleet=(data.fleet,) if "fleet" in data.changed_fields else None,
                grid=(data.grid_id,) if "grid_id" in data.changed_fields else None,
                kind=data.kind if "kind" in data.changed_fields else None,
                at=data.updated_at,
            )
