"""An erasure racing the registry's other writes about the same driver: a station visit
announced before the erasure and read after it, and a plate added while the driver is being
erased. Nothing the erasure forgets may be written back after it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from common.events.stations import ServiceUsed
from registry.app import create_app
from registry.domain import Conflict
from registry.records import Actor
from registry.settings import RegistrySettings
from tests.integration.test_registry_rules import driver
from tests.support import StaleFirst, serve

Headers = Callable[..., dict[str, str]]

OPERATOR = Actor(sub="ops-1", role="operator")


async def test_a_check_in_read_after_the_erasure_leaves_no_visit(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    app = create_app(make_settings(RegistrySettings))
    async with serve(app) as http:
        erased, kept = [
            (await http.post("/v1/drivers", json=driver(n), headers=token())).json()["driver_id"]
            for n in (71, 72)
        ]
        registry = app.state.registry
        await registry.lifecycle.erase(erased, "on_request", OPERATOR)
        used_at = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
        for driver_id in (erased, kept):
            await registry.station_access.checked_in(
                ServiceUsed(
                    driver_id=driver_id, station_id="S-BL-01", service_code="rest", used_at=used_at
                )
            )
        visits = app.state.registry.station_access._visits.collection
        left = {doc["driver_id"] async for doc in visits.find({})}
    assert left == {kept}, "the erased driver's visit is forgotten, the other driver's kept"


async def test_a_plate_added_while_the_driver_is_erased_is_not_kept(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    app = create_app(make_settings(RegistrySettings))
    async with serve(app) as http:
        driver_id = (await http.post("/v1/drivers", json=driver(73), headers=token())).json()[
            "driver_id"
        ]
        registry = app.state.registry
        records = registry.vehicles._records
        # The add reads the driver before the erasure lands, and claims the plate after it.
        before = await records.get_driver(driver_id)
        await registry.lifecycle.erase(driver_id, "on_request", OPERATOR)
        refused: Conflict | None = None
        with StaleFirst(records, "get_driver", before):
            try:
                await registry.vehicles.add_vehicle(
                    driver_id, "浙B7E073", "container_tractor", None, None
                )
            except Conflict as exc:
                refused = exc
        stores = registry.vehicles._vehicles
        held = await stores.get("浙B7E073")
        listed = await stores.lookups.collection.find_one({"_id": f"plates:{driver_id}"})
    assert refused is not None and refused.code == "driver-erased"
    assert held is None, "the plate is not held by an erased driver"
    assert listed is None, "no plate is listed under the erased driver"
