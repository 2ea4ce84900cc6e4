"""Handlers for the domain topics: parse, one use-case call, nothing else."""

from __future__ import annotations

from common.events import CloudEvent, EventData
from common.events.points import GradeChanged
from common.events.registry import DriverDeactivated, DriverRegistered, DriverUpdated
from common.idempotency import ProcessedEvents
from notify.service import NotifyService


class DomainHandlers:
    def __init__(self, service: NotifyService, processed: ProcessedEvents) -> None:
        self._service = service
        self._processed = processed

    async def on_driver_registered(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, DriverRegistered)
        await self._service.note_registration(
            data.driver_id, data.fleet, data.language, grid=data.grid_id
        )
        await self.on_notifying_event(event, data)

    async def on_driver_deactivated(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, DriverDeactivated)
        await self._service.note_deactivation(data.driver_id, data.erased)

    async def on_driver_updated(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, DriverUpdated)
        facts: dict[str, object] = {}
        if "status" in data.changed_fields:  # the registry's reactivation
            facts["active"] = True
        if "fleet" in data.changed_fields:
            facts["fleet"] = data.fleet
        if "grid_id" in data.changed_fields:
            facts["grid"] = data.grid_id
        if facts:
            await self._service.note_facts(data.driver_id, facts)

    async def on_grade_changed(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, GradeChanged)
        await self._service.note_grade(data.driver_id, data.new_grade)
        await self.on_notifying_event(event, data)

    async def on_notifying_event(self, event: CloudEvent, data: EventData) -> None:
        # The effects are idempotent on their own (deterministic ids); the marker only refuses
        # a conflicting duplicate and skips the work on a plain one.
        if await self._processed.seen(event):
            return
        await self._service.notify_about(event, data)
        await self._processed.mark_done(event)
