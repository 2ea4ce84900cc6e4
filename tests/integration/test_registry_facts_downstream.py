"""What the registry announces about a driver reaches every consumer the same way."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
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
