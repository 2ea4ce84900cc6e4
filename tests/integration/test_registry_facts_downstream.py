"""What the registry announces about a driver reaches every consumer the same way."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common.events import CloudEvent, new_event
from common.events.base import EventData
from common.events.registry import DriverDeactivated, DriverRegistered, DriverUpdated
from common.testing import Infra, unique_name, wait_until
from notify.app import create_app as notify_app
from notify.settings import NotifySettings
from points.app import create_app as points_app
from points.settings import PointsSettings
from stations.app import create_app as stations_app
from stations.settings import StationsSettings
from tests.support import produce, serve


def fact(driver: str, data: EventData) -> CloudEvent:
    return new_event(data, source="driverhome/registry", subject=driver)


async def test_reactivation_and_a_new_grid_reach_points_stations_and_notify(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any
) -> None:
    driver = unique_name("drv_")
    now = datetime.now(UTC)
    history = [
        DriverRegistered(
            driver_id=driver,
            channel="operator",
            registered_at=now,
            fleet="龙星物流",
            fleet_id="flt_1",
            grid_id="grid-xiapu-1",
        ),
        DriverDeactivated(driver_id=driver, deactivated_at=now, reason="moved away"),
        DriverUpdated(driver_id=driver, changed_fields=["status"], updated_at=now),
        DriverUpdated(
            driver_id=driver, changed_fields=["grid_id"], updated_at=now, grid_id="grid-daqi-3"
        ),
    ]
    points = make_settings(PointsSettings)
    stations = make_settings(StationsSettings)
    notify = make_settings(NotifySettings)
    async with (
        serve(points_app(points)),
        serve(stations_app(stations)),
        serve(notify_app(notify)),
    ):
        for data in history:
            await produce(
                infra.kafka_bootstrap,
                points.topic("registry.events"),
                fact(driver, data).to_bytes(),
                key=driver.encode(),
            )

        async def settled() -> bool:
            account = await mongo[points.mongo_db]["accounts"].find_one({"_id": driver})
            seen = await mongo[stations.mongo_db]["drivers"].find_one({"_id": driver})
            facts = await mongo[notify.mongo_db]["drivers"].find_one({"_id": driver})
            return bool(
                account
                and account.get("grid") == "grid-daqi-3"
                and account["status"] == "active"
                and seen
                and seen["active"]
                and seen.get("reactivated_at")
                and facts
                and facts.get("grid") == "grid-daqi-3"
                and facts["active"]
            )

        await wait_until(settled, timeout=60)
    account = await mongo[points.mongo_db]["accounts"].find_one({"_id": driver})
    assert account["fleet"] == "龙星物流"


async def test_a_status_older_than_the_last_one_known_changes_nothing_downstream(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any
) -> None:
    """A dead letter replayed later lands at the end of registry.events, after newer changes of
    the same driver. An old deactivation must not freeze a driver reactivated since (nor stop
    their check-ins and messages), and an old reactivation must not thaw one deactivated since.
    Each late word is a record these groups never applied (as a dead letter of theirs is)."""
    t = [datetime(2026, 12, 1, 8, tzinfo=UTC) + timedelta(hours=h) for h in range(5)]
    thawed, frozen = unique_name("drv_a_"), unique_name("drv_d_")

    def registered(driver: str) -> DriverRegistered:
        return DriverRegistered(driver_id=driver, channel="operator", registered_at=t[0])

    def reactivated(driver: str, at: datetime) -> DriverUpdated:
        return DriverUpdated(driver_id=driver, changed_fields=["status"], updated_at=at)

    def deactivated(driver: str, at: datetime) -> DriverDeactivated:
        return DriverDeactivated(driver_id=driver, deactivated_at=at, reason="moved away")

    def marker(driver: str) -> DriverUpdated:
        # After the late word in the driver's order: once it shows, the late word was handled.
        return DriverUpdated(
            driver_id=driver, changed_fields=["grid_id"], updated_at=t[4], grid_id="grid-end"
        )

    histories = {
        thawed: [
            registered(thawed),
            deactivated(thawed, t[1]),
            reactivated(thawed, t[3]),
            deactivated(thawed, t[2]),  # late
            marker(thawed),
        ],
        frozen: [
            registered(frozen),
            deactivated(frozen, t[1]),
            deactivated(frozen, t[3]),
            reactivated(frozen, t[2]),  # late
            marker(frozen),
        ],
    }
    points = make_settings(PointsSettings)
    stations = make_settings(StationsSettings)
    notify = make_settings(NotifySettings)
    async with (
        serve(points_app(points)),
        serve(stations_app(stations)),
        serve(notify_app(notify)),
    ):
        for driver, history in histories.items():
            for data in history:
                await produce(
                    infra.kafka_bootstrap,
                    points.topic("registry.events"),
                    fact(driver, data).to_bytes(),
                    key=driver.encode(),
                )

        async def states(driver: str) -> tuple[Any, ...] | None:
            account = await mongo[points.mongo_db]["accounts"].find_one({"_id": driver})
            seen = await mongo[stations.mongo_db]["drivers"].find_one({"_id": driver})
            facts = await mongo[notify.mongo_db]["drivers"].find_one({"_id": driver})
            if not (account and seen and facts):
                return None
            if (account.get("grid"), facts.get("grid")) != ("grid-end", "grid-end"):
                return None
            return account["status"], seen["active"], facts["active"]

        for driver in histories:
            await wait_until(lambda driver=driver: states(driver), timeout=60)
        assert await states(thawed) == ("active", True, True)
        assert await states(frozen) == ("frozen", False, False)
