"""Handlers for ``registry.events``: a dossier for every driver, personal data erased."""

from __future__ import annotations

from cases.dossiers import Dossiers, DriverErased, DriverJoined
from common.dispatch import EventHandler, on
from common.events.registry import DriverDeactivated, DriverRegistered


class RegistryHandlers:
    def __init__(self, dossiers: Dossiers) -> None:
        self._dossiers = dossiers

    async def on_driver_registered(self, data: DriverRegistered) -> None:
        await self._dossiers.driver_joined(DriverJoined(data.driver_id, data.registered_at))

    async def on_driver_deactivated(self, data: DriverDeactivated) -> None:
        if data.erased:  # a deactivation alone leaves the cases as they are
            await self._dossiers.driver_erased(DriverErased(data.driver_id))

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "driver.registered.v1": on(DriverRegistered, self.on_driver_registered),
            "driver.deactivated.v1": on(DriverDeactivated, self.on_driver_deactivated),
        }
