"""Cases follows the registry's district facts in the order the registry announced them, not the
order they arrive (real store and broker).

Records of one key arrive in order, but a dead letter an operator replays is published again at
the end of ``registry.events``, after newer changes. Each late record below is one the cases
group never applied (as its own dead letter is), or one it applied before: neither may undo a
newer membership, grid or placement, and none may bring back a driver the erasure forgot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cases.settings import CasesSettings
from cases.store.units import DistrictUnits
from common.events import CloudEvent, EventData, new_event
from common.events.registry import (
    DriverDeactivated,
    DriverRegistered,
    DriverUpdated,
    GridPlaced,
    OrganisationPlaced,
    PersonAppointed,
)
from common.testing import unique_name, wait_until
from tests.integration.test_cases_loop import Clock, Headers, running
from tests.support import produce

T = [datetime(2026, 11, 2, 8, tzinfo=UTC) + timedelta(hours=h) for h in range(6)]


def fact(data: EventData, subject: str) -> CloudEvent:
    return new_event(data, source="driverhome/registry", subject=subject)


async def emit(settings: CasesSettings, event: CloudEvent, *, key: str | None = None) -> None:
    """``key``: another subject's partition, so a control record is read after a late one."""
    await produce(
        settings.kafka_bootstrap,
        settings.topic("registry.events"),
        event.to_bytes(),
        key=(key or event.subject).encode(),
    )


def memberships(driver: str, at: datetime, organisation_ids: list[str]) -> DriverUpdated:
    return DriverUpdated(
        driver_id=driver,
        changed_fields=["memberships"],
        updated_at=at,
        organisation_ids=organisation_ids,
    )


def regrid(driver: str, at: datetime, grid_id: str) -> DriverUpdated:
    return DriverUpdated(
        driver_id=driver, changed_fields=["grid_id"], updated_at=at, grid_id=grid_id
    )


async def test_a_replayed_older_membership_does_not_put_a_driver_back_in_a_branch_they_left(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    settings: CasesSettings = make_settings(CasesSettings)
    driver, branch, person = unique_name("drv_"), unique_name("org_pb"), unique_name("psn_")
    secretary = token("operator", roles=["branch_secretary"], person_id=person, sub="sec-1")
    statement = f"/v1/party/members/{driver}/statement"
    db = mongo[settings.mongo_db]
    async with running(settings, Clock(T[5])) as (_, client):
        placed = OrganisationPlaced(organisation_id=branch, kind="party_branch", placed_at=T[0])
        await emit(settings, fact(placed, branch))
        appointed = PersonAppointed(
            organisation_id=branch, person_id=person, role="secretary", appointed_at=T[0]
        )
        await emit(settings, fact(appointed, branch))
        joined = fact(memberships(driver, T[1], [branch]), driver)
        await emit(settings, joined)

        async def secretary_reads() -> bool:
            known = await db["party_roles"].count_documents({"person_id": person, "held": True})
            return bool(known) and (await client.get(statement, headers=secretary)).is_success

        await wait_until(secretary_reads)

        await emit(settings, fact(memberships(driver, T[3], []), driver))
        await emit(settings, joined)  # replayed: older than the driver's leaving
        await emit(settings, fact(regrid(driver, T[4], "grid-end"), driver))

        async def after_the_replay() -> dict[str, Any] | None:
            doc: dict[str, Any] | None = await db["driver_units"].find_one({"_id": driver})
            return doc if doc and doc.get("grid") == "grid-end" else None

        doc = await wait_until(after_the_replay)
        assert doc["organisations"] == []
        assert await DistrictUnits(db).drivers_in("organisation", branch, subtree=False) == []
        refused = await client.get(statement, headers=secretary)
        assert refused.status_code == 403, refused.text


async def test_an_older_grid_change_never_applied_still_applies_after_a_newer_membership(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    """The late record names both groups (the driver moved to a new grid and joined its branch
    the same day): its grid is news, its membership is not (the driver has left since)."""
    settings: CasesSettings = make_settings(CasesSettings)
    driver, branch = unique_name("drv_"), unique_name("org_pb")
    db = mongo[settings.mongo_db]
    async with running(settings, Clock(T[5])):
        registered = DriverRegistered(
            driver_id=driver, channel="operator", registered_at=T[0], grid_id="grid-old"
        )
        await emit(settings, fact(registered, driver))
        # Dead-lettered by cases when first read: never applied.
        moved_and_joined = DriverUpdated(
            driver_id=driver,
            changed_fields=["grid_id", "memberships"],
            updated_at=T[2],
            grid_id="grid-new",
            organisation_ids=[branch],
        )
        await emit(settings, fact(memberships(driver, T[3], []), driver))
        await emit(settings, fact(moved_and_joined, driver))  # replayed

        async def regridded() -> dict[str, Any] | None:
            doc: dict[str, Any] | None = await db["driver_units"].find_one({"_id": driver})
            return doc if doc and doc.get("grid") == "grid-new" else None

        doc = await wait_until(regridded)
        assert doc["organisations"] == []
        units = DistrictUnits(db)
        assert await units.drivers_in("grid", "grid-new", subtree=False) == [driver]
        assert await units.drivers_in("organisation", branch, subtree=False) == []


async def test_an_older_placement_replayed_does_not_move_a_unit_back(
    make_settings: Callable[..., Any], mongo: Any
) -> None:
    settings: CasesSettings = make_settings(CasesSettings)
    old_parent, new_parent, org = (unique_name(p) for p in ("org_a", "org_b", "org_x"))
    old_community, new_community, grid = (unique_name(p) for p in ("grd_a", "grd_b", "grd_x"))
    member = unique_name("drv_")
    db = mongo[settings.mongo_db]
    async with running(settings, Clock(T[5])):
        # First a party group under one committee, then a branch under another.
        first_org = OrganisationPlaced(
            organisation_id=org,
            kind="party_group",
            parent_id=old_parent,
            ancestor_ids=[old_parent],
            placed_at=T[1],
        )
        moved_org = OrganisationPlaced(
            organisation_id=org,
            kind="party_branch",
            parent_id=new_parent,
            ancestor_ids=[new_parent],
            previous_parent_id=old_parent,
            moved_root_id=org,
            placed_at=T[3],
        )
        first_grid = GridPlaced(
            grid_id=grid, parent_id=old_community, ancestor_ids=[old_community], placed_at=T[1]
        )
        moved_grid = GridPlaced(
            grid_id=grid,
            parent_id=new_community,
            ancestor_ids=[new_community],
            previous_parent_id=old_community,
            moved_root_id=grid,
            placed_at=T[3],
        )
        await emit(settings, fact(memberships(member, T[1], [org]), member))
        with_grid = DriverUpdated(
            driver_id=member, changed_fields=["grid_id"], updated_at=T[1], grid_id=grid
        )
        await emit(settings, fact(with_grid, member))
        for first, moved, unit in ((first_org, moved_org, org), (first_grid, moved_grid, grid)):
            late = fact(first, unit)
            await emit(settings, late)
            await emit(settings, fact(moved, unit))
            await emit(settings, late)  # replayed after the move
        # Read after both late records (their partitions): once known, they were handled.
        controls = [
            (unique_name("org_c"), org, OrganisationPlaced, "organisation_id"),
            (unique_name("grd_c"), grid, GridPlaced, "grid_id"),
        ]
        for control, key, model, field in controls:
            extra = {"kind": "party_branch"} if model is OrganisationPlaced else {}
            data = model(**{field: control}, placed_at=T[4], **extra)
            await emit(settings, fact(data, control), key=key)

        async def controls_known() -> bool:
            ids = [f"organisation:{controls[0][0]}", f"grid:{controls[1][0]}"]
            return await db["unit_tree"].count_documents({"_id": {"$in": ids}}) == 2

        await wait_until(controls_known)
        units = DistrictUnits(db)
        assert await units.drivers_in("organisation", old_parent, subtree=True) == []
        assert await units.drivers_in("organisation", new_parent, subtree=True) == [member]
        assert await units.drivers_in("grid", old_community, subtree=True) == []
        assert await units.drivers_in("grid", new_community, subtree=True) == [member]
        assert await units.org_kinds([org]) == {org: "party_branch"}


async def test_a_replayed_update_about_an_erased_driver_recreates_nothing(
    make_settings: Callable[..., Any], mongo: Any
) -> None:
    settings: CasesSettings = make_settings(CasesSettings)
    driver, control, branch = unique_name("drv_"), unique_name("drv_c"), unique_name("org_pb")
    db = mongo[settings.mongo_db]
    async with running(settings, Clock(T[5])):
        # Announced before the erasure: a membership and the party_life consent.
        joined = DriverUpdated(
            driver_id=driver,
            changed_fields=["memberships", "consents"],
            updated_at=T[1],
            organisation_ids=[branch],
            consents={"party_life": True},
        )
        late = fact(joined, driver)
        await emit(settings, late)

        async def followed() -> bool:
            units = await db["driver_units"].count_documents({"_id": driver})
            member = await db["party_members"].count_documents({"_id": driver})
            return units == 1 and member == 1

        await wait_until(followed)
        erased = DriverDeactivated(
            driver_id=driver, deactivated_at=T[2], reason="erasure", erased=True
        )
        await emit(settings, fact(erased, driver))

        async def forgotten() -> bool:
            units = await db["driver_units"].count_documents({"_id": driver})
            member = await db["party_members"].count_documents({"_id": driver})
            return units == 0 and member == 0

        await wait_until(forgotten)

        await emit(settings, late)  # replayed after the erasure
        control_joined = memberships(control, T[1], [branch])
        await emit(settings, fact(control_joined, control), key=driver)

        async def control_followed() -> bool:
            return bool(await db["driver_units"].count_documents({"_id": control}))

        await wait_until(control_followed)
        assert await db["driver_units"].count_documents({"_id": driver}) == 0
        assert await db["party_members"].count_documents({"_id": driver}) == 0
