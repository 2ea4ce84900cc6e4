"""Vehicles and port passes: a plate belongs to one active driver at a time."""

from __future__ import annotations

from datetime import date, timedelta

from registry.domain import (
    Conflict,
    NotFound,
    PlateTaken,
    Vehicle,
    VehicleType,
    checked_plate,
    normalise_plate,
)
from registry.records import DriverRecords
from registry.store.vehicles import VehicleStore

# A plate held by a driver id that never got its document (a registration that crashed between
# the two writes) may be taken over after this long.
STALE_CLAIM = timedelta(seconds=60)


class Vehicles:
    def __init__(self, records: DriverRecords, vehicles: VehicleStore) -> None:
        self._records = records
        self._vehicles = vehicles

    async def add_vehicle(
        self,
        driver_id: str,
        plate: str,
        vehicle_type: VehicleType,
        pass_number: str | None,
        pass_expires_on: date | None,
    ) -> tuple[Vehicle, bool]:
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        if driver.status == "deactivated":
            raise Conflict("a deactivated driver cannot hold a plate", code="deactivated")
        normalised = checked_plate(plate)
        before = await self._vehicles.get(normalised)
        vehicle = Vehicle(
            plate=normalised,
            driver_id=driver_id,
            vehicle_type=vehicle_type,
            pass_number=pass_number,
            pass_expires_on=pass_expires_on,
            added_at=self._records.now(),
            source="operator",
        )
        if not await self.claim(vehicle):
            raise PlateTaken(normalised)
        # An erasure between the read above and the claim forgot the driver's plates before
        # this one was listed. It marks the driver erased first, so read again: a plate claimed
        # for an erased driver is forgotten here, or by the erasure still running.
        again = await self._records.get_driver(driver_id)
        if again.erased:
            await self._vehicles.forget_driver(driver_id)
            again.require_not_erased()
        if again.status == "deactivated":
            # Deactivated meanwhile: the deactivation freed the driver's plates before this one
            # was claimed, so this one is freed here (another driver may take it).
            await self._vehicles.set_holder_active(driver_id, False)
            raise Conflict("a deactivated driver cannot hold a plate", code="deactivated")
        created = before is None or before.driver_id != driver_id
        if created:
            await self._records.announce_change(driver_id, ["vehicles"])
        stored = await self._vehicles.get(normalised)
        assert stored is not None
        return stored, created

    async def update_pass(
        self, driver_id: str, plate: str, pass_number: str | None, expires_on: date | None
    ) -> Vehicle:
        normalised = normalise_plate(plate)
        if not await self._vehicles.update_pass(normalised, driver_id, pass_number, expires_on):
            raise NotFound("vehicle")
        stored = await self._vehicles.get(normalised)
        assert stored is not None
        return stored

    async def remove_vehicle(self, driver_id: str, plate: str) -> None:
        if not await self._vehicles.release(normalise_plate(plate), driver_id):
            raise NotFound("vehicle")
        await self._records.announce_change(driver_id, ["vehicles"])

    async def passes_due(
        self, by: date, *, after: tuple[str, str] | None, limit: int
    ) -> list[Vehicle]:
        return await self._vehicles.passes_due(by, after=after, limit=limit)

    async def claim(self, vehicle: Vehicle, *, listed: bool = False) -> bool:
        """Take the plate for the vehicle's driver; False when another driver holds it.
        ``listed``: the caller has just listed the plate under the driver."""
        if await self._vehicles.claim(vehicle, listed=listed) is not None:
            return True
        holder = await self._vehicles.get(vehicle.plate)
        if holder is None:  # released meanwhile: try once more
            return await self._vehicles.claim(vehicle) is not None
        stale = holder.added_at < self._records.now() - STALE_CLAIM
        if stale and not await self._records.drivers.exists(holder.driver_id):
            return await self._vehicles.take_over(vehicle, from_driver=holder.driver_id)
        return False
