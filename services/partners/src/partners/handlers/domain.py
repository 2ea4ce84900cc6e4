"""Handlers for the domain topics the gateway learns from: parse, one use-case call."""

from __future__ import annotations

from common.events import CloudEvent, EventData
from common.events.points import EventParked, GradeChanged, PointsAwarded
from common.events.registry import DriverRegistered, DriverUpdated
from common.events.stations import ServiceUsed
from partners.booking import Booking
from partners.receipts import Receipts


class DomainHandlers:
    def __init__(self, receipts: Receipts, booking: Booking) -> None:
        self._receipts = receipts
        self._booking = booking

    async def on_points_awarded(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, PointsAwarded)
        await self._receipts.on_points_awarded(event, data)

    async def on_event_parked(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, EventParked)
        await self._receipts.on_event_parked(data)

    async def on_service_used(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, ServiceUsed)
        await self._receipts.on_service_used(event, data)

    async def on_grade_changed(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, GradeChanged)
        await self._booking.on_grade_changed(event, data)

    async def on_driver_registered(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, DriverRegistered)
        await self._booking.on_driver_registered(event, data)

    async def on_driver_updated(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, DriverUpdated)
        await self._booking.on_driver_updated(event, data)
