"""Notify follows what other services announce about drivers and units in the order they
announced it, not in the order records reach it: a dead letter replayed by an operator lands at
the end of its topic, after newer changes it must not undo (real store and broker).

Each late record here is one notify never applied (as its own dead letter is), so it is
produced once, after the newer ones; a later record of the same key (in the same partition)
shows it was handled.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from common.events import CloudEvent, EventData, new_event
from common.events.points import GradeChanged
from common.events.registry import DriverRegistered, DriverUpdated, GridPlaced
from common.testing import Infra, unique_name, wait_until
from notify.app import create_app
from notify.settings import NotifySettings
from tests.support import produce, serve

Headers = Callable[..., dict[str, str]]
T = [datetime(2026, 12, 1, 8, tzinfo=UTC) + timedelta(hours=h) for h in range(10)]
REGISTRY = "driverhome/registry"


@pytest.fixture
def settings(make_settings: Callable[..., NotifySettings]) -> NotifySettings:
    return make_settings(NotifySettings)


async def emit(
    infra: Infra,
    settings: NotifySettings,
    topic: str,
    data: EventData,
    subject: str,
    source: str = REGISTRY,
) -> CloudEvent:
    event = new_event(data, source=source, subject=subject)
    await produce(
        infra.kafka_bootstrap, settings.topic(topic), event.to_bytes(), key=subject.encode()
    )
    return event


def registered(driver: str, at: datetime, **facts: Any) -> DriverRegistered:
    return DriverRegistered(driver_id=driver, channel="operator", registered_at=at, **facts)


def updated(driver: str, at: datetime, **facts: Any) -> DriverUpdated:
    # Every fact given is a changed field (the registry's names: the grid is grid_id).
    names = {"organisation_ids": "memberships"}
    changed = [names.get(name, name) for name in facts]
    return DriverUpdated(driver_id=driver, changed_fields=changed, updated_at=at, **facts)


async def stored(mongo: Any, settings: NotifySettings, collection: str, key: str) -> Any:
    return await mongo[settings.mongo_db][collection].find_one({"_id": key})


async def after_marker(
    infra: Infra, settings: NotifySettings, mongo: Any, driver: str
) -> dict[str, Any]:
    """The driver's facts once a route grid change announced after everything else is in:
    the records before it, of the same driver, were handled by then."""
    await emit(
        infra, settings, "registry.events", updated(driver, T[9], route_grid_ids=["rg-end"]), driver
    )

    async def marked() -> dict[str, Any] | None:
        doc = await stored(mongo, settings, "drivers", driver)
        return doc if doc and doc.get("route_grids") == ["rg-end"] else None

    return await wait_until(marked, timeout=60)


async def notified_about(mongo: Any, settings: NotifySettings, event: CloudEvent) -> None:
    """Wait until ``event`` made its notification: its facts were noted before."""
    notifications = mongo[settings.mongo_db]["notifications"]
    await wait_until(
        lambda: notifications.find_one({"source_id": event.id}, {"_id": 1}), timeout=60
    )


async def audience(http: httpx.AsyncClient, token: Headers, segment: dict[str, Any]) -> int:
    """How many drivers a broadcast to ``segment`` reaches: the resolver's own query."""
    answer = await http.post(
        "/v1/broadcasts/audience",
        json={"category": "policy", "segment": segment},
        headers=token(roles=["notify_editor"]),
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["recipients"])


async def test_a_replayed_older_fleet_change_leaves_the_driver_in_the_newer_fleet(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    driver = unique_name("drv_")
    fleet_a, fleet_b = unique_name("fleet_a_"), unique_name("fleet_b_")
    async with serve(create_app(settings)) as http:
        await emit(infra, settings, "registry.events", updated(driver, T[1], fleet=fleet_a), driver)
        await emit(infra, settings, "registry.events", updated(driver, T[2], fleet=fleet_b), driver)
        # The move to fleet A, dead-lettered, replayed after the move to fleet B.
        await emit(infra, settings, "registry.events", updated(driver, T[1], fleet=fleet_a), driver)
        facts = await after_marker(infra, settings, mongo, driver)
        assert facts["fleet"] == fleet_b
        assert await audience(http, token, {"kind": "fleet", "value": fleet_a}) == 0
        assert await audience(http, token, {"kind": "fleet", "value": fleet_b}) == 1


async def test_a_replayed_grid_change_applies_after_a_newer_fleet_change(
    infra: Infra, settings: NotifySettings, mongo: Any
) -> None:
    """Each group of facts keeps its own time: a dead-lettered event moving the driver to
    fleet A and grid G1 is late for the fleet (moved to B since), not for the grid."""
    driver = unique_name("drv_")
    async with serve(create_app(settings)):
        first = registered(driver, T[0], fleet="fleet-a", grid_id="grid-0")
        await emit(infra, settings, "registry.events", first, driver)
        await emit(
            infra, settings, "registry.events", updated(driver, T[2], fleet="fleet-b"), driver
        )
        late = updated(driver, T[1], fleet="fleet-a", grid_id="grid-1")
        await emit(infra, settings, "registry.events", late, driver)
        facts = await after_marker(infra, settings, mongo, driver)
    assert (facts["fleet"], facts["grid"]) == ("fleet-b", "grid-1")


async def test_a_replayed_registration_does_not_undo_a_newer_update(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    """notify first hears of the driver through an update (its registration dead-lettered);
    the registration replayed then adds what no update announced (the language) only."""
    driver = unique_name("drv_")
    async with serve(create_app(settings)) as http:
        newer = updated(driver, T[3], fleet="fleet-b", grid_id="grid-1", kind="taxi")
        await emit(infra, settings, "registry.events", newer, driver)
        late = registered(driver, T[0], fleet="fleet-a", grid_id="grid-0", language="en")
        await notified_about(
            mongo, settings, await emit(infra, settings, "registry.events", late, driver)
        )
        facts = await stored(mongo, settings, "drivers", driver)
        assert (facts["fleet"], facts["grid"], facts["driver_kind"]) == (
            "fleet-b",
            "grid-1",
            "taxi",
        )
        assert facts["language"] == "en" and facts["active"] is True
        # A driver first seen through an update is found like any other.
        assert await audience(http, token, {"kind": "fleet", "value": "fleet-b"}) == 1
        assert await audience(http, token, {"kind": "driver_kind", "value": "taxi"}) == 1
        assert await audience(http, token, {"kind": "fleet", "value": "fleet-a"}) == 0


async def test_a_replayed_older_placement_does_not_move_the_unit_back(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    driver = unique_name("drv_")
    old_parent, new_parent, moved = (unique_name(f"grd_{n}_") for n in ("old", "new", "moved"))

    def placed(parent: str, at: datetime) -> GridPlaced:
        return GridPlaced(grid_id=moved, parent_id=parent, ancestor_ids=[parent], placed_at=at)

    async with serve(create_app(settings)) as http:
        await emit(infra, settings, "registry.events", updated(driver, T[0], grid_id=moved), driver)
        for data in (placed(old_parent, T[1]), placed(new_parent, T[2]), placed(old_parent, T[1])):
            await emit(infra, settings, "registry.events", data, moved)
        # Another grid's placement on the moved grid's key: after the late one in its partition.
        marker = unique_name("grd_marker_")
        end = GridPlaced(grid_id=marker, ancestor_ids=[], placed_at=T[3])
        await emit(infra, settings, "registry.events", end, moved)
        await wait_until(lambda: stored(mongo, settings, "units", f"grid:{marker}"), timeout=60)
        await wait_until(lambda: stored(mongo, settings, "drivers", driver), timeout=60)
        unit = await stored(mongo, settings, "units", f"grid:{moved}")
        assert unit["ancestor_ids"] == [new_parent]
        old_tree = {"kind": "grid", "value": old_parent, "subtree": True}
        new_tree = {"kind": "grid", "value": new_parent, "subtree": True}
        assert await audience(http, token, old_tree) == 0
        assert await audience(http, token, new_tree) == 1


async def test_a_replayed_older_grade_does_not_overwrite_a_newer_one(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    driver = unique_name("drv_")

    def grade(old: Any, new: Any, at: datetime) -> GradeChanged:
        return GradeChanged(
            driver_id=driver,
            old_grade=old,
            new_grade=new,
            earned_last_12_months=120,
            reasons=["earned"],
            changed_at=at,
        )

    points = "driverhome/points"
    async with serve(create_app(settings)) as http:
        await emit(infra, settings, "registry.events", registered(driver, T[0]), driver)
        await emit(infra, settings, "points.events", grade("A", "AA", T[2]), driver, points)
        # The change to A was dead-lettered, and is replayed after the change to AA.
        late = await emit(infra, settings, "points.events", grade("AAA", "A", T[1]), driver, points)
        await notified_about(mongo, settings, late)
        facts = await stored(mongo, settings, "drivers", driver)
        assert facts["grade"] == "AA"
        assert await audience(http, token, {"kind": "grade", "value": "A"}) == 0
        assert await audience(http, token, {"kind": "grade", "value": "AA"}) == 1
