"""Fleets, residence grids, organisations and their members."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from common.events.registry import DriverUpdated, GridPlaced, OrganisationPlaced
from registry.domain import (
    Conflict,
    InvalidDriverData,
    Membership,
    MembershipRole,
    NotFound,
    new_id,
)
from registry.groups import (
    BranchType,
    Fleet,
    FleetKind,
    Grid,
    GridLevel,
    Organisation,
    OrganisationKind,
    check_organisation,
)
from registry.records import DriverRecords
from registry.store.fleets import FleetStore
from registry.store.grids import GridStore
from registry.store.organisations import OrganisationStore
from registry.store.tree import settle_under_parent


class Units:
    def __init__(
        self,
        records: DriverRecords,
        fleets: FleetStore,
        grids: GridStore,
        organisations: OrganisationStore,
    ) -> None:
        self._records = records
        self._fleets = fleets
        self._grids = grids
        self._organisations = organisations

    @property
    def organisation_store(self) -> OrganisationStore:
        return self._organisations

    @property
    def grid_store(self) -> GridStore:
        return self._grids

    # ------------------------------------------------------------------ fleets

    async def resolve_fleet(self, fleet: str | None) -> Fleet | None:
        """A fleet named at registration: by id, by name, or new (unverified) by that name."""
        if not fleet:
            return None
        if fleet.startswith("flt_"):
            known = await self._fleets.get(fleet)
            if known is not None:
                return known
        return await self.create_fleet(fleet, "company", verified=False)

    async def create_fleet(self, name: str, kind: FleetKind, *, verified: bool = True) -> Fleet:
        fleet = Fleet(
            fleet_id=new_id("flt"),
            name=name,
            kind=kind,
            verified=verified,
            created_at=self._records.now(),
        )
        return await self._fleets.insert(fleet)

    async def get_fleet(self, fleet_id: str) -> Fleet:
        fleet = await self._fleets.get(fleet_id)
        if fleet is None:
            raise NotFound("fleet")
        return fleet

    async def fleets(self, *, after: str | None, limit: int) -> list[Fleet]:
        return await self._fleets.page(after=after, limit=limit)

    # ------------------------------------------------------------------ grids

    async def create_grid(
        self,
        name: str,
        community: str,
        street: str | None,
        station_id: str | None = None,
        *,
        parent_id: str | None = None,
        level: GridLevel | None = None,
    ) -> Grid:
        ancestors: list[str] = []
        if parent_id is not None:
            parent = await self.get_grid(parent_id)
            ancestors = [*parent.ancestor_ids, parent_id]
        grid = Grid(
            grid_id=new_id("grd"),
            name=name,
            community=community,
            street=street,
            station_id=station_id,
            created_at=self._records.now(),
            parent_id=parent_id,
            ancestor_ids=ancestors,
            level=level,
        )
        placed = GridPlaced(
            grid_id=grid.grid_id,
            level=level,
            parent_id=parent_id,
            ancestor_ids=ancestors,
            placed_at=grid.created_at,
        )
        await self._grids.insert(grid, [self._records.outbox(placed, grid.grid_id)])
        final = await self._settled(self._grids.collection, grid.grid_id, parent_id, placed)
        grid = grid.model_copy(update={"ancestor_ids": final})
        await self._records.announce_in(self._grids.collection, grid.grid_id)
        return grid

    async def assign_station(self, grid_id: str, station_id: str | None) -> Grid:
        """Which station's staff census the grid (None: operators only)."""
        if not await self._grids.set_station(grid_id, station_id):
            raise NotFound("grid")
        return await self.get_grid(grid_id)

    async def grids_of_station(self, station_id: str) -> list[str]:
        """A station's census assignment: the grids its staff verify."""
        return await self._grids.ids_of_station(station_id)

    async def get_grid(self, grid_id: str) -> Grid:
        grid = await self._grids.get(grid_id)
        if grid is None:
            raise NotFound("grid")
        return grid

    async def grids(self, *, after: str | None, limit: int) -> list[Grid]:
        return await self._grids.page(after=after, limit=limit)

    # ------------------------------------------------------------------ organisations

    async def create_organisation(
        self,
        name: str,
        kind: OrganisationKind,
        branch_type: BranchType | None,
        grid_id: str | None,
        fleet_id: str | None,
        *,
        parent_id: str | None = None,
        departments: list[str] | None = None,
    ) -> Organisation:
        check_organisation(kind, branch_type)
        if grid_id is not None:
            await self.get_grid(grid_id)
        if fleet_id is not None:
            await self.get_fleet(fleet_id)
        ancestors: list[str] = []
        if parent_id is not None:
            parent = await self.get_organisation(parent_id)
            ancestors = [*parent.ancestor_ids, parent_id]
        organisation = Organisation(
            organisation_id=new_id("org"),
            name=name,
            kind=kind,
            branch_type=branch_type,
            grid_id=grid_id,
            fleet_id=fleet_id,
            created_at=self._records.now(),
            parent_id=parent_id,
            ancestor_ids=ancestors,
            departments=departments or [],
        )
        placed = OrganisationPlaced(
            organisation_id=organisation.organisation_id,
            kind=kind,
            parent_id=parent_id,
            ancestor_ids=ancestors,
            placed_at=organisation.created_at,
        )
        oid = organisation.organisation_id
        await self._organisations.insert(organisation, [self._records.outbox(placed, oid)])
        final = await self._settled(self._organisations.collection, oid, parent_id, placed)
        organisation = organisation.model_copy(update={"ancestor_ids": final})
        await self._records.announce_in(self._organisations.collection, oid)
        return organisation

    async def _settled(
        self,
        collection: Any,
        node_id: str,
        parent_id: str | None,
        placed: GridPlaced | OrganisationPlaced,
    ) -> list[str]:
        """The new node's ancestors once any move of its parent meanwhile is followed."""
        if parent_id is None:
            return list(placed.ancestor_ids)

        def placed_under(ancestors: list[str]) -> dict[str, Any]:
            moved = placed.model_copy(update={"ancestor_ids": ancestors})
            return self._records.outbox(moved, node_id)

        return await settle_under_parent(
            collection, node_id, parent_id, list(placed.ancestor_ids), placed_under
        )

    async def get_organisation(self, organisation_id: str) -> Organisation:
        organisation = await self._organisations.get(organisation_id)
        if organisation is None:
            raise NotFound("organisation")
        return organisation

    async def organisations(
        self, *, kind: OrganisationKind | None, after: str | None, limit: int
    ) -> list[Organisation]:
        return await self._organisations.page(kind=kind, after=after, limit=limit)

    # ------------------------------------------------------------------ members

    async def add_member(
        self,
        organisation_id: str,
        driver_id: str,
        role: MembershipRole,
        mobile: bool,
        home_organisation: str | None,
        *,
        residence_organisation_id: str | None = None,
    ) -> tuple[Membership, bool]:
        await self.get_organisation(organisation_id)
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        known = driver.member_of(organisation_id)
        if known is not None:
            return known, False
        if (home_organisation or residence_organisation_id) and not mobile:
            field = "home_organisation" if home_organisation else "residence_organisation_id"
            raise InvalidDriverData(field, "only mobile members have one elsewhere")
        if residence_organisation_id is not None:
            await self.get_organisation(residence_organisation_id)
        now = self._records.now()
        membership = Membership(
            organisation_id=organisation_id,
            role=role,
            mobile=mobile,
            home_organisation=home_organisation,
            residence_organisation_id=residence_organisation_id,
            joined_at=now,
        )
        for _ in range(_MEMBERSHIP_ATTEMPTS):
            before = [m.organisation_id for m in driver.memberships]
            event = _memberships_changed(driver_id, [*before, organisation_id], now)
            added = await self._records.drivers.update(
                driver_id,
                when={**_memberships_are(before), "erased": False},
                set_={"updated_at": now},
                push={"memberships": membership.model_dump(exclude_none=True)},
                outbox=[self._records.outbox(event, driver_id)],
            )
            if added:
                await self._records.announce(driver_id)
                return membership, True
            driver = await self._records.get_driver(driver_id)
            driver.require_not_erased()
            raced = driver.member_of(organisation_id)
            if raced is not None:
                return raced, False
        raise Conflict("the driver's memberships kept changing; try again")

    async def remove_member(self, organisation_id: str, driver_id: str) -> None:
        now = self._records.now()
        for _ in range(_MEMBERSHIP_ATTEMPTS):
            driver = await self._records.get_driver(driver_id)
            before = [m.organisation_id for m in driver.memberships]
            if organisation_id not in before:
                raise NotFound("membership")
            after = [o for o in before if o != organisation_id]
            event = _memberships_changed(driver_id, after, now)
            removed = await self._records.drivers.update(
                driver_id,
                when=_memberships_are(before),
                set_={"updated_at": now},
                pull={"memberships": {"organisation_id": organisation_id}},
                outbox=[self._records.outbox(event, driver_id)],
            )
            if removed:
                await self._records.announce(driver_id)
                return
        raise Conflict("the driver's memberships kept changing; try again")


# The event announces the whole list, which consumers (cases, notify) take as it is: a write
# lands only on the memberships it was computed from, or two concurrent changes would each
# announce a list without the other's (a branch left keeps its secretary's access).
_MEMBERSHIP_ATTEMPTS = 5


def _memberships_are(organisation_ids: list[str]) -> dict[str, Any]:
    """A filter for a driver whose memberships are exactly these organisations (each once)."""
    if not organisation_ids:  # none: stored without the field, or empty
        return {"memberships.0": {"$exists": False}}
    return {
        "memberships": {"$size": len(organisation_ids)},
        "memberships.organisation_id": {"$all": organisation_ids},
    }


def _memberships_changed(
    driver_id: str, organisation_ids: list[str], now: datetime
) -> DriverUpdated:
    """Consumers keep the driver's organisations to target broadcasts and cases (issue 16)."""
    return DriverUpdated(
        driver_id=driver_id,
        changed_fields=["memberships"],
        updated_at=now,
        organisation_ids=sorted(set(organisation_ids)),
    )
