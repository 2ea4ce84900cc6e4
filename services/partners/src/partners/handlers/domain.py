"""Handlers for the domain topics the gateway learns from: parse, one use-case call."""

from __future__ import annotations

from common.dispatch import EventHandler, on, typed
from common.events import CloudEvent
from common.events.points import EventParked, GradeChanged, PointsAwarded
from common.events.registry import DriverPartnerLinked, DriverRegistered, DriverUpdated
from common.events.stations import ServiceUsed
from partners.booking import Booking
from partners.receipts import Receipts


class DomainHandlers:
    def __init__(self, receipts: Receipts, booking: Booking) -> None:
        self._receipts = receipts
        self._booking = booking

    def points(self) -> dict[str, EventHandler]:
        return {
            "points.awarded.v1": on(PointsAwarded, self._receipts.on_points_awarded),
            "points.grade_changed.v1": on(GradeChanged, self._booking.on_grade_changed),
            "points.event_parked.v1": on(EventParked, self._receipts.on_event_parked),
        }

    def registry(self) -> dict[str, EventHandler]:
        return {
            "driver.registered.v1": typed(DriverRegistered, self.on_driver_registered),
            "driver.updated.v1": typed(DriverUpdated, self.on_driver_updated),
            "driver.partner_linked.v1": on(DriverPartnerLinked, self._booking.on_partner_linked),
        }

    def stations(self) -> dict[str, EventHandler]:
        return {"service.used.v1": on(ServiceUsed, self._receipts.on_service_used)}

    async def on_driver_registered(self, event: CloudEvent, data: DriverRegistered) -> None:
        await self._booking.on_driver_registered(data, event.time)

    async def on_driver_updated(self, event: CloudEvent, data: DriverUpdated) -> None:
        await self._booking.on_driver_updated(data, event.time)
