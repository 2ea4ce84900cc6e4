"""Handlers for events that earn points (stations and partner topics)."""

from __future__ import annotations

from common.events import CloudEvent, EventData, InvalidEvent
from points.ledger import ConflictingEntry
from points.service import PointsService


class EarningHandlers:
    def __init__(self, service: PointsService) -> None:
        self._service = service

    async def on_domain_event(self, event: CloudEvent, data: EventData) -> None:
        await self._earn(event, partner=False)

    async def on_partner_event(self, event: CloudEvent, data: EventData) -> None:
        await self._earn(event, partner=True)

    async def _earn(self, event: CloudEvent, *, partner: bool) -> None:
        try:
            await self._service.earn_or_park(event, partner=partner)
        except ConflictingEntry as exc:
            raise InvalidEvent(
                "conflicting_duplicate",
                f"({event.source}, {event.id}) was already received with a different payload",
            ) from exc
