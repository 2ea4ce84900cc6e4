"""Handlers for partner topics: parse, one use-case call, nothing else."""

from __future__ import annotations

from common.dispatch import EventHandler, typed
from common.events import CloudEvent
from common.events.partner import PartnerDriverRegistered
from common.faults import Faults
from common.idempotency import ProcessedEvents
from registry.registration import Registrar


class PartnerHandlers:
    def __init__(self, service: Registrar, processed: ProcessedEvents, faults: Faults) -> None:
        self._service = service
        self._processed = processed
        self._faults = faults

    def handlers(self) -> dict[str, EventHandler]:
        return {"driver.registered.v1": typed(PartnerDriverRegistered, self.on_driver_registered)}

    async def on_driver_registered(self, event: CloudEvent, data: PartnerDriverRegistered) -> None:
        if await self._processed.seen(event):
            return
        partner_id = event.source.removeprefix("partner/")
        await self._service.register_from_partner(partner_id, data, f"{event.source}/{event.id}")
        self._faults.hit("registry.on_driver_registered.before_commit")
        await self._processed.mark_done(event)
