"""A registration of a person already known: fill the record's gaps, queue what differs.

Nothing is overwritten silently: a differing name, phone, plate or partner reference becomes a
review proposal. The update is conditional on the record not having changed since it was read;
when it did, the merge runs again against what is there now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.events.registry import DriverUpdated
from common.pii import mask_phone
from registry.domain import (
    Conflict,
    Driver,
    LinkRequest,
    NationalIdRecord,
    PartnerLink,
    Vehicle,
    is_valid_plate,
    normalise_plate,
)
from registry.oversight import Review
from registry.records import Changes, DriverRecords
from registry.review_queue import ReviewQueue, Sealed
from registry.store.vehicles import VehicleStore
from registry.vehicles import Vehicles

# A driver changing under each of this many merges in a row is contended: the caller retries.
MAX_MERGE_ATTEMPTS = 3


@dataclass
class _Update:
    """One merge's conditional update of the driver, and the proposals it queues."""

    when: dict[str, Any]
    # A partner the driver is not linked to: a gap it would fill becomes a proposal instead.
    # Knowing an ID number is no consent; filled at once, it could put the partner's own phone
    # or a plate on someone else's record.
    proposes_only: bool = False
    changes: Changes = field(default_factory=Changes)
    push: dict[str, Any] = field(default_factory=dict)
    reviews: list[Review] = field(default_factory=list)


def _merge_national_id(
    driver: Driver, national_id: NationalIdRecord | None, update: _Update
) -> None:
    # Only a record holding the (encrypted) number fills a gap; its hash alone adds nothing.
    if (
        not update.proposes_only
        and national_id
        and national_id.enc
        and (driver.national_id is None or not driver.national_id.enc)
    ):
        update.changes.put("national_id", national_id.model_dump())


class KnownDriverMerge:
    def __init__(
        self,
        records: DriverRecords,
        *,
        vehicles: Vehicles,
        vehicle_store: VehicleStore,
        queue: ReviewQueue,
    ) -> None:
        self._records = records
        self._vehicles = vehicles
        self._vehicle_store = vehicle_store
        self._queue = queue

    async def merge(
        self,
        driver: Driver,
        *,
        source: str,
        name: str | None = None,
        phone: str | None = None,
        national_id: NationalIdRecord | None = None,
        plate: str | None = None,
        link: PartnerLink | None = None,
        attempt: int = 0,
    ) -> Driver:
        """Fill the gaps of a known driver and queue differing values for review."""
        if attempt >= MAX_MERGE_ATTEMPTS:
            raise Conflict("the driver kept changing meanwhile; try again")
        if driver.erased:
            return driver
        update = _Update(
            when={"updated_at": driver.updated_at},
            proposes_only=link is not None and driver.link_of(link.partner_id) is None,
        )
        self._merge_name(driver, source, name, update)
        self._merge_phone(driver, source, phone, update)
        _merge_national_id(driver, national_id, update)
        self._merge_link(driver, source, link, update)
        if plate:
            update.reviews.extend(await self._merge_plate(driver, source, plate, update))
        for review in update.reviews:
            await self._queue.add(review)
        if not update.changes.names:
            return driver
        if not await self._write(driver, update, link):
            # Someone changed the driver meanwhile: merge again against what is there now.
            return await self.merge(
                await self._records.get_driver(driver.driver_id),
                source=source,
                name=name,
                phone=phone,
                national_id=national_id,
                plate=plate,
                link=link,
                attempt=attempt + 1,
            )
        await self._records.announce(driver.driver_id)
        return await self._records.get_driver(driver.driver_id)

    async def _write(self, driver: Driver, update: _Update, link: PartnerLink | None) -> bool:
        """False when the driver changed since it was read."""
        changes = update.changes
        now = self._records.now()
        changes.set_["updated_at"] = now
        linked = link is not None and "partner_links" in changes.names
        event = DriverUpdated(
            driver_id=driver.driver_id,
            changed_fields=changes.names,
            updated_at=now,
            partner_id=link.partner_id if link and linked else None,
            partner_driver_ref=link.partner_driver_ref if link and linked else None,
            **changes.grouping(),
        )
        return await self._records.drivers.update(
            driver.driver_id,
            when=update.when,
            set_=changes.set_,
            unset=changes.unset,
            push=update.push,
            outbox=[self._records.outbox(event, driver.driver_id)],
        )

    def _merge_name(self, driver: Driver, source: str, name: str | None, update: _Update) -> None:
        if not name:
            return
        if not driver.name and update.proposes_only:
            update.reviews.append(
                self._queue.proposal(driver.driver_id, source, "name", "unlinked_partner", name)
            )
        elif not driver.name:
            update.changes.put("name", name)
        elif name != driver.name:
            update.reviews.append(
                self._queue.proposal(
                    driver.driver_id, source, "name", "differs", name, current=driver.name
                )
            )

    def _merge_phone(self, driver: Driver, source: str, phone: str | None, update: _Update) -> None:
        if not phone:
            return
        if driver.phone is None and not update.proposes_only:
            update.changes.put("phone", self._records.protect_phone(phone).model_dump())
        elif driver.phone is None or not self._records.pii.matches(
            driver.phone.hash, "phone", phone
        ):
            update.reviews.append(
                self._queue.proposal(
                    driver.driver_id,
                    source,
                    "phone",
                    "differs" if driver.phone else "unlinked_partner",
                    mask_phone(phone),
                    current=driver.phone.masked if driver.phone else None,
                    sealed=Sealed(raw=phone, enc=self._records.pii.encrypt("phone", phone)),
                )
            )

    def _merge_link(
        self, driver: Driver, source: str, link: PartnerLink | None, update: _Update
    ) -> None:
        if link is None:
            return
        known = driver.link_of(link.partner_id)
        if known is None:
            # Knowing someone's ID number is no consent: the partner asks, the driver decides
            # (registry.partner_linking); only a driver the partner registered is linked at once.
            if driver.request_of(link.partner_id) is None:
                request = LinkRequest(
                    partner_id=link.partner_id,
                    partner_driver_ref=link.partner_driver_ref,
                    requested_at=link.linked_at,
                )
                update.push["link_requests"] = request.model_dump()
                update.when["link_requests.partner_id"] = {"$ne": link.partner_id}
                update.when["partner_links.partner_id"] = {"$ne": link.partner_id}
                update.changes.names.append("link_requests")
        elif link.partner_driver_ref and known.partner_driver_ref != link.partner_driver_ref:
            if known.partner_driver_ref is None:
                update.when["partner_links.partner_id"] = link.partner_id
                update.changes.put(
                    "partner_links",
                    link.partner_driver_ref,
                    path="partner_links.$.partner_driver_ref",
                )
            else:
                update.reviews.append(
                    self._queue.proposal(
                        driver.driver_id,
                        source,
                        "partner_driver_ref",
                        "differs",
                        link.partner_driver_ref,
                        current=known.partner_driver_ref,
                        partner_id=link.partner_id,
                    )
                )

    async def _merge_plate(
        self, driver: Driver, source: str, plate: str, update: _Update
    ) -> list[Review]:
        normalised = normalise_plate(plate)
        if not is_valid_plate(normalised):
            return [
                self._queue.proposal(driver.driver_id, source, "plate", "invalid_format", plate)
            ]
        held = await self._vehicle_store.of_driver(driver.driver_id)
        if any(v.plate == normalised for v in held):
            return []
        if held:
            current = ", ".join(v.plate for v in held)
            return [
                self._queue.proposal(
                    driver.driver_id, source, "plate", "differs", normalised, current=current
                )
            ]
        if update.proposes_only:
            return [
                self._queue.proposal(
                    driver.driver_id, source, "plate", "unlinked_partner", normalised
                )
            ]
        vehicle = Vehicle(
            plate=normalised,
            driver_id=driver.driver_id,
            added_at=self._records.now(),
            source=source,
        )
        if driver.status != "deactivated" and await self._vehicles.claim(vehicle):
            update.changes.names.append("vehicles")
            return []
        return [self._queue.proposal(driver.driver_id, source, "plate", "plate_taken", normalised)]
