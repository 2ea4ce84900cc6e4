"""Handlers for ``registry.events``: a dossier for every driver, personal data erased, and the
district units drivers belong to (issue 16: case lists by grid subtree or route grid)."""

from __future__ import annotations

from typing import Any

from cases.census_referrals import CensusReferrals
from cases.dossiers import Dossiers, DriverErased, DriverJoined
from cases.store.units import DistrictUnits
from common.dispatch import EventHandler, on
from common.events.registry import (
    CensusNeedReferred,
    DriverDeactivated,
    DriverRegistered,
    DriverUpdated,
    GridPlaced,
    OrganisationPlaced,
)


class RegistryHandlers:
    def __init__(
        self,
        dossiers: Dossiers,
        units: DistrictUnits | None = None,
        referrals: CensusReferrals | None = None,
    ) -> None:
        self._dossiers = dossiers
        self._units = units
        self._referrals = referrals

    async def on_driver_registered(self, data: DriverRegistered) -> None:
        await self._dossiers.driver_joined(DriverJoined(data.driver_id, data.registered_at))
        if self._units is not None and data.grid_id:
            await self._units.note(data.driver_id, {"grid": data.grid_id}, data.registered_at)

    async def on_driver_deactivated(self, data: DriverDeactivated) -> None:
        if data.erased:  # a deactivation alone leaves the cases as they are
            await self._dossiers.driver_erased(DriverErased(data.driver_id))

    async def on_driver_updated(self, data: DriverUpdated) -> None:
        changed = set(data.changed_fields)
        facts: dict[str, Any] = {}
        if "grid_id" in changed:
            facts["grid"] = data.grid_id
        if "memberships" in changed and data.organisation_ids is not None:
            facts["organisations"] = data.organisation_ids
        if "route_grid_ids" in changed:
            facts["route_grids"] = data.route_grid_ids or []
        if self._units is not None and facts:
            await self._units.note(data.driver_id, facts, data.updated_at)

    async def on_organisation_placed(self, data: OrganisationPlaced) -> None:
        if self._units is not None:
            await self._units.place(
                "organisation", data.organisation_id, data.ancestor_ids, data.placed_at, data.kind
            )

    async def on_grid_placed(self, data: GridPlaced) -> None:
        if self._units is not None:
            await self._units.place("grid", data.grid_id, data.ancestor_ids, data.placed_at)

    async def on_need_referred(self, data: CensusNeedReferred) -> None:
        if self._referrals is not None:
            await self._referrals.refer(data)

    def handlers(self) -> dict[str, EventHandler]:
        handlers: dict[str, EventHandler] = {
            "driver.registered.v1": on(DriverRegistered, self.on_driver_registered),
            "driver.deactivated.v1": on(DriverDeactivated, self.on_driver_deactivated),
        }
        if self._units is not None:
            handlers |= {
                "driver.updated.v1": on(DriverUpdated, self.on_driver_updated),
                "organisation.placed.v1": on(OrganisationPlaced, self.on_organisation_placed),
                "grid.placed.v1": on(GridPlaced, self.on_grid_placed),
            }
        if self._referrals is not None:
            handlers["census.need_referred.v1"] = on(CensusNeedReferred, self.on_need_referred)
        return handlers
