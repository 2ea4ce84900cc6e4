"""What the registry announced about drivers, and the rule that only active drivers use
stations."""

from __future__ import annotations

from datetime import datetime

from common.events.registry import BaseLocation, DriverKind
from stations.domain import DriverDeactivated, LastSeen, UnknownDriver
from stations.store.drivers import BASE, KIND, DriverFacts, DriverStore


class Drivers:
    def __init__(self, drivers: DriverStore) -> None:
        self._drivers = drivers

    async def active_driver(self, driver_id: str) -> DriverFacts:
        driver = await self._drivers.get(driver_id)
        if driver is None:
            raise UnknownDriver(f"driver {driver_id} is not known to the registry")
        if not driver.active:
            raise DriverDeactivated(f"driver {driver_id} is deactivated")
        return driver

    async def facts(self, driver_id: str) -> DriverFacts | None:
        return await self._drivers.get(driver_id)

    async def driver_registered(
        self,
        driver_id: str,
        at: datetime,
        kind: DriverKind = "container_truck",
        base: BaseLocation | None = None,
    ) -> None:
        await self._drivers.registered(driver_id, at, kind, base)

    async def driver_changed(
        self,
        driver_id: str,
        kind: DriverKind | None,
        base: BaseLocation | None,
        fields: list[str],
        at: datetime,
    ) -> None:
        """The kind or the declared base changed (only the fields named as changed), as the
        registry announced at ``at``."""
        changes: dict[str, object] = {}
        if "kind" in fields and kind is not None:
            changes[KIND] = kind
        if "base_location" in fields:
            changes[BASE] = base.model_dump() if base else None
        await self._drivers.changed(driver_id, changes, at)

    async def driver_deactivated(self, driver_id: str, at: datetime, erase: bool) -> None:
        await self._drivers.deactivated(driver_id, at, erase)

    async def driver_reactivated(self, driver_id: str, at: datetime) -> None:
        await self._drivers.reactivated(driver_id, at)

    async def saw(self, driver_id: str, judged_against: LastSeen | None, seen: LastSeen) -> bool:
        # Impossible travel is judged against the latest use judged possible.
        return await self._drivers.saw(driver_id, judged_against, seen)
