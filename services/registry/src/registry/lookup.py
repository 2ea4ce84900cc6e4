"""Reading drivers: by id, with their vehicles, and searching (plate and phone become lookups)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.pii import is_valid_national_id, is_valid_phone, normalise_national_id, normalise_phone
from registry.domain import Driver, InvalidDriverData, Vehicle, normalise_plate
from registry.records import DriverRecords
from registry.store.drivers import DriverFilter
from registry.store.vehicles import VehicleStore


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
    # A subtree's members (issue 16) and a route grid's drivers.
    organisation_ids: list[str] | None = None
    grid_ids: list[str] | None = None
    route_grid_id: str | None = None
    partner_id: str | None = None


class Lookup:
    def __init__(self, records: DriverRecords, vehicles: VehicleStore) -> None:
        self._records = records
        self._vehicles = vehicles

    async def get_driver(self, driver_id: str) -> Driver:
        return await self._records.get_driver(driver_id)

    async def vehicles_of(self, driver_ids: list[str]) -> dict[str, list[Vehicle]]:
        return await self._vehicles.of_drivers(driver_ids)

    async def search(self, criteria: Search, *, after: str | None, limit: int) -> list[Driver]:
        driver_ids: list[str] | None = None
        if criteria.plate:
            vehicle = await self._vehicles.get(normalise_plate(criteria.plate))
            if vehicle is None:
                return []
            driver_ids = [vehicle.driver_id]
        pii = self._records.pii
        phone_hash = None
        if criteria.phone:
            phone = normalise_phone(criteria.phone)
            if not is_valid_phone(phone):
                raise InvalidDriverData("phone", "not a valid mainland mobile number")
            phone_hash = pii.hashes("phone", phone)
        id_hash = None
        if criteria.national_id:
            number = normalise_national_id(criteria.national_id)
            if not is_valid_national_id(number):
                raise InvalidDriverData(
                    "national_id", "not a valid 18-character resident ID number"
                )
            # A driver only a partner registered is known by the partner's hash alone.
            id_hash = pii.hashes("national_id", number) + pii.partner_hashes("national_id", number)
        where = DriverFilter(
            driver_ids=driver_ids,
            phone_hash=phone_hash,
            national_id_hash=id_hash,
            name_prefix=criteria.name_prefix,
            fleet_id=criteria.fleet_id,
            grid_id=criteria.grid_id,
            organisation_id=criteria.organisation_id,
            organisation_ids=criteria.organisation_ids,
            grid_ids=criteria.grid_ids,
            route_grid_id=criteria.route_grid_id,
            status=criteria.status,
            partner_id=criteria.partner_id,
        )
        return await self._records.drivers.search(where, after=after, limit=limit)
