"""Registration: by a driver, station, operator or partner, and from the port booking system.

The national ID (or, from the partner topic, its keyed hash) identifies a person: registering
again fills the gaps of the known record and queues differing values for review, never
overwriting silently. The plate is claimed before the driver is inserted, so a crash between
the two leaves a claim by a driver id that does not exist, which a later claim takes over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from common.events.partner import PartnerDriverRegistered
from common.events.registry import BaseLocation, DriverKind, DriverRegistered
from common.pii import (
    is_valid_national_id,
    is_valid_phone,
    normalise_national_id,
    normalise_phone,
)
from registry.domain import (
    Driver,
    InvalidDriverData,
    NationalIdRecord,
    PartnerLink,
    PlateTaken,
    RegistrationChannel,
    Vehicle,
    VehicleType,
    checked_plate,
    is_valid_plate,
    new_driver_id,
    normalise_plate,
)
from registry.oversight import Review
from registry.records import Actor, DriverRecords
from registry.registration_merge import KnownDriverMerge
from registry.review_queue import ReviewQueue
from registry.store.vehicles import VehicleStore, plate_filing
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
    kind: DriverKind = "container_truck"
    base_location: BaseLocation | None = None


@dataclass(frozen=True)
class NewDriver:
    """The checked input of one registration, to become a new driver."""

    record: NationalIdRecord
    channel: RegistrationChannel
    name: str | None
    phone: str | None
    plate: str | None
    vehicle_type: VehicleType
    fleet: str | None = None
    home_province: str | None = None
    languages: tuple[str, ...] = ()
    link: PartnerLink | None = None
    kind: DriverKind = "container_truck"
    base_location: BaseLocation | None = None


@dataclass(frozen=True)
class Registered:
    """A registration's answer: the driver, whether this call created them, and the plates
    they hold when that is known without reading (a driver just created holds what was
    claimed for them; None: read them)."""

    driver: Driver
    created: bool
    vehicles: list[Vehicle] | None = None


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
        self._known = KnownDriverMerge(
            records, vehicles=vehicles, vehicle_store=vehicle_store, queue=queue
        )

    async def register_driver(
        self, registration: Registration, channel: RegistrationChannel, actor: Actor
    ) -> Registered:
        """Register a driver; the same national ID again returns the existing driver.

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
            existing = await self._records.drivers.by_national_id_hash(
                self._records.pii.hashes("national_id", national_id), record.partner_hashes
            )
            if existing is not None and channel == "self":
                # Knowing an ID number is not enough to change someone's record.
                return Registered(existing, created=False)
            if existing is not None:
                merged = await self._known.merge(
                    existing,
                    source=f"registration/{channel}",
                    name=registration.name,
                    phone=phone,
                    national_id=record,
                    plate=plate,
                    link=link,
                )
                return Registered(merged, created=False)
            created = await self._create(
                NewDriver(
                    record,
                    channel=channel,
                    name=registration.name,
                    phone=phone,
                    plate=plate,
                    vehicle_type=registration.vehicle_type,
                    fleet=registration.fleet,
                    home_province=registration.home_province,
                    languages=registration.languages,
                    link=link,
                    kind=registration.kind,
                    base_location=registration.base_location,
                ),
                source=f"registration/{channel}",
                on_plate_taken="refuse",
            )
            if created is not None:
                return created
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
        # The partner hashes with its own key, never the registry's: match under each of its keys.
        candidates = self._records.pii.partner_candidates(partner_id, data.national_id_hash)
        if not candidates:
            raise InvalidDriverData("national_id_hash", f"partner {partner_id} has no hash key")
        for _ in range(3):
            existing = await self._records.drivers.by_national_id_hash(candidates, candidates)
            if existing is not None:
                return await self._known.merge(
                    existing, source=source, name=name, plate=data.plate, link=link
                )
            created = await self._create(
                NewDriver(
                    NationalIdRecord(hash=candidates[0], partner_hashes=tuple(candidates)),
                    channel="partner",
                    name=name,
                    phone=None,
                    plate=data.plate,
                    vehicle_type="container_tractor",
                    link=link,
                ),
                source=source,
                on_plate_taken="review",
            )
            if created is not None:
                return created.driver
        raise RuntimeError("partner registration raced three times without a winner")

    async def _create(
        self, new: NewDriver, *, source: str, on_plate_taken: str
    ) -> Registered | None:
        """Insert a new driver; None when the national ID hash turned up meanwhile."""
        now = self._records.now()
        driver_id = new_driver_id()
        fleet_doc = await self._units.resolve_fleet(new.fleet)
        link = new.link
        driver = Driver(
            driver_id=driver_id,
            name=new.name,
            national_id=new.record,
            phone=self._records.protect_phone(new.phone) if new.phone else None,
            home_province=new.home_province,
            languages=list(new.languages),
            kind=new.kind,
            base_location=new.base_location,
            fleet_id=fleet_doc.fleet_id if fleet_doc else None,
            fleet=fleet_doc.name if fleet_doc else None,
            partner_links=[link] if link else [],
            channel=new.channel,
            created_at=now,
            updated_at=now,
        )
        reviews: list[Review] = []
        vehicle = self._plate_to_claim(new, driver_id, source, now, reviews)
        drivers = self._records.drivers
        filings = dict([drivers.filing(driver)])
        if vehicle is not None:
            filings.update([plate_filing(vehicle)])
        # The driver's keys and the plate listed first, in one write: a crash after it leaves
        # entries naming a driver that does not exist or a plate it does not hold (reads skip
        # both), never a stored driver or held plate that lookups cannot find.
        await drivers.lookups.add_each(filings)
        try:
            claimed = await self._claim(vehicle, on_plate_taken, source, reviews)
        except PlateTaken:
            await drivers.lookups.remove(driver_id, filings[driver_id])
            raise
        event = DriverRegistered(
            driver_id=driver_id,
            channel=new.channel,
            registered_at=now,
            fleet=driver.fleet,
            home_province=new.home_province,
            language=new.languages[0] if new.languages else None,
            fleet_id=driver.fleet_id,
            grid_id=driver.grid_id,
            partner_id=link.partner_id if link else None,
            partner_driver_ref=link.partner_driver_ref if link else None,
            kind=driver.kind,
            base_location=driver.base_location if driver.has_consent("location") else None,
        )
        try:
            inserted = await drivers.insert_new(
                driver, [self._records.outbox(event, driver_id)], filed=filings[driver_id]
            )
        except BaseException:
            if claimed:
                await self._vehicle_store.release(claimed.plate, driver_id)
            raise
        if not inserted:
            if claimed:
                await self._vehicle_store.release(claimed.plate, driver_id)
            return None
        for review in reviews:
            await self._queue.add(review)
        await self._records.announce_inserted(inserted)
        return Registered(driver, created=True, vehicles=[claimed] if claimed else [])

    def _plate_to_claim(
        self, new: NewDriver, driver_id: str, source: str, now: datetime, reviews: list[Review]
    ) -> Vehicle | None:
        """The vehicle a new driver's plate asks for; an invalid plate goes to review."""
        if new.plate is None:
            return None
        normalised = normalise_plate(new.plate)
        if not is_valid_plate(normalised):
            reviews.append(
                self._queue.proposal(driver_id, source, "plate", "invalid_format", new.plate)
            )
            return None
        return Vehicle(
            plate=normalised,
            driver_id=driver_id,
            vehicle_type=new.vehicle_type,
            added_at=now,
            source=source,
        )

    async def _claim(
        self, vehicle: Vehicle | None, on_plate_taken: str, source: str, reviews: list[Review]
    ) -> Vehicle | None:
        """Claim the plate (already listed) before the driver is inserted: a crash in between
        leaves a claim by a driver id that does not exist, which ``Vehicles.claim`` treats as
        stale. A plate another driver holds is refused, or sent to review."""
        if vehicle is None:
            return None
        if await self._vehicles.claim(vehicle, listed=True):
            return vehicle
        if on_plate_taken == "refuse":
            raise PlateTaken(vehicle.plate)
        reviews.append(
            self._queue.proposal(vehicle.driver_id, source, "plate", "plate_taken", vehicle.plate)
        )
        return None
