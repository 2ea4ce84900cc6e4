"""The district as the articles describe it (issue 16): organisation and grid trees, people who
are not drivers in roles, route grids with their alliances, and the routes drivers declare."""

from __future__ import annotations

from typing import Any

from common.events.registry import DriverUpdated, PersonAppointed, PersonDismissed
from common.outbox import push_outbox
from registry.domain import Conflict, NotFound, Route, new_id
from registry.groups import (
    Appointment,
    Grid,
    GridLevel,
    Organisation,
    OrganisationKind,
    Person,
    PersonKind,
    PersonRole,
    RouteGrid,
    route_grids_of,
)
from registry.records import DriverRecords
from registry.store.grids import GRIDS, GridStore
from registry.store.organisations import ORGANISATIONS, OrganisationStore
from registry.store.people import PeopleStore
from registry.store.route_grids import RouteGridStore
from registry.tree_moves import Tree, TreeMover, grid_placed, organisation_placed
from registry.units import Units

Document = dict[str, Any]
# One holder at a time: an organisation has one secretary (000:43 "由社工担任支部书记").
SINGLE_ROLES: frozenset[str] = frozenset({"secretary"})


class District:
    def __init__(
        self,
        records: DriverRecords,
        units: Units,
        people: PeopleStore,
        route_grids: RouteGridStore,
        mover: TreeMover,
    ) -> None:
        self._records = records
        self._units = units
        self._orgs: OrganisationStore = units.organisation_store
        self._grids: GridStore = units.grid_store
        self._people = people
        self._route_grids = route_grids
        self._mover = mover
        self._organisation_tree = Tree(
            ORGANISATIONS, "organisation", self._orgs.collection, organisation_placed
        )
        self._grid_tree = Tree(GRIDS, "grid", self._grids.collection, grid_placed)

    # ------------------------------------------------------------------ trees

    def trees(self) -> list[Tree]:
        """The trees a move may interrupt (finished at start-up)."""
        return [self._organisation_tree, self._grid_tree]

    async def move_organisation(self, organisation_id: str, parent_id: str | None) -> Organisation:
        """Place an organisation (and everything under it) under another; 409 on a cycle."""
        await self._mover.move(self._organisation_tree, organisation_id, parent_id)
        return await self._units.get_organisation(organisation_id)

    async def move_grid(self, grid_id: str, parent_id: str | None) -> Grid:
        await self._mover.move(self._grid_tree, grid_id, parent_id)
        return await self._units.get_grid(grid_id)

    async def finish_interrupted_moves(self) -> int:
        return await self._mover.finish_interrupted(self.trees())

    async def organisation_subtree(
        self, root_id: str, *, kind: OrganisationKind | None, after: str | None, limit: int
    ) -> list[Organisation]:
        await self._units.get_organisation(root_id)
        return await self._orgs.subtree(root_id, kind=kind, after=after, limit=limit)

    async def organisation_ids_under(self, root_id: str) -> list[str]:
        await self._units.get_organisation(root_id)
        return await self._orgs.subtree_ids(root_id)

    async def grid_subtree(
        self, root_id: str, *, level: GridLevel | None, after: str | None, limit: int
    ) -> list[Grid]:
        await self._units.get_grid(root_id)
        return await self._grids.subtree(root_id, level=level, after=after, limit=limit)

    async def grid_ids_under(self, root_id: str) -> list[str]:
        await self._units.get_grid(root_id)
        return await self._grids.subtree_ids(root_id)

    # ------------------------------------------------------------------ people

    async def add_person(self, name: str, kind: PersonKind) -> Person:
        person = Person(
            person_id=new_id("psn"), name=name, kind=kind, created_at=self._records.now()
        )
        await self._people.insert(person)
        return person

    async def get_person(self, person_id: str) -> Person:
        person = await self._people.get(person_id)
        if person is None:
            raise NotFound("person")
        return person

    async def appoint(
        self, organisation_id: str, person_id: str, role: PersonRole
    ) -> tuple[Appointment, bool]:
        await self._units.get_organisation(organisation_id)
        if (await self.get_person(person_id)).erased:
            raise Conflict("this person's personal data was erased", code="person-erased")
        if role in SINGLE_ROLES:
            holder = await self._people.holder(organisation_id, role)
            if holder is not None and holder != person_id:
                raise Conflict(f"the organisation already has a {role}; dismiss them first")
        appointment = Appointment(
            organisation_id=organisation_id,
            person_id=person_id,
            role=role,
            appointed_at=self._records.now(),
        )
        if await self._people.appoint(appointment, single=role in SINGLE_ROLES):
            if (await self.get_person(person_id)).erased:
                # Erased while being appointed (the erasure may have listed the appointments
                # just before this one): it goes, never announced.
                await self._people.dismiss(organisation_id, person_id)
                raise Conflict("this person's personal data was erased", code="person-erased")
            await self._announce_role(appointment)
            return appointment, True
        known = await self._people.appointment(organisation_id, person_id)
        if known is None and role in SINGLE_ROLES:
            raise Conflict(f"the organisation already has a {role}; dismiss them first")
        if known is None or known.role != role:
            raise Conflict("this person already holds another role there; dismiss them first")
        # Again: announced again under the same id, in case a crash came before the first time.
        await self._announce_role(known)
        return known, False

    async def dismiss(self, organisation_id: str, person_id: str) -> None:
        known = await self._people.appointment(organisation_id, person_id)
        if known is None:
            raise NotFound("appointment")
        # Announced (in the organisation's outbox) before the appointment goes: a crash between
        # the two leaves a dismissal announced too early, never a secretary who keeps access.
        await self._announce_role(known, dismissed=True)
        if not await self._people.dismiss(
            organisation_id, person_id, appointed_at=known.appointed_at
        ):
            raise NotFound("appointment")

    async def _announce_role(self, appointment: Appointment, *, dismissed: bool = False) -> None:
        """Who holds which role, for followers (cases: a secretary reads their branch)."""
        org_id, person_id, role = (
            appointment.organisation_id,
            appointment.person_id,
            appointment.role,
        )
        if dismissed:
            now = self._records.now()
            data: PersonAppointed | PersonDismissed = PersonDismissed(
                organisation_id=org_id, person_id=person_id, role=role, dismissed_at=now
            )
            event_id = f"{org_id}:{person_id}:dismissed:{now.isoformat()}"
        else:
            at = appointment.appointed_at
            data = PersonAppointed(
                organisation_id=org_id, person_id=person_id, role=role, appointed_at=at
            )
            event_id = f"{org_id}:{person_id}:appointed:{at.isoformat()}"
        entry = self._records.outbox(data, org_id, event_id)
        await self._orgs.collection.update_one({"_id": org_id}, push_outbox({}, entry))
        await self._records.announce_in(self._orgs.collection, org_id)

    async def people_of(
        self, organisation_id: str, *, subtree: bool
    ) -> list[tuple[Appointment, Person]]:
        ids = (
            await self.organisation_ids_under(organisation_id)
            if subtree
            else [(await self._units.get_organisation(organisation_id)).organisation_id]
        )
        appointments = await self._people.of_organisations(ids)
        named = await self._people.named(sorted({a.person_id for a in appointments}))
        return [(a, named[a.person_id]) for a in appointments if a.person_id in named]

    # ------------------------------------------------------------------ route grids

    async def add_route_grid(self, name: str, places: list[str]) -> RouteGrid:
        grid = RouteGrid(
            route_grid_id=new_id("rgd"), name=name, places=places, created_at=self._records.now()
        )
        await self._route_grids.insert(grid)
        return grid

    async def get_route_grid(self, route_grid_id: str) -> RouteGrid:
        grid = await self._route_grids.get(route_grid_id)
        if grid is None:
            raise NotFound("route grid")
        return grid

    async def route_grids(self) -> list[RouteGrid]:
        return await self._route_grids.all()

    async def join_alliance(self, route_grid_id: str, organisation_id: str) -> RouteGrid:
        await self._units.get_organisation(organisation_id)
        if not await self._route_grids.join_alliance(route_grid_id, organisation_id):
            raise NotFound("route grid")
        return await self.get_route_grid(route_grid_id)

    async def leave_alliance(self, route_grid_id: str, organisation_id: str) -> RouteGrid:
        if not await self._route_grids.leave_alliance(route_grid_id, organisation_id):
            raise NotFound("route grid")
        return await self.get_route_grid(route_grid_id)

    async def declare_routes(self, driver_id: str, routes: list[Route]) -> list[str]:
        """The driver's routes, and the route grids they join by them (announced)."""
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        joined = route_grids_of(routes, await self._route_grids.all())
        now = self._records.now()
        event = DriverUpdated(
            driver_id=driver_id,
            changed_fields=["routes", "route_grid_ids"],
            updated_at=now,
            route_grid_ids=joined,
        )
        updated = await self._records.drivers.update(
            driver_id,
            when={"erased": False},
            set_={
                "routes": [r.model_dump() for r in routes],
                "route_grid_ids": joined,
                "updated_at": now,
            },
            outbox=[self._records.outbox(event, driver_id)],
        )
        if not updated:
            raise Conflict("the driver changed meanwhile; try again")
        await self._records.announce(driver_id)
        return joined

    # ------------------------------------------------------------------ figures

    async def figures(
        self, *, organisation_id: str | None = None, grid_id: str | None = None
    ) -> dict[str, Any]:
        """The counts the articles give, as this registry holds them: the whole district, or
        an organisation's and a grid's subtree (e.g. one community's grids and micro-grids)."""
        if organisation_id is not None:
            await self._units.get_organisation(organisation_id)
        if grid_id is not None:
            await self._units.get_grid(grid_id)
        within = (
            await self._orgs.subtree_ids(organisation_id) if organisation_id is not None else None
        )
        return {
            "organisations_by_kind": await self._orgs.count_by_kind(organisation_id),
            "branches_by_type": await self._orgs.count_branch_types(organisation_id),
            "grids_by_level": await self._grids.count_by_level(grid_id),
            "route_grids": len(await self._route_grids.all()),
            "people_by_role": await self._people.count_roles(within),
        }
