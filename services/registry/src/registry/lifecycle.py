"""A driver's lifecycle: change details, deactivate, reactivate, erase personal data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection

from common.events.registry import BaseLocation, DriverDeactivated, DriverUpdated
from common.pii import is_valid_national_id, is_valid_phone, normalise_national_id, normalise_phone
from registry.domain import Conflict, DeactivationReason, Driver, InvalidDriverData
from registry.records import Actor, Changes, DriverRecords
from registry.store.drivers import PERSONAL_FIELDS
from registry.store.fleets import FleetStore
from registry.store.grids import GridStore
from registry.store.reviews import ReviewStore
from registry.store.vehicles import VehicleStore

_FieldChange = Callable[[Changes, Driver, Any], Awaitable[None]]


class ForgetsDriver(Protocol):
    """A registry store that keeps a driver's id beside the driver record."""

    async def delete_of(self, driver_id: str) -> None: ...


# Checked by the request alone: any value is acceptable, only a change is noted.
_PLAIN_FIELDS = ("home_province", "photo_ref", "languages", "kind")
# A deactivation writes at the status it read; it reads again this often if that keeps changing.
_STATUS_ATTEMPTS = 5


def _plain_change(changes: Changes, driver: Driver, name: str, value: Any) -> None:
    # An empty list and a missing value mean the same: nothing recorded.
    if (value or None) != (getattr(driver, name) or None):
        changes.put(name, value or None)


def _announced_base(driver: Driver, changes: Changes) -> dict[str, Any]:
    """A changed base is announced only while the driver consents to location; without it
    the event names the field and carries no value (consumers forget what they had)."""
    if "base_location" not in changes.names or not driver.has_consent("location"):
        return {}
    return {"base_location": changes.set_.get("base_location")}


class Lifecycle:
    def __init__(
        self,
        records: DriverRecords,
        *,
        fleets: FleetStore,
        grids: GridStore,
        vehicles: VehicleStore,
        reviews: ReviewStore,
        idempotency_keys: AsyncCollection[dict[str, Any]] | None,
        forget_with: Sequence[ForgetsDriver] = (),
    ) -> None:
        self._records = records
        self._fleets = fleets
        self._grids = grids
        self._vehicles = vehicles
        self._reviews = reviews
        self._idempotency_keys = idempotency_keys
        self._forget_with = tuple(forget_with)
        self._field_changes: dict[str, _FieldChange] = {
            "name": self._name_change,
            "phone": self._phone_change,
            "national_id": self._national_id_change,
            "fleet_id": self._fleet_change,
            "grid_id": self._grid_change,
            "status": self._status_change,
            "base_location": self._base_change,
        }

    async def update_driver(self, driver_id: str, given: dict[str, Any], actor: Actor) -> Driver:
        """Change the given fields; ``driver.updated.v1`` names the ones that changed."""
        for _ in range(_STATUS_ATTEMPTS):
            driver = await self._records.get_driver(driver_id)
            driver.require_not_erased()
            changes = await self.changes(driver, given)
            if not changes.names:
                return driver
            now = self._records.now()
            changes.set_["updated_at"] = now
            event = DriverUpdated(
                driver_id=driver_id,
                changed_fields=changes.names,
                updated_at=now,
                **changes.grouping(),
                **_announced_base(driver, changes),
            )
            # Written only at the version read: what was checked on it (the location consent
            # the base goes out under, the status a change starts from) may have changed, and a
            # deactivation or a withdrawal in between makes it read again rather than undo it.
            if await self._records.write(driver_id, changes, event, at_version=driver.updated_at):
                return await self._records.get_driver(driver_id)
        raise Conflict("the driver kept changing meanwhile; try again", code="changed-meanwhile")

    async def changes(self, driver: Driver, given: dict[str, Any]) -> Changes:
        """What the given values change on the driver (checked; also used by the census)."""
        changes = Changes()
        for name, value in given.items():
            if name in _PLAIN_FIELDS:
                _plain_change(changes, driver, name, value)
                continue
            change = self._field_changes.get(name)
            if change is None:
                raise InvalidDriverData(name, "cannot be changed here")
            await change(changes, driver, value)
        return changes

    async def _base_change(self, changes: Changes, driver: Driver, value: Any) -> None:
        new = BaseLocation.model_validate(value) if value is not None else None
        if new != driver.base_location:
            changes.put("base_location", new.model_dump() if new else None)

    async def _name_change(self, changes: Changes, driver: Driver, value: Any) -> None:
        if value != driver.name:
            changes.put("name", value)

    async def _phone_change(self, changes: Changes, driver: Driver, value: Any) -> None:
        if value is None:
            if driver.phone is not None:
                changes.put("phone", None)
            return
        phone = normalise_phone(value)
        if not is_valid_phone(phone):
            raise InvalidDriverData("phone", "not a valid mainland mobile number")
        if driver.phone is None or not self._records.pii.matches(driver.phone.hash, "phone", phone):
            changes.put("phone", self._records.protect_phone(phone).model_dump())

    async def _national_id_change(self, changes: Changes, driver: Driver, value: Any) -> None:
        number = normalise_national_id(value or "")
        if not is_valid_national_id(number):
            raise InvalidDriverData("national_id", "not a valid 18-character resident ID number")
        record = self._records.national_id(number)
        stored = driver.national_id
        if stored is not None and not self._records.same_national_id(stored, number):
            raise Conflict(
                "the national ID differs from the one registered; register the other "
                "person separately",
                code="national-id-differs",
            )
        if driver.national_id is None or driver.national_id.enc is None:
            changes.put("national_id", record.model_dump())

    async def _fleet_change(self, changes: Changes, driver: Driver, value: Any) -> None:
        if value == driver.fleet_id:
            return
        if value is None:
            changes.put("fleet_id", None)
            changes.put("fleet", None)
            return
        fleet = await self._fleets.get(value)
        if fleet is None:
            raise InvalidDriverData("fleet_id", "no such fleet")
        changes.put("fleet_id", fleet.fleet_id)
        changes.put("fleet", fleet.name)

    async def _grid_change(self, changes: Changes, driver: Driver, value: Any) -> None:
        if value == driver.grid_id:
            return
        if value is not None and await self._grids.get(value) is None:
            raise InvalidDriverData("grid_id", "no such grid")
        changes.put("grid_id", value)

    async def _status_change(self, changes: Changes, driver: Driver, value: Any) -> None:
        if value == driver.status:
            return
        if driver.status == "deactivated":
            raise Conflict("a deactivated driver is reactivated, not updated", code="deactivated")
        changes.put("status", value)

    async def deactivate(self, driver_id: str, reason: DeactivationReason, actor: Actor) -> Driver:
        for _ in range(_STATUS_ATTEMPTS):
            driver = await self._records.get_driver(driver_id)
            if driver.status == "deactivated":
                break
            now = self._records.now()
            event = DriverDeactivated(driver_id=driver_id, deactivated_at=now, reason=reason)
            # At the status read (not "$ne deactivated"): {_id, status} is a unique index the
            # local store finds by index; a status changed meanwhile is read again.
            if await self._records.drivers.update(
                driver_id,
                when={"status": driver.status},
                set_={"status": "deactivated", "status_reason": reason, "updated_at": now},
                outbox=[self._records.outbox(event, driver_id)],
            ):
                await self._records.announce(driver_id)
                break
        else:
            raise Conflict("the driver kept changing meanwhile; try again")
        # Always (also on a retry after a crash): a deactivated driver's plates are free.
        await self._vehicles.set_holder_active(driver_id, False)
        return await self._records.get_driver(driver_id)

    async def reactivate(self, driver_id: str, actor: Actor) -> Driver:
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        if driver.status == "deactivated":
            now = self._records.now()
            event = DriverUpdated(driver_id=driver_id, changed_fields=["status"], updated_at=now)
            await self._records.drivers.update(
                driver_id,
                when={"status": "deactivated", "erased": False},
                set_={"status": "active", "updated_at": now},
                unset=["status_reason"],
                outbox=[self._records.outbox(event, driver_id)],
            )
            await self._records.announce(driver_id)
        # Plates another driver took meanwhile now name that driver and stay theirs.
        await self._vehicles.set_holder_active(driver_id, True)
        again = await self._records.get_driver(driver_id)
        if again.status == "deactivated":
            # Deactivated again after this reactivation's write: that deactivation freed the
            # plates before they were held again here.
            await self._vehicles.set_holder_active(driver_id, False)
        return again

    async def erase(self, driver_id: str, reason: DeactivationReason, actor: Actor) -> Driver:
        """Remove every personal value of a driver from the registry's database.

        What stays is pseudonymous: the id, status, dates, consent history (proof of what was
        allowed when) and verification records (who verified, which field names changed).
        """
        driver = await self._records.get_driver(driver_id)
        if not driver.erased:
            now = self._records.now()
            event = DriverDeactivated(
                driver_id=driver_id, deactivated_at=now, reason=reason, erased=True
            )
            await self._records.drivers.erasing(driver_id)
            await self._records.drivers.update(
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
                outbox=[self._records.outbox(event, driver_id)],
            )
        await self._finish_erasure(driver_id)
        await self._records.announce(driver_id)
        return await self._records.get_driver(driver_id)

    async def _finish_erasure(self, driver_id: str) -> None:
        await self._vehicles.forget_driver(driver_id)
        await self._reviews.forget_driver(driver_id)
        for store in self._forget_with:
            await store.delete_of(driver_id)
        if self._idempotency_keys is not None:
            # Stored answers to retried requests hold the driver's (masked) details.
            await self._idempotency_keys.delete_many(
                {"$or": [{"driver_ids": driver_id}, {"answer.driver_id": driver_id}]}
            )
        # Out of every lookup (the keys hold the name, phone and ID hashes).
        await self._records.drivers.lookups.sync(driver_id)
        await self._records.drivers.erased_fully(driver_id)

    async def finish_pending_erasures(self) -> int:
        """Complete erasures a crash interrupted (run at start-up)."""
        pending = await self._records.drivers.pending_erasures()
        for driver_id in pending:
            await self._finish_erasure(driver_id)
        return len(pending)
