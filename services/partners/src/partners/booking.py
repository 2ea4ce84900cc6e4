"""The booking system both ways: which driver id its reference names (once the registry
announced the link) and the grade of the drivers linked to it, from this service's own read
models of ``registry.events`` and ``points.events``; never a call into another service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from common.clock import Clock, utc_now
from common.events.points import GradeChanged
from common.events.registry import DriverPartnerLinked, DriverRegistered, DriverUpdated
from common.partner_links import PartnerLinkBook
from partners.domain import NotFound
from partners.receipts import Receipts
from partners.store.links import GradeStore, LinkStore

Document = dict[str, Any]
# What points gives every new account (handbook section 4).
OPENING_GRADE = "A"


DECEMBER = 12


def next_month_start(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == DECEMBER else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=zone)


class Booking:
    def __init__(
        self,
        links: LinkStore,
        grades: GradeStore,
        receipts: Receipts,
        *,
        partner_links: PartnerLinkBook,
        zone: ZoneInfo,
        clock: Clock = utc_now,
    ) -> None:
        self._links = links
        # Whether a partner may still reach a driver (a driver may withdraw a link); the
        # references above only name drivers.
        self.partner_links = partner_links
        self._grades = grades
        self._receipts = receipts
        self._zone = zone
        self._clock = clock

    async def driver_by_ref(self, partner_id: str, ref: str) -> Document:
        link = await self._links.by_ref(partner_id, ref)
        if link is None or not await self.partner_links.is_linked(partner_id, link["driver_id"]):
            raise NotFound("no driver is linked to this reference (yet)")
        return {
            "ref": ref,
            "driver_id": link["driver_id"],
            "linked_at": _iso(link.get("linked_at")),
        }

    async def grade(self, partner_id: str, driver_id: str) -> Document:
        """The grade of a driver linked to this partner; any other driver is not found."""
        if not await self.partner_links.is_linked(partner_id, driver_id):
            raise NotFound("no such driver")
        grade = await self._grades.get(driver_id)
        valid_until = _iso(next_month_start(self._clock(), self._zone))
        if grade is None:
            return {
                "driver_id": driver_id,
                "grade": OPENING_GRADE,
                "since": None,
                "earned_last_12_months": 0,
                "reasons": [],
                "valid_until": valid_until,
            }
        return {
            "driver_id": driver_id,
            "grade": grade["grade"],
            "since": _iso(grade["changed_at"]),
            "earned_last_12_months": grade["earned_last_12_months"],
            "reasons": grade["reasons"],
            "valid_until": valid_until,
        }

    async def on_driver_registered(self, data: DriverRegistered, at: datetime) -> None:
        if data.partner_id and data.partner_driver_ref:
            await self._link(data.partner_id, data.partner_driver_ref, data.driver_id, at)

    async def on_driver_updated(self, data: DriverUpdated, at: datetime) -> None:
        if "partner_links" in data.changed_fields and data.partner_id and data.partner_driver_ref:
            await self._link(data.partner_id, data.partner_driver_ref, data.driver_id, at)

    async def on_partner_linked(self, data: DriverPartnerLinked) -> None:
        """The driver confirmed a partner's request, or redeemed its code: tell the partner."""
        if data.partner_driver_ref:
            await self._link(
                data.partner_id, data.partner_driver_ref, data.driver_id, data.linked_at
            )

    async def on_grade_changed(self, data: GradeChanged) -> None:
        await self._grades.put(
            data.driver_id,
            {
                "grade": data.new_grade,
                "earned_last_12_months": data.earned_last_12_months,
                "reasons": data.reasons,
            },
            data.changed_at,
        )

    async def _link(self, partner_id: str, ref: str, driver_id: str, at: datetime) -> None:
        await self._links.link(partner_id, ref, driver_id, at)
        await self._receipts.on_driver_linked(partner_id, ref, driver_id, at)


def _iso(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value
