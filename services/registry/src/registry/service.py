"""Registry use cases.

Every change to a driver is one single-document update that also pushes the event announcing
it into the document's outbox; the relay publishes it afterwards. Steps that touch a second
collection (a plate, a review) are idempotent and ordered so that a crash between them leaves
something the next attempt completes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from common.events import EventData, new_event
from common.events.partner import PartnerDriverRegistered
from common.events.registry import (
    DriverDeactivated,
    DriverRegistered,
    DriverUpdated,
    DriverVerified,
)
from common.logging import get_logger
from common.outbox import OutboxRelay, outbox_entry
from common.pii import (
    PiiProtector,
    ProtectedValue,
    is_valid_national_id,
    is_valid_phone,
    mask_national_id,
    mask_phone,
    normalise_national_id,
    normalise_phone,
)
from registry.domain import (
    AccessRecord,
    BranchType,
    Campaign,
    Child,
    Conflict,
    ConsentChannel,
    ConsentPurpose,
    ConsentRequired,
    ConsentState,
    DeactivationReason,
    Driver,
    DriverNotFound,
    Family,
    Fleet,
    FleetKind,
    Grid,
    InvalidDriverData,
    Membership,
    MembershipRole,
    NationalIdRecord,
    NotFound,
    Organisation,
    OrganisationKind,
    PartnerLink,
    PlateTaken,
    RegistrationChannel,
    RevealField,
    RevealPurpose,
    Review,
    ReviewDecision,
    ReviewStatus,
    SealedText,
    Vehicle,
    VehicleType,
    Verification,
    check_organisation,
    checked_plate,
    current_quarter,
    is_school_age,
    is_valid_plate,
    mask_name,
    new_driver_id,
    new_id,
    normalise_plate,
    quarter_start,
)
from registry.store.access_log import AccessLog
from registry.store.campaigns import CampaignStore
from registry.store.drivers import PERSONAL_FIELDS, DriverFilter, DriverStore
from registry.store.fleets import FleetStore
from registry.store.grids import GridStore
from registry.store.organisations import OrganisationStore
from registry.store.reviews import ReviewStore
from registry.store.vehicles import VehicleStore

log = get_logger(__name__)

EVENT_SOURCE = "driverhome/registry"
TOPIC = "registry.events"
# A plate held by a driver id that never got its document (a registration that crashed between
# the two writes) may be taken over after this long.
STALE_CLAIM = timedelta(seconds=60)
MAX_VERIFICATIONS_KEPT = 20
MAX_CONSENT_HISTORY = 200


@dataclass(frozen=True)
class Actor:
    """Who acts: recorded in consents, verifications, reviews and the access log."""

    sub: str
    role: str
    partner_id: str | None = None


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


@dataclass(frozen=True)
class ChildInput:
    name: str
    birth_year: int
    child_id: str | None = None


@dataclass(frozen=True)
class FamilyInput:
    spouse_name: str | None = None
    children: Sequence[ChildInput] = ()


@dataclass(frozen=True)
class Search:
    """Operator search criteria (plate and phone are turned into store lookups here)."""

    plate: str | None = None
    phone: str | None = None
    national_id: str | None = None
    name_prefix: str | None = None
    fleet_id: str | None = None
    grid_id: str | None = None
    organisation_id: str | None = None
    status: Any = None
    partner_id: str | None = None


@dataclass
class _Changes:
    set_: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def put(self, name: str, value: Any, *, path: str | None = None) -> None:
        if value is None:
            self.unset.append(path or name)
        else:
            self.set_[path or name] = value
        if name not in self.names:
            self.names.append(name)

    def grouping(self) -> dict[str, str]:
        """New values of the grouping fields that changed (fleet and grid ids are not PII)."""
        return {
            name: self.set_[name]
            for name in ("fleet_id", "fleet", "grid_id")
            if name in self.names and name in self.set_
        }


@dataclass(frozen=True)
class Stores:
    drivers: DriverStore
    vehicles: VehicleStore
    fleets: FleetStore
    grids: GridStore
    organisations: OrganisationStore
    campaigns: CampaignStore
    reviews: ReviewStore
    access_log: AccessLog
    idempotency_keys: AsyncCollection[dict[str, Any]] | None = None


@dataclass(frozen=True)
class GridProgress:
    grid_id: str | None
    drivers: int
    verified: int
    pending: int


class RegistryService:
    def __init__(
        self,
        stores: Stores,
        pii: PiiProtector,
        relay: OutboxRelay | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._s = stores
        self._pii = pii
        self._relay = relay
        self._now = clock

    def use_relay(self, relay: OutboxRelay | None) -> None:
        self._relay = relay

    # ------------------------------------------------------------------ registration

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
                linked_at=self._now(),
            )
            if channel == "partner" and actor.partner_id
            else None
        )
        record = self._national_id(national_id)
        for _ in range(3):
            existing = await self._s.drivers.by_national_id_hash(record.hash)
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
            linked_at=self._now(),
        )
        name = data.name.strip() if data.name and data.name.strip() else None
        for _ in range(3):
            existing = await self._s.drivers.by_national_id_hash(data.national_id_hash)
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
        now = self._now()
        driver_id = new_driver_id()
        fleet_doc = await self._resolve_fleet(fleet)
        driver = Driver(
            driver_id=driver_id,
            name=name,
            national_id=record,
            phone=self._protect_phone(phone) if phone else None,
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
                reviews.append(self._review(driver_id, source, "plate", "invalid_format", plate))
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
                if await self._claim(vehicle):
                    claimed = normalised
                elif on_plate_taken == "refuse":
                    raise PlateTaken(normalised)
                else:
                    reviews.append(
                        self._review(driver_id, source, "plate", "plate_taken", normalised)
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
        )
        try:
            inserted = await self._s.drivers.insert_new(driver, [self._outbox(event, driver_id)])
        except BaseException:
            if claimed:
                await self._s.vehicles.release(claimed, driver_id)
            raise
        if not inserted:
            if claimed:
                await self._s.vehicles.release(claimed, driver_id)
            return None
        for review in reviews:
            await self._s.reviews.add(review)
        await self._announce(driver_id)
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
        changes = _Changes()
        reviews: list[Review] = []
        push: dict[str, Any] = {}
        when: dict[str, Any] = {"updated_at": driver.updated_at}
        if name:
            if not driver.name:
                changes.put("name", name)
            elif name != driver.name:
                reviews.append(
                    self._review(driver.driver_id, source, "name", "differs", name, driver.name)
                )
        if phone:
            if driver.phone is None:
                changes.put("phone", self._protect_phone(phone).model_dump())
            elif self._pii.hash("phone", phone) != driver.phone.hash:
                reviews.append(
                    self._review(
                        driver.driver_id,
                        source,
                        "phone",
                        "differs",
                        mask_phone(phone),
                        driver.phone.masked,
                        raw=phone,
                        enc=self._pii.encrypt("phone", phone),
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
                        self._review(
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
            await self._s.reviews.add(review)
        if not changes.names:
            return driver
        now = self._now()
        changes.set_["updated_at"] = now
        event = DriverUpdated(
            driver_id=driver.driver_id,
            changed_fields=changes.names,
            updated_at=now,
            **changes.grouping(),
        )
        updated = await self._s.drivers.update(
            driver.driver_id,
            when=when,
            set_=changes.set_,
            unset=changes.unset,
            push=push,
            outbox=[self._outbox(event, driver.driver_id)],
        )
        if not updated:
            # Someone changed the driver meanwhile: merge again against what is there now.
            return await self._merge(
                await self.get_driver(driver.driver_id),
                source=source,
                name=name,
                phone=phone,
                national_id=national_id,
                plate=plate,
                link=link,
                attempt=attempt + 1,
            )
        await self._announce(driver.driver_id)
        return await self.get_driver(driver.driver_id)

    async def _merge_plate(
        self, driver: Driver, source: str, plate: str, changes: _Changes
    ) -> list[Review]:
        normalised = normalise_plate(plate)
        if not is_valid_plate(normalised):
            return [self._review(driver.driver_id, source, "plate", "invalid_format", plate)]
        held = await self._s.vehicles.of_driver(driver.driver_id)
        if any(v.plate == normalised for v in held):
            return []
        if held:
            current = ", ".join(v.plate for v in held)
            return [self._review(driver.driver_id, source, "plate", "differs", normalised, current)]
        vehicle = Vehicle(
            plate=normalised, driver_id=driver.driver_id, added_at=self._now(), source=source
        )
        if driver.status != "deactivated" and await self._claim(vehicle):
            changes.names.append("vehicles")
            return []
        return [self._review(driver.driver_id, source, "plate", "plate_taken", normalised)]

    # ------------------------------------------------------------------ reading and search

    async def get_driver(self, driver_id: str) -> Driver:
        driver = await self._s.drivers.by_id(driver_id)
        if driver is None:
            raise DriverNotFound(driver_id)
        return driver

    async def vehicles_of(self, driver_ids: list[str]) -> dict[str, list[Vehicle]]:
        return await self._s.vehicles.of_drivers(driver_ids)

    async def search(self, criteria: Search, *, after: str | None, limit: int) -> list[Driver]:
        driver_ids: list[str] | None = None
        if criteria.plate:
            vehicle = await self._s.vehicles.get(normalise_plate(criteria.plate))
            if vehicle is None:
                return []
            driver_ids = [vehicle.driver_id]
        phone_hash = None
        if criteria.phone:
            phone = normalise_phone(criteria.phone)
            if not is_valid_phone(phone):
                raise InvalidDriverData("phone", "not a valid mainland mobile number")
            phone_hash = self._pii.hash("phone", phone)
        id_hash = None
        if criteria.national_id:
            number = normalise_national_id(criteria.national_id)
            if not is_valid_national_id(number):
                raise InvalidDriverData(
                    "national_id", "not a valid 18-character resident ID number"
                )
            id_hash = self._pii.hash("national_id", number)
        where = DriverFilter(
            driver_ids=driver_ids,
            phone_hash=phone_hash,
            national_id_hash=id_hash,
            name_prefix=criteria.name_prefix,
            fleet_id=criteria.fleet_id,
            grid_id=criteria.grid_id,
            organisation_id=criteria.organisation_id,
            status=criteria.status,
            partner_id=criteria.partner_id,
        )
        return await self._s.drivers.search(where, after=after, limit=limit)

    # ------------------------------------------------------------------ lifecycle

    async def update_driver(self, driver_id: str, given: dict[str, Any], actor: Actor) -> Driver:
        """Change the given fields; ``driver.updated.v1`` names the ones that changed."""
        driver = await self.get_driver(driver_id)
        driver.require_not_erased()
        changes = await self._changes(driver, given)
        if not changes.names:
            return driver
        now = self._now()
        changes.set_["updated_at"] = now
        event = DriverUpdated(
            driver_id=driver_id, changed_fields=changes.names, updated_at=now, **changes.grouping()
        )
        await self._write(driver_id, changes, event)
        return await self.get_driver(driver_id)

    async def _changes(self, driver: Driver, given: dict[str, Any]) -> _Changes:
        changes = _Changes()
        for name, value in given.items():
            if name == "name":
                if value != driver.name:
                    changes.put("name", value)
            elif name == "phone":
                if value is None:
                    if driver.phone is not None:
                        changes.put("phone", None)
                    continue
                phone = normalise_phone(value)
                if not is_valid_phone(phone):
                    raise InvalidDriverData("phone", "not a valid mainland mobile number")
                if driver.phone is None or driver.phone.hash != self._pii.hash("phone", phone):
                    changes.put("phone", self._protect_phone(phone).model_dump())
            elif name == "national_id":
                number = normalise_national_id(value or "")
                if not is_valid_national_id(number):
                    raise InvalidDriverData(
                        "national_id", "not a valid 18-character resident ID number"
                    )
                record = self._national_id(number)
                if driver.national_id is not None and driver.national_id.hash != record.hash:
                    raise Conflict(
                        "the national ID differs from the one registered; register the other "
                        "person separately",
                        code="national-id-differs",
                    )
                if driver.national_id is None or driver.national_id.enc is None:
                    changes.put("national_id", record.model_dump())
            elif name == "fleet_id":
                if value == driver.fleet_id:
                    continue
                if value is None:
                    changes.put("fleet_id", None)
                    changes.put("fleet", None)
                    continue
                fleet = await self._s.fleets.get(value)
                if fleet is None:
                    raise InvalidDriverData("fleet_id", "no such fleet")
                changes.put("fleet_id", fleet.fleet_id)
                changes.put("fleet", fleet.name)
            elif name == "grid_id":
                if value == driver.grid_id:
                    continue
                if value is not None and await self._s.grids.get(value) is None:
                    raise InvalidDriverData("grid_id", "no such grid")
                changes.put("grid_id", value)
            elif name == "status":
                if value == driver.status:
                    continue
                if driver.status == "deactivated":
                    raise Conflict(
                        "a deactivated driver is reactivated, not updated", code="deactivated"
                    )
                changes.put("status", value)
            elif name in ("home_province", "photo_ref", "languages"):
                # An empty list and a missing value mean the same: nothing recorded.
                if (value or None) != (getattr(driver, name) or None):
                    changes.put(name, value or None)
            else:
                raise InvalidDriverData(name, "cannot be changed here")
        return changes

    async def deactivate(self, driver_id: str, reason: DeactivationReason, actor: Actor) -> Driver:
        driver = await self.get_driver(driver_id)
        if driver.status != "deactivated":
            now = self._now()
            event = DriverDeactivated(driver_id=driver_id, deactivated_at=now, reason=reason)
            await self._s.drivers.update(
                driver_id,
                when={"status": {"$ne": "deactivated"}},
                set_={"status": "deactivated", "status_reason": reason, "updated_at": now},
                outbox=[self._outbox(event, driver_id)],
            )
            await self._announce(driver_id)
        # Always (also on a retry after a crash): a deactivated driver's plates are free.
        await self._s.vehicles.set_holder_active(driver_id, False)
        return await self.get_driver(driver_id)

    async def reactivate(self, driver_id: str, actor: Actor) -> Driver:
        driver = await self.get_driver(driver_id)
        driver.require_not_erased()
        if driver.status == "deactivated":
            now = self._now()
            event = DriverUpdated(driver_id=driver_id, changed_fields=["status"], updated_at=now)
            await self._s.drivers.update(
                driver_id,
                when={"status": "deactivated", "erased": False},
                set_={"status": "active", "updated_at": now},
                unset=["status_reason"],
                outbox=[self._outbox(event, driver_id)],
            )
            await self._announce(driver_id)
        # Plates another driver took meanwhile now name that driver and stay theirs.
        await self._s.vehicles.set_holder_active(driver_id, True)
        return await self.get_driver(driver_id)

    async def erase(self, driver_id: str, reason: DeactivationReason, actor: Actor) -> Driver:
        """Remove every personal value of a driver from the registry's database.

        What stays is pseudonymous: the id, status, dates, consent history (proof of what was
        allowed when) and verification records (who verified, which field names changed).
        """
        driver = await self.get_driver(driver_id)
        if not driver.erased:
            now = self._now()
            event = DriverDeactivated(
                driver_id=driver_id, deactivated_at=now, reason=reason, erased=True
            )
            await self._s.drivers.update(
                driver_id,
                when={"erased": False},
                set_={
                    "status": "deactivated",
                    "status_reason": reason,
                    "erased": True,
                    "erased_at": now,
                    "erasure": "pending",
                    "updated_at": now,
                },
                unset=list(PERSONAL_FIELDS),
                outbox=[self._outbox(event, driver_id)],
            )
        await self._finish_erasure(driver_id)
        await self._announce(driver_id)
        return await self.get_driver(driver_id)

    async def _finish_erasure(self, driver_id: str) -> None:
        await self._s.vehicles.forget_driver(driver_id)
        await self._s.reviews.forget_driver(driver_id)
        if self._s.idempotency_keys is not None:
            # Stored answers to retried requests hold the driver's (masked) details.
            await self._s.idempotency_keys.delete_many({"answer.driver_id": driver_id})
        await self._s.drivers.update(driver_id, unset=["erasure"])

    async def finish_pending_erasures(self) -> int:
        """Complete erasures a crash interrupted (run at start-up)."""
        pending = await self._s.drivers.pending_erasures()
        for driver_id in pending:
            await self._finish_erasure(driver_id)
        return len(pending)

    # ------------------------------------------------------------------ vehicles and passes

    async def add_vehicle(
        self,
        driver_id: str,
        plate: str,
        vehicle_type: VehicleType,
        pass_number: str | None,
        pass_expires_on: date | None,
    ) -> tuple[Vehicle, bool]:
        driver = await self.get_driver(driver_id)
        driver.require_not_erased()
        if driver.status == "deactivated":
            raise Conflict("a deactivated driver cannot hold a plate", code="deactivated")
        normalised = checked_plate(plate)
        before = await self._s.vehicles.get(normalised)
        vehicle = Vehicle(
            plate=normalised,
            driver_id=driver_id,
            vehicle_type=vehicle_type,
            pass_number=pass_number,
            pass_expires_on=pass_expires_on,
            added_at=self._now(),
            source="operator",
        )
        if not await self._claim(vehicle):
            raise PlateTaken(normalised)
        created = before is None or before.driver_id != driver_id
        if created:
            await self._announce_change(driver_id, ["vehicles"])
        stored = await self._s.vehicles.get(normalised)
        assert stored is not None
        return stored, created

    async def update_pass(
        self, driver_id: str, plate: str, pass_number: str | None, expires_on: date | None
    ) -> Vehicle:
        normalised = normalise_plate(plate)
        if not await self._s.vehicles.update_pass(normalised, driver_id, pass_number, expires_on):
            raise NotFound("vehicle")
        stored = await self._s.vehicles.get(normalised)
        assert stored is not None
        return stored

    async def remove_vehicle(self, driver_id: str, plate: str) -> None:
        if not await self._s.vehicles.release(normalise_plate(plate), driver_id):
            raise NotFound("vehicle")
        await self._announce_change(driver_id, ["vehicles"])

    async def passes_due(
        self, by: date, *, after: tuple[str, str] | None, limit: int
    ) -> list[Vehicle]:
        return await self._s.vehicles.passes_due(by, after=after, limit=limit)

    async def _claim(self, vehicle: Vehicle) -> bool:
        if await self._s.vehicles.claim(vehicle) is not None:
            return True
        holder = await self._s.vehicles.get(vehicle.plate)
        if holder is None:  # released meanwhile: try once more
            return await self._s.vehicles.claim(vehicle) is not None
        stale = holder.added_at < self._now() - STALE_CLAIM
        if stale and not await self._s.drivers.exists(holder.driver_id):
            return await self._s.vehicles.take_over(vehicle, from_driver=holder.driver_id)
        return False

    # -------------------------------------------------------------- fleets, grids, organisations

    async def _resolve_fleet(self, fleet: str | None) -> Fleet | None:
        """A fleet named at registration: by id, by name, or new (unverified) by that name."""
        if not fleet:
            return None
        if fleet.startswith("flt_"):
            known = await self._s.fleets.get(fleet)
            if known is not None:
                return known
        return await self.create_fleet(fleet, "company", verified=False)

    async def create_fleet(self, name: str, kind: FleetKind, *, verified: bool = True) -> Fleet:
        fleet = Fleet(
            fleet_id=new_id("flt"), name=name, kind=kind, verified=verified, created_at=self._now()
        )
        return await self._s.fleets.insert(fleet)

    async def get_fleet(self, fleet_id: str) -> Fleet:
        fleet = await self._s.fleets.get(fleet_id)
        if fleet is None:
            raise NotFound("fleet")
        return fleet

    async def fleets(self, *, after: str | None, limit: int) -> list[Fleet]:
        return await self._s.fleets.page(after=after, limit=limit)

    async def create_grid(self, name: str, community: str, street: str | None) -> Grid:
        grid = Grid(
            grid_id=new_id("grd"),
            name=name,
            community=community,
            street=street,
            created_at=self._now(),
        )
        await self._s.grids.insert(grid)
        return grid

    async def get_grid(self, grid_id: str) -> Grid:
        grid = await self._s.grids.get(grid_id)
        if grid is None:
            raise NotFound("grid")
        return grid

    async def grids(self, *, after: str | None, limit: int) -> list[Grid]:
        return await self._s.grids.page(after=after, limit=limit)

    async def create_organisation(
        self,
        name: str,
        kind: OrganisationKind,
        branch_type: BranchType | None,
        grid_id: str | None,
        fleet_id: str | None,
    ) -> Organisation:
        check_organisation(kind, branch_type)
        if grid_id is not None:
            await self.get_grid(grid_id)
        if fleet_id is not None:
            await self.get_fleet(fleet_id)
        organisation = Organisation(
            organisation_id=new_id("org"),
            name=name,
            kind=kind,
            branch_type=branch_type,
            grid_id=grid_id,
            fleet_id=fleet_id,
            created_at=self._now(),
        )
        await self._s.organisations.insert(organisation)
        return organisation

    async def get_organisation(self, organisation_id: str) -> Organisation:
        organisation = await self._s.organisations.get(organisation_id)
        if organisation is None:
            raise NotFound("organisation")
        return organisation

    async def organisations(
        self, *, kind: OrganisationKind | None, after: str | None, limit: int
    ) -> list[Organisation]:
        return await self._s.organisations.page(kind=kind, after=after, limit=limit)

    async def add_member(
        self,
        organisation_id: str,
        driver_id: str,
        role: MembershipRole,
        mobile: bool,
        home_organisation: str | None,
    ) -> tuple[Membership, bool]:
        await self.get_organisation(organisation_id)
        driver = await self.get_driver(driver_id)
        driver.require_not_erased()
        known = driver.member_of(organisation_id)
        if known is not None:
            return known, False
        if home_organisation and not mobile:
            raise InvalidDriverData("home_organisation", "only mobile members have one elsewhere")
        now = self._now()
        membership = Membership(
            organisation_id=organisation_id,
            role=role,
            mobile=mobile,
            home_organisation=home_organisation,
            joined_at=now,
        )
        event = DriverUpdated(driver_id=driver_id, changed_fields=["memberships"], updated_at=now)
        added = await self._s.drivers.update(
            driver_id,
            when={"memberships.organisation_id": {"$ne": organisation_id}, "erased": False},
            set_={"updated_at": now},
            push={"memberships": membership.model_dump(exclude_none=True)},
            outbox=[self._outbox(event, driver_id)],
        )
        if not added:
            raced = (await self.get_driver(driver_id)).member_of(organisation_id)
            if raced is None:
                raise Conflict("the driver changed meanwhile; try again")
            return raced, False
        await self._announce(driver_id)
        return membership, True

    async def remove_member(self, organisation_id: str, driver_id: str) -> None:
        now = self._now()
        event = DriverUpdated(driver_id=driver_id, changed_fields=["memberships"], updated_at=now)
        removed = await self._s.drivers.update(
            driver_id,
            when={"memberships.organisation_id": organisation_id},
            set_={"updated_at": now},
            pull={"memberships": {"organisation_id": organisation_id}},
            outbox=[self._outbox(event, driver_id)],
        )
        if not removed:
            raise NotFound("membership")
        await self._announce(driver_id)

    # ------------------------------------------------------------------ consent and family

    async def set_consent(
        self,
        driver_id: str,
        purpose: ConsentPurpose,
        granted: bool,
        channel: ConsentChannel,
        actor: Actor,
    ) -> Driver:
        driver = await self.get_driver(driver_id)
        driver.require_not_erased()
        now = self._now()
        state = ConsentState(
            purpose=purpose, granted=granted, at=now, channel=channel, by=actor.sub
        )
        changes = _Changes()
        changes.put(f"consents.{purpose}", state.model_dump())
        if purpose == "family_services" and not granted and driver.family is not None:
            # Withdrawal ends the processing: the family details go with it.
            changes.put("family", None)
        changes.set_["updated_at"] = now
        event = DriverUpdated(driver_id=driver_id, changed_fields=changes.names, updated_at=now)
        await self._write(
            driver_id,
            changes,
            event,
            push={
                "consent_history": {"$each": [state.model_dump()], "$slice": -MAX_CONSENT_HISTORY}
            },
        )
        return await self.get_driver(driver_id)

    async def set_family(self, driver_id: str, family: FamilyInput, actor: Actor) -> Driver:
        driver = await self.get_driver(driver_id)
        driver.require_not_erased()
        if not driver.has_consent("family_services"):
            raise ConsentRequired("family_services")
        this_year = self._now().year
        known_ids = {c.child_id for c in (driver.family.children if driver.family else [])}
        children = []
        for child in family.children:
            if not 1990 <= child.birth_year <= this_year:
                raise InvalidDriverData("birth_year", f"must be between 1990 and {this_year}")
            if child.child_id is not None and child.child_id not in known_ids:
                raise InvalidDriverData("child_id", "not a child of this driver")
            children.append(
                Child(
                    child_id=child.child_id or new_id("chd"),
                    name=self._seal(child.name),
                    birth_year=child.birth_year,
                )
            )
        sealed = Family(
            spouse_name=self._seal(family.spouse_name) if family.spouse_name else None,
            children=children,
        )
        now = self._now()
        changes = _Changes()
        changes.put("family", sealed.model_dump(exclude_none=True))
        changes.set_["updated_at"] = now
        event = DriverUpdated(driver_id=driver_id, changed_fields=["family"], updated_at=now)
        # The consent is re-checked in the same atomic update: a withdrawal in between wins.
        written = await self._write(
            driver_id, changes, event, when={"consents.family_services.granted": True}
        )
        if not written:
            raise ConsentRequired("family_services")
        return await self.get_driver(driver_id)

    async def clear_family(self, driver_id: str, actor: Actor) -> Driver:
        driver = await self.get_driver(driver_id)
        if driver.family is None:
            return driver
        now = self._now()
        changes = _Changes()
        changes.put("family", None)
        changes.set_["updated_at"] = now
        event = DriverUpdated(driver_id=driver_id, changed_fields=["family"], updated_at=now)
        await self._write(driver_id, changes, event)
        return await self.get_driver(driver_id)

    def school_age(self, child: Child) -> bool:
        return is_school_age(child.birth_year, self._now().date())

    # ------------------------------------------------------------------ full reveal, audited

    async def reveal(
        self,
        driver_id: str,
        field_name: RevealField,
        purpose: RevealPurpose,
        case_ref: str | None,
        actor: Actor,
    ) -> Any:
        """A full value for a caller with ``pii:read``; the access is recorded first."""
        driver = await self.get_driver(driver_id)
        driver.require_not_erased()
        if field_name == "national_id" and (
            driver.national_id is None or not driver.national_id.enc
        ):
            raise NotFound("national ID number on record")
        if field_name == "phone" and driver.phone is None:
            raise NotFound("phone number on record")
        if field_name == "family" and driver.family is None:
            raise NotFound("family on record")
        now = self._now()
        await self._s.access_log.record(
            AccessRecord(
                access_id=f"acc_{int(now.timestamp() * 1_000_000):016x}{uuid.uuid4().hex[:8]}",
                driver_id=driver_id,
                field=field_name,
                purpose=purpose,
                case_ref=case_ref,
                by=actor.sub,
                role=actor.role,
                at=now,
            )
        )
        if field_name == "national_id":
            assert driver.national_id is not None and driver.national_id.enc is not None
            return self._pii.decrypt("national_id", driver.national_id.enc)
        if field_name == "phone":
            assert driver.phone is not None
            return self._pii.decrypt("phone", driver.phone.enc)
        assert driver.family is not None
        return {
            "spouse_name": self._unseal(driver.family.spouse_name),
            "children": [
                {
                    "child_id": c.child_id,
                    "name": self._unseal(c.name),
                    "birth_year": c.birth_year,
                    "school_age": self.school_age(c),
                }
                for c in driver.family.children
            ],
        }

    async def access_records(
        self, *, driver_id: str | None, after: str | None, limit: int
    ) -> list[AccessRecord]:
        return await self._s.access_log.page(driver_id=driver_id, after=after, limit=limit)

    # ------------------------------------------------------------------ census

    async def start_campaign(
        self, quarter: str | None, grid_ids: list[str], actor: Actor
    ) -> tuple[Campaign, bool]:
        """One campaign per quarter: starting it again answers the one that runs."""
        now = self._now()
        quarter = quarter or current_quarter(now)
        since = quarter_start(quarter)
        campaign_id = f"census-{quarter}"
        existing = await self._s.campaigns.get(campaign_id)
        if existing is not None:
            return existing, False
        for grid_id in grid_ids:
            await self.get_grid(grid_id)
        campaign = Campaign(
            campaign_id=campaign_id,
            quarter=quarter,
            verified_since=since,
            grid_ids=grid_ids,
            started_by=actor.sub,
            started_at=now,
        )
        try:
            await self._s.campaigns.insert(campaign)
        except Exception:
            raced = await self._s.campaigns.get(campaign_id)
            if raced is None:
                raise
            return raced, False
        return campaign, True

    async def get_campaign(self, campaign_id: str) -> Campaign:
        campaign = await self._s.campaigns.get(campaign_id)
        if campaign is None:
            raise NotFound("campaign")
        return campaign

    async def campaigns(self, *, after: str | None, limit: int) -> list[Campaign]:
        return await self._s.campaigns.page(after=after, limit=limit)

    async def campaign_progress(self, campaign_id: str) -> list[GridProgress]:
        campaign = await self.get_campaign(campaign_id)
        scope = DriverFilter(status="active", grid_ids=campaign.grid_ids or None)
        totals = await self._s.drivers.count_by_grid(scope)
        pending = await self._s.drivers.count_by_grid(
            DriverFilter(
                status="active",
                grid_ids=campaign.grid_ids or None,
                not_verified_since=campaign.verified_since,
            )
        )
        return [
            GridProgress(
                grid_id=grid_id,
                drivers=total,
                verified=total - pending.get(grid_id, 0),
                pending=pending.get(grid_id, 0),
            )
            for grid_id, total in sorted(totals.items(), key=lambda kv: kv[0] or "")
        ]

    async def campaign_pending(
        self, campaign_id: str, grid_id: str | None, *, after: str | None, limit: int
    ) -> list[Driver]:
        """Active drivers (of a grid) not verified since the campaign's quarter began."""
        campaign = await self.get_campaign(campaign_id)
        if grid_id and campaign.grid_ids and grid_id not in campaign.grid_ids:
            return []
        where = DriverFilter(
            status="active",
            grid_id=grid_id,
            grid_ids=campaign.grid_ids or None,
            not_verified_since=campaign.verified_since,
        )
        return await self._s.drivers.search(where, after=after, limit=limit)

    async def verify(
        self, driver_id: str, campaign_id: str | None, given: dict[str, Any], actor: Actor
    ) -> Driver:
        """Record a census verification: who, when and which fields it corrected."""
        if campaign_id is not None:
            await self.get_campaign(campaign_id)
        driver = await self.get_driver(driver_id)
        driver.require_not_erased()
        if driver.status == "deactivated":
            raise Conflict("a deactivated driver is not verified", code="deactivated")
        changes = await self._changes(driver, given)
        now = self._now()
        verification = Verification(
            verified_at=now,
            verified_by=actor.sub,
            campaign_id=campaign_id,
            changed_fields=list(changes.names),
        )
        changes.set_.update(
            {"updated_at": now, "last_verified_at": now, "last_verified_by": actor.sub}
        )
        event = DriverVerified(
            driver_id=driver_id,
            verified_at=now,
            verified_by=actor.sub,
            changed_fields=list(changes.names),
        )
        await self._write(
            driver_id,
            changes,
            event,
            push={
                "verifications": {
                    "$each": [verification.model_dump(exclude_none=True)],
                    "$slice": -MAX_VERIFICATIONS_KEPT,
                }
            },
        )
        return await self.get_driver(driver_id)

    # ------------------------------------------------------------------ review queue

    async def reviews(
        self,
        *,
        status: ReviewStatus | None,
        driver_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[Review]:
        return await self._s.reviews.page(
            status=status, driver_id=driver_id, after=after, limit=limit
        )

    async def resolve_review(
        self, review_id: str, decision: ReviewDecision, actor: Actor
    ) -> Review:
        review = await self._s.reviews.get(review_id)
        if review is None:
            raise NotFound("review")
        if review.status != "open":
            raise Conflict("this review was already resolved", code="review-resolved")
        if decision == "accept":
            await self._accept(review, actor)
        await self._s.reviews.resolve(
            review_id, "accepted" if decision == "accept" else "rejected", actor.sub, self._now()
        )
        resolved = await self._s.reviews.get(review_id)
        assert resolved is not None
        return resolved

    async def _accept(self, review: Review, actor: Actor) -> None:
        if review.reason == "invalid_format":
            raise Conflict("an invalid value can only be rejected", code="invalid-value")
        if review.field == "name":
            await self.update_driver(review.driver_id, {"name": review.proposed}, actor)
        elif review.field == "phone":
            assert review.proposed_enc is not None
            phone = self._pii.decrypt("phone", review.proposed_enc)
            await self.update_driver(review.driver_id, {"phone": phone}, actor)
        elif review.field == "plate":
            await self.add_vehicle(
                review.driver_id, review.proposed, "container_tractor", None, None
            )
        else:
            now = self._now()
            event = DriverUpdated(
                driver_id=review.driver_id, changed_fields=["partner_links"], updated_at=now
            )
            changes = _Changes(
                set_={"partner_links.$.partner_driver_ref": review.proposed, "updated_at": now}
            )
            if not await self._write(
                review.driver_id,
                changes,
                event,
                when={"partner_links.partner_id": review.partner_id},
            ):
                raise Conflict("the partner link is gone", code="link-gone")

    # ------------------------------------------------------------------ helpers

    def _national_id(self, number: str) -> NationalIdRecord:
        protected = self._pii.protect("national_id", number, mask_national_id(number))
        return NationalIdRecord(hash=protected.hash, enc=protected.enc, masked=protected.masked)

    def _protect_phone(self, phone: str) -> ProtectedValue:
        return self._pii.protect("phone", phone, mask_phone(phone))

    def _seal(self, text: str) -> SealedText:
        return SealedText(enc=self._pii.encrypt("family", text), masked=mask_name(text))

    def _unseal(self, sealed: SealedText | None) -> str | None:
        return self._pii.decrypt("family", sealed.enc) if sealed else None

    def _review(
        self,
        driver_id: str,
        source: str,
        field_name: Any,
        reason: Any,
        proposed: str,
        current: str | None = None,
        *,
        raw: str | None = None,
        enc: str | None = None,
        partner_id: str | None = None,
    ) -> Review:
        # The id derives from the cause, so the same disagreement is queued once; keyed, so it
        # does not reveal the proposed value.
        digest = self._pii.hash("review", f"{driver_id}|{source}|{field_name}|{raw or proposed}")
        if partner_id is None and source.startswith("partner/"):
            partner_id = source.removeprefix("partner/").split("/")[0]
        return Review(
            review_id=f"rev_{digest[:32]}",
            driver_id=driver_id,
            source=source,
            field=field_name,
            reason=reason,
            current=current,
            proposed=proposed,
            proposed_enc=enc,
            partner_id=partner_id,
            created_at=self._now(),
        )

    def _outbox(self, data: EventData, driver_id: str) -> dict[str, Any]:
        return outbox_entry(TOPIC, new_event(data, source=EVENT_SOURCE, subject=driver_id))

    async def _write(
        self,
        driver_id: str,
        changes: _Changes,
        event: EventData,
        *,
        when: dict[str, Any] | None = None,
        push: dict[str, Any] | None = None,
    ) -> bool:
        written = await self._s.drivers.update(
            driver_id,
            when={"erased": False, **(when or {})},
            set_=changes.set_,
            unset=changes.unset,
            push=push,
            outbox=[self._outbox(event, driver_id)],
        )
        if written:
            await self._announce(driver_id)
        return written

    async def _announce_change(self, driver_id: str, names: list[str]) -> None:
        now = self._now()
        event = DriverUpdated(driver_id=driver_id, changed_fields=names, updated_at=now)
        await self._write(driver_id, _Changes(set_={"updated_at": now}), event)

    async def _announce(self, driver_id: str) -> None:
        if self._relay is None:
            return
        try:
            await self._relay.flush(self._s.drivers.collection, driver_id)
        except Exception as exc:  # the state is stored; the sweeper publishes it later
            log.warning("announce deferred to outbox sweeper", error=type(exc).__name__)
