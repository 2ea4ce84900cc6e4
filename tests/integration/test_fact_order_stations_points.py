"""A dead letter of ``registry.events`` replayed by an operator lands at the end of the topic,
after newer changes of the same driver: stations and points keep each fact they follow from
``driver.updated.v1`` (stations: kind, declared base; points: fleet, grid, kind) only over an
older announcement of it, a location consent withdrawal counts as an announcement of the base,
and an erased driver's closed account takes no grouping back.

Each history goes through the broker to the real app (the replay is the same record again, as
the DLQ replay publishes it); a last marker event shows when the late one was handled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common.events import CloudEvent, new_event
from common.events.base import EventData
from common.events.registry import (
    BaseLocation,
    DriverDeactivated,
    DriverRegistered,
    DriverUpdated,
)
from common.testing import Infra, unique_name, wait_until
from points.app import create_app as points_app
from points.settings import PointsSettings
from stations.app import create_app as stations_app
from stations.consents import LocationConsent
from stations.settings import StationsSettings
from stations.store.drivers import DriverStore
from tests.support import produce, serve

T = [datetime(2026, 12, 1, 8, tzinfo=UTC) + timedelta(hours=h) for h in range(6)]
BASE = BaseLocation(lat=29.89, lng=121.85)


def fact(driver: str, data: EventData) -> CloudEvent:
    return new_event(data, source="driverhome/registry", subject=driver)


async def send(infra: Infra, topic: str, driver: str, events: list[CloudEvent]) -> None:
    for event in events:
        await produce(infra.kafka_bootstrap, topic, event.to_bytes(), key=driver.encode())


def location(driver: str, granted: bool, at: datetime) -> DriverUpdated:
    """The registry's consent answer; a grant sends the declared base kept back until then."""
    if not granted:
        return DriverUpdated(
            driver_id=driver,
            changed_fields=["consents.location"],
            updated_at=at,
            consents={"location": False},
        )
    return DriverUpdated(
        driver_id=driver,
        changed_fields=["consents.location", "base_location"],
        updated_at=at,
        consents={"location": True},
        base_location=BASE,
    )


async def test_stations_a_location_grant_replayed_after_its_withdrawal_stores_no_base(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any
) -> None:
    settings = make_settings(StationsSettings)
    replayed, late = unique_name("drv_r_"), unique_name("drv_l_")
    histories: dict[str, list[CloudEvent]] = {}
    for driver in (replayed, late):
        registered = fact(
            driver, DriverRegistered(driver_id=driver, channel="operator", registered_at=T[0])
        )
        grant, withdrawal = (
            fact(driver, location(driver, True, T[1])),
            fact(driver, location(driver, False, T[2])),
        )
        marker = fact(
            driver,
            DriverUpdated(driver_id=driver, changed_fields=["kind"], updated_at=T[5], kind="taxi"),
        )
        histories[driver] = (
            # Applied, withdrawn, then replayed from the dead-letter queue (the same record).
            [registered, grant, withdrawal, grant, marker]
            if driver == replayed
            # Never applied before the withdrawal: its first arrival is the late one.
            else [registered, withdrawal, grant, marker]
        )
    app = stations_app(settings)
    async with serve(app):
        for driver, history in histories.items():
            await send(infra, settings.topic("registry.events"), driver, history)
        drivers = mongo[settings.mongo_db]["drivers"]

        async def handled(driver: str) -> dict[str, Any] | None:
            doc = await drivers.find_one({"_id": driver})
            return doc if doc and doc.get("kind") == "taxi" else None

        docs = {d: await wait_until(lambda d=d: handled(d), timeout=60) for d in histories}

        # The follower and the fact's use case in the other order for one replayed grant.
        reordered = unique_name("drv_o_")
        use_cases = app.state.stations.drivers
        follow = LocationConsent(app.state.runtime.db).follow
        await use_cases.driver_registered(reordered, T[0])
        await use_cases.driver_changed(reordered, None, BASE, ["base_location"], T[1])
        await follow(reordered, {"location": True}, T[1])
        await follow(reordered, {"location": False}, T[2])
        await follow(reordered, {"location": True}, T[1])
        await use_cases.driver_changed(reordered, None, BASE, ["base_location"], T[1])
        docs[reordered] = await drivers.find_one({"_id": reordered})
        bases = await DriverStore(app.state.runtime.db).bases()
    for driver, doc in docs.items():
        assert "base" not in doc, driver
        assert doc["consents"]["location"] is False, driver
    assert (BASE.lat, BASE.lng) not in bases


async def test_stations_an_older_kind_replayed_after_a_newer_one_changes_nothing(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any
) -> None:
    settings = make_settings(StationsSettings)
    driver = unique_name("drv_")

    def kind(value: Any, at: datetime) -> CloudEvent:
        return fact(
            driver,
            DriverUpdated(driver_id=driver, changed_fields=["kind"], updated_at=at, kind=value),
        )

    older = kind("ride_hailing", T[1])
    history = [
        fact(driver, DriverRegistered(driver_id=driver, channel="operator", registered_at=T[0])),
        older,
        kind("taxi", T[3]),
        older,  # replayed
        fact(driver, location(driver, False, T[5])),  # the marker
    ]
    async with serve(stations_app(settings)):
        await send(infra, settings.topic("registry.events"), driver, history)
        drivers = mongo[settings.mongo_db]["drivers"]

        async def handled() -> dict[str, Any] | None:
            doc = await drivers.find_one({"_id": driver})
            return doc if doc and doc.get("consents", {}).get("location") is False else None

        doc = await wait_until(handled, timeout=60)
    assert doc["kind"] == "taxi"
    assert doc["facts_at"]["kind"] == T[3]


def points_marker(driver: str) -> CloudEvent:
    # Followed on any account, closed too: once it shows, the driver's earlier records ran.
    return fact(
        driver,
        DriverUpdated(
            driver_id=driver,
            changed_fields=["consents.points"],
            updated_at=T[5],
            consents={"points": False},
        ),
    )


def grouping(driver: str, at: datetime, **values: Any) -> CloudEvent:
    """A change of some of ``fleet``, ``grid_id`` and ``kind`` (named as changed)."""
    return fact(
        driver,
        DriverUpdated(driver_id=driver, changed_fields=list(values), updated_at=at, **values),
    )


async def test_points_an_older_fleet_or_grid_replayed_after_a_newer_one_changes_nothing(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    replayed, late = unique_name("drv_r_"), unique_name("drv_l_")

    def registered(driver: str) -> CloudEvent:
        return fact(
            driver,
            DriverRegistered(
                driver_id=driver,
                channel="operator",
                registered_at=T[0],
                fleet="龙星物流",
                grid_id="grid-0",
            ),
        )

    older = grouping(replayed, T[1], fleet="霞浦车队", grid_id="grid-1", kind="ride_hailing")
    histories = {
        replayed: [
            registered(replayed),
            older,
            grouping(replayed, T[3], fleet="北仑车队", grid_id="grid-3", kind="taxi"),
            older,  # replayed from the dead-letter queue
            points_marker(replayed),
        ],
        late: [
            registered(late),
            grouping(late, T[3], fleet="北仑车队"),
            # Dead-lettered before the newer fleet change: its grid was never applied.
            grouping(late, T[2], grid_id="grid-2"),
            points_marker(late),
        ],
    }
    async with serve(points_app(settings)):
        for driver, history in histories.items():
            await send(infra, settings.topic("registry.events"), driver, history)
        accounts = mongo[settings.mongo_db]["accounts"]

        async def handled(driver: str) -> dict[str, Any] | None:
            doc = await accounts.find_one({"_id": driver})
            return doc if doc and doc.get("earning_paused") else None

        docs = {d: await wait_until(lambda d=d: handled(d), timeout=60) for d in histories}
    assert (docs[replayed]["fleet"], docs[replayed]["grid"], docs[replayed]["kind"]) == (
        "北仑车队",
        "grid-3",
        "taxi",
    )
    assert (docs[late]["fleet"], docs[late]["grid"]) == ("北仑车队", "grid-2")


async def test_points_a_grouping_replayed_after_the_erasure_puts_nothing_back(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    history = [
        fact(
            driver,
            DriverRegistered(
                driver_id=driver,
                channel="operator",
                registered_at=T[0],
                fleet="龙星物流",
                grid_id="grid-0",
            ),
        ),
        fact(
            driver,
            DriverDeactivated(driver_id=driver, deactivated_at=T[3], reason="erasure", erased=True),
        ),
        # Older than the erasure and dead-lettered: replayed after it.
        grouping(driver, T[1], fleet="霞浦车队", grid_id="grid-1", kind="taxi"),
        points_marker(driver),
    ]
    async with serve(points_app(settings)):
        await send(infra, settings.topic("registry.events"), driver, history)
        accounts = mongo[settings.mongo_db]["accounts"]

        async def handled() -> dict[str, Any] | None:
            doc = await accounts.find_one({"_id": driver})
            return doc if doc and doc.get("earning_paused") else None

        doc = await wait_until(handled, timeout=60)
    assert doc["status"] == "closed"
    assert (doc["fleet"], doc["grid"], doc["kind"]) == (None, None, "container_truck")
