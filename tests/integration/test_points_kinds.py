"""An earning rule restricted to kinds of drivers (issue 16) on the real broker and store: the
kind comes from driver.registered.v1 / driver.updated.v1, an unrestricted rule serves the
rest, and accounts opened before kinds existed count as container trucks'."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from common.events import new_event
from common.events.registry import DriverRegistered, DriverUpdated
from common.testing import Infra, unique_name, wait_until
from points.app import create_app
from points.earning import Earning
from points.settings import PointsSettings
from tests.integration.test_points_ledger import send, volunteer
from tests.support import approved, serve


async def test_a_rule_for_taxi_drivers_awards_only_taxi_drivers(
    make_settings: Callable[..., PointsSettings],
    token: Callable[..., dict[str, str]],
    infra: Infra,
    mongo: Any,
) -> None:
    settings = make_settings(PointsSettings)
    app = create_app(settings)
    async with serve(app) as http:
        rule = {
            "name": "网约车志愿服务",
            "event_type": "volunteer.logged.v1",
            "points_per_unit": 30,
            "unit_field": "hours",
            "priority": 10,
            "driver_kinds": ["taxi", "ride_hailing"],
        }
        made = await approved(
            http, await http.put("/v1/rules/taxi-volunteers", json=rule, headers=token()), token()
        )
        assert made.json()["command"]["spec"]["driver_kinds"] == ["taxi", "ride_hailing"]
        bad = await http.put(
            "/v1/rules/bad", json={**rule, "driver_kinds": ["tractor"]}, headers=token()
        )
        assert bad.status_code == 422
        taxi, truck, changed = (unique_name("drv_") for _ in range(3))
        now = datetime.now(UTC)
        for driver, kind in ((taxi, "taxi"), (truck, "container_truck"), (changed, "taxi")):
            event = DriverRegistered(driver_id=driver, channel="self", registered_at=now, kind=kind)
            await send(
                infra,
                settings,
                "registry.events",
                new_event(event, source="driverhome/registry", subject=driver),
            )
        await send(
            infra,
            settings,
            "registry.events",
            new_event(
                DriverUpdated(
                    driver_id=changed,
                    changed_fields=["kind"],
                    updated_at=now,
                    kind="general_cargo_truck",
                ),
                source="driverhome/registry",
                subject=changed,
            ),
        )
        accounts = mongo[settings.mongo_db]["accounts"]

        async def known() -> bool:
            found = await accounts.count_documents({"_id": {"$in": [taxi, truck]}})
            moved = await accounts.find_one({"_id": changed, "kind": "general_cargo_truck"})
            return found == 2 and moved is not None

        await wait_until(known)
        service = app.state.service
        old = unique_name("drv_")
        await service.open_account(old, now)
        await accounts.update_one({"_id": old}, {"$unset": {"kind": ""}})  # before kinds
        entries = {
            d: await service.earn(Earning.of(volunteer(d, hours=1)))
            for d in (taxi, truck, changed, old)
        }
    assert (entries[taxi].rule_id, entries[taxi].amount) == ("taxi-volunteers", 30)
    for other in (truck, changed, old):
        assert (entries[other].rule_id, entries[other].amount) == ("volunteer", 10)
