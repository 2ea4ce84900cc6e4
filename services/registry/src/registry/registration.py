"""Registration: by a driver, station, operator or partner, and from the port booking system.

The national ID (or, from the partner topic, its keyed hash) identifies a person: registering
again fills the gaps of the known record and queues differing values for review, never
overwriting silently. The plate is claimed before the driver is inserted, so a crash between
the two leaves a claim by a driver id that does not exist, which a later claim takes over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.events.partner import PartnerDriverRegistered
from common.events.registry import DriverRegistered, DriverUpdated
from common.pii import (
    is_valid_national_id,
    is_valid_phone,
    mask_phone,
    normalise_national_id,
    normalise_phone,
)
from registry.domain import (
    Conflict,
    Driver,
    InvalidDriverData,
    NationalIdRecord,
    PartnerLink,
    PlateTaken,
    RegistrationChannel,
    Review,
    Vehicle,
    VehicleType,
    checked_plate,
    is_valid_plate,
    new_driver_id,
    normalise_plate,
)
from registry.records import Actor, Changes, DriverRecords
from registry.review_queue import ReviewQueue
from registry.store.vehicles import VehicleStore
from registry.units import Units
from registry.vehicles import Vehicles


@dataclass(frozen=True)
class Registration:
    name: str
    phone: str
    national_id: str
    plate: str
    fleet: str | None = None
    home_province: str | None = None
    languages: tuple[str, ...] = ()
    vehicle_type: VehicleType = "container_tractor"
    partner_driver_ref: str | None = None


class Registrar:
    def __init__(
        self,
        records: DriverRecords,
        *,
        vehicles: Vehicles,
        units: Units,
        vehicle_store: VehicleStore,
        queue: ReviewQueue,
    ) -> None:
        self._records = records
        self._vehicles = vehicles
        self._units = units
        self._vehicle_store = vehicle_store
        self._queue = queue

    async def register_driver(
        self, registration: Registration, channel: RegistrationChannel, actor: Actor
    ) -> tuple[Driver, bool]:
        """Register a driver; the same national ID again returns the existing driver (False).

        A second registration changes nothing silently: gaps of an incomplete record are
        filled and announced, differing values go to the review queue.
        """
        national_id = normalise_national_id(registration.national_id)
        if not is_valid_national_id(national_id):
            raise InvalidDriverData("national_id", "not a valid 18-character resident ID number")
        phone = normalise_phone(registration.phone)
        if not is_valid_phone(phone):
            raise InvalidDriverData("phone", "not a valid mainland mobile number")
        plate = checked_plate(registration.plate)
        link = (
            PartnerLink(
                partner_id=actor.partner_id,
                partner_driver_ref=registration.partner_driver_ref,
                linked_at=self._records.now(),
            )
            if channel == "partner" and actor.partner_id
            else None
        )
        record = self._records.national_id(national_id)
        for _ in range(3):
            existing = await self._records.drivers.by_national_id_hash(record.hash)
            if existing is not None and channel == "self":
                # Knowing an ID number is not enough to change someone's record.
                return existing, False
            if existing is not None:
                merged = await self._merge(
                    existing,
                    source=f"registration/{channel}",
                    name=registration.name,
                    phone=phone,
                    national_id=record,
                    plate=plate,
                    link=link,
                )
                return merged, False
            created = await self._create(
                record,
                channel=channel,
                name=registration.name,
                phone=phone,
                plate=plate,
                vehicle_type=registration.vehicle_type,
                fleet=registration.fleet,
                home_province=registration.home_province,
                languages=list(registration.languages),
                link=link,
                source=f"registration/{channel}",
                on_plate_taken="refuse",
            )
            if created is not None:
                return created, True
        raise RuntimeError("registration raced three times without a winner")

    async def register_from_partner(
        self, partner_id: str, data: PartnerDriverRegistered, source: str
    ) -> Driver:
        """The port booking system registered a driver: create, or link to the one we know."""
        link = PartnerLink(
            partner_id=partner_id,
            partner_driver_ref=data.partner_driver_ref,
            linked_at=self._records.now(),
        )
        name = data.name.strip() if data.name and data.name.strip() else None
        for _ in range(3):
            existing = await self._records.drivers.by_national_id_hash(data.national_id_hash)
            if existing is not None:
                return await self._merge(
                    existing, source=source, name=name, plate=data.plate, link=link
                )
            created = await self._create(
                NationalIdRecord(hash=data.national_id_hash),
                channel="partner",
                name=name,
                phone=None,
                plate=data.plate,
                vehicle_type="container_tractor",
                fleet=None,
                home_province=None,
                languages=[],
                link=link,
                source=source,
                on_plate_taken="review",
            )
            if created is not None:
                return created
        raise RuntimeError("partner registration raced three times without a winner")

    async def _create(
        self,
        record: NationalIdRecord,
        *,
        channel: RegistrationChannel,
        name: str | None,
        phone: str | None,
        plate: str | None,
        vehicle_type: VehicleType,
        fleet: str | None,
        home_province: str | None,
        languages: list[str],
        link: PartnerLink | None,
        source: str,
        on_plate_taken: str,
    ) -> Driver | None:
        """Insert a new driver; None when the national ID hash turned up meanwhile."""
        now = self._records.now()
        driver_id = new_driver_id()
        fleet_doc = await self._units.resolve_fleet(fleet)
        driver = Driver(
            driver_id=driver_id,
            name=name,
            national_id=record,
            phone=self._records.protect_phone(phone) if phone else None,
            home_province=home_province,
            languages=languages,
            fleet_id=fleet_doc.fleet_id if fleet_doc else None,
            fleet=fleet_doc.name if fleet_doc else None,
            partner_links=[link] if link else [],
            channel=channel,
            created_at=now,
            updated_at=now,
        )
        reviews: list[Review] = []
        claimed: str | None = None
        if plate is not None:
            normalised = normalise_plate(plate)
            if not is_valid_plate(normalised):
                reviews.append(
                    self._queue.proposal(driver_id, source, "plate", "invalid_format", plate)
                )
            else:
                vehicle = Vehicle(
                    plate=normalised,
                    driver_id=driver_id,
                    vehicle_type=vehicle_type,
                    added_at=now,
                    source=source,
                )
                # Claim first: a crash before the insert leaves a claim by a driver id that does
                # not exist, which _claim treats as stale.
                if await self._vehicles.claim(vehicle):
                    claimed = normalised
                elif on_plate_taken == "refuse":
                    raise PlateTaken(normalised)
                else:
                    reviews.append(
                        self._queue.proposal(driver_id, source, "plate", "plate_taken", normalised)
                    )
        event = DriverRegistered(
            driver_id=driver_id,
            channel=channel,
            registered_at=now,
            fleet=driver.fleet,
            home_province=home_province,
            language=languages[0] if languages else None,
            fleet_id=driver.fleet_id,
            grid_id=driver.grid_id,
            partner_id=link.partner_id if link else None,
            partner_driver_ref=link.partner_driver_ref if link else None,
        )
        try:
            inserted = await self._records.drivers.insert_new(
                driver, [self._records.outbox(event, driver_id)]
            )
        except BaseException:
            if claimed:
                await self._vehicle_store.release(claimed, driver_id)
            raise
        if not inserted:
            if claimed:
                await self._vehicle_store.release(claimed, driver_id)
            return None
        for review in reviews:
            await self._queue.add(review)
        await self._records.announce(driver_id)
        return driver

    async def _merge(
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
        if attempt >= 3:
            raise Conflict("the driver kept changing meanwhile; try again")
        if driver.erased:
            return driver
        changes = Changes()
        reviews: list[Review] = []
        push: dict[str, Any] = {}
        when: dict[str, Any] = {"updated_at": driver.updated_at}
        if name:
            if not driver.name:
                changes.put("name", name)
            elif name != driver.name:
                reviews.append(
                    self._queue.proposal(
                        driver.driver_id, source, "name", "differs", name, driver.name
                    )
                )
        if phone:
            if driver.phone is None:
                changes.put("phone", self._records.protect_phone(phone).model_dump())
            elif self._records.pii.hash("phone", phone) != driver.phone.hash:
                reviews.append(
                    self._queue.proposal(
                        driver.driver_id,
                        source,
                        "phone",
                        "differs",
                        mask_phone(phone),
                        driver.phone.masked,
                        raw=phone,
                        enc=self._records.pii.encrypt("phone", phone),
                    )
                )
        if (
            national_id
            and national_id.enc
            and (driver.national_id is None or not driver.national_id.enc)
        ):
            changes.put("national_id", national_id.model_dump())
        if link is not None:
            known = driver.link_of(link.partner_id)
            if known is None:
                push["partner_links"] = link.model_dump()
                when["partner_links.partner_id"] = {"$ne": link.partner_id}
                changes.names.append("partner_links")
            elif link.partner_driver_ref and known.partner_driver_ref != link.partner_driver_ref:
                if known.partner_driver_ref is None:
                    when["partner_links.partner_id"] = link.partner_id
                    changes.put(
                        "partner_links",
                        link.partner_driver_ref,
                        path="partner_links.$.partner_driver_ref",
                    )
                else:
                    reviews.append(
                        self._queue.proposal(
                            driver.driver_id,
                            source,
                            "partner_driver_ref",
                            "differs",
                            link.partner_driver_ref,
                            known.partner_driver_ref,
                            partner_id=link.partner_id,
                        )
                    )
        if plate:
            reviews.extend(await self._merge_plate(driver, source, plate, changes))
        for review in reviews:
            await self._queue.add(review)
        if not changes.names:
            return driver
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
        updated = await self._records.drivers.update(
            driver.driver_id,
            when=when,
            set_=changes.set_,
            unset=changes.unset,
            push=push,
            outbox=[self._records.outbox(event, driver.driver_id)],
        )
        if not updated:
            # Someone changed the driver meanwhile: merge again against what is there now.
            return await self._merge(
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

    async def _merge_plate(
        self, driver: Driver, source: str, plate: str, changes: Changes
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
                    driver.driver_id, source, "plate", "differs", normalised, current
                )
            ]
        vehicle = Vehicle(
            plate=normalised,
            driver_id=driver.driver_id,
            added_at=self._records.now(),
            source=source,
        )
        if driver.status != "deactivated" and await self._vehicles.claim(vehicle):
            changes.names.append("vehicles")
            return []
        return [self._queue.proposal(driver.driver_id, source, "plate", "plate_taken", normalised)]
