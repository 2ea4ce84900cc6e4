"""The service circle in minutes and its coverage, and drivers' kinds, on the real store and
broker: the nearest stations within a travel time by road class, the share of drivers'
declared bases within 15 minutes of an open station (from registry.events, location consent
respected), and a driver of a kind reading the catalogue items for that kind.

Distances: 0.01 degree of latitude is 1.112 km. Travel minutes = ceil(km x 1.3 / speed x 60)
with the default speeds (urban 30 km/h, expressway 70 km/h).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from common.events import new_event
from common.events.registry import BaseLocation, DriverRegistered, DriverUpdated
from common.testing import Infra, unique_name, wait_until
from tests.integration.stations_harness import Harness, start_harness

# Far from the harness's default station location, so only this module's stations count.
U = (30.50, 122.50)  # an urban station
E = (30.41, 122.50)  # an expressway station 10.0 km south of U


@pytest.fixture(scope="module")
async def h(infra: Infra) -> AsyncIterator[Harness]:
    async for harness in start_harness(infra):
        await harness.station(location={"lat": U[0], "lng": U[1]}, road_class="urban")
        await harness.station(location={"lat": E[0], "lng": E[1]}, road_class="expressway")
        await harness.station(location={"lat": 30.62, "lng": 122.50}, status="retired")
        yield harness


async def _nearby(h: Harness, lat: float, **params: Any) -> dict[str, Any]:
    answer = await h.http.get(
        "/v1/stations/nearby", params={"lat": lat, "lng": 122.50, **params}, headers=h.auth()
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_nearby_within_minutes_uses_the_road_class_speed(h: Harness) -> None:
    north = await _nearby(h, 30.54, minutes=15)  # 4.4 km from U (12 min), 14.5 from E (17)
    assert north["minutes"] == 15
    assert [(i["road_class"], i["travel_minutes"]) for i in north["items"]] == [("urban", 12)]
    assert 4.4 < north["items"][0]["distance_km"] < 4.5
    both = await _nearby(h, 30.54, radius_km=20)
    assert [i["travel_minutes"] for i in both["items"][:2]] == [12, 17]
    south = await _nearby(h, 30.32, minutes=15)  # 10.0 km from E (12 min), 20.0 from U (53)
    assert [(i["road_class"], i["travel_minutes"]) for i in south["items"]] == [("expressway", 12)]
    assert (await _nearby(h, 30.57, minutes=15))["items"] == []  # 7.8 km urban: 21 min


async def _register(h: Harness, base: tuple[float, float] | None, **fields: Any) -> str:
    driver_id = unique_name("drv_")
    location = BaseLocation(lat=base[0], lng=base[1]) if base else None
    await h.publish(
        "registry.events",
        new_event(
            DriverRegistered(
                driver_id=driver_id,
                channel="self",
                registered_at=datetime.now(UTC),
                base_location=location,
                **fields,
            ),
            source="driverhome/registry",
            subject=driver_id,
        ),
    )

    async def known() -> bool:
        return await h.db["drivers"].find_one({"_id": driver_id}) is not None

    await wait_until(known)
    return driver_id


async def _circle(h: Harness) -> dict[str, Any]:
    answer = await h.http.get("/v1/service-circle", headers=h.auth())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_circle_coverage_is_the_share_of_consenting_bases_within_15_minutes(
    h: Harness,
) -> None:
    before = await _circle(h)
    await _register(h, (30.54, 122.50))  # 4.4 km from U: 12 min
    await _register(h, (30.60, 122.50))  # 11.1 km from U (29 min), 21.1 from E (24)
    await _register(h, (30.62, 122.50))  # beside the retired station: 13.3 km from U (35 min)
    withdrawn = await _register(h, (30.51, 122.50))
    await _register(h, None)
    await h.publish(
        "registry.events",
        new_event(
            DriverUpdated(
                driver_id=withdrawn,
                changed_fields=["consents.location"],
                updated_at=datetime.now(UTC),
                consents={"location": False},
            ),
            source="driverhome/registry",
            subject=withdrawn,
        ),
    )

    async def forgotten() -> bool:
        doc = await h.db["drivers"].find_one({"_id": withdrawn})
        return doc is not None and "base" not in doc

    await wait_until(forgotten)
    after = await _circle(h)
    assert after["minutes"] == 15
    assert after["active_drivers"] - before["active_drivers"] == 5
    assert (after["drivers_with_base"], after["drivers_within"]) == (3, 1)
    assert after["share"] == pytest.approx(1 / 3, abs=1e-4)
    refused = await h.http.get("/v1/service-circle", headers=h.auth("driver"))
    assert refused.status_code == 403


async def test_a_driver_reads_the_catalogue_items_for_their_kind(h: Harness) -> None:
    taxi = await _register(h, None, kind="taxi")
    truck = await _register(h, None)  # no kind: a container truck, as before kinds existed
    # A driver is who the token's driver_id says, whatever its subject (the app's login).
    as_taxi = h.auth("driver", sub="login-7", driver_id=taxi)
    mine = (await h.http.get("/v1/lifecycle", headers=as_taxi)).json()
    codes = {i["code"] for s in mine["stages"] for i in s["items"]}
    assert mine["kind"] == "taxi" and "truck_parking" not in codes and "shower" in codes
    as_trucker = h.auth("driver", sub="login-8", driver_id=truck)
    trucker = (await h.http.get("/v1/lifecycle", headers=as_trucker)).json()
    assert trucker["kind"] == "container_truck" and trucker["item_count"] == 80
    await h.publish(
        "registry.events",
        new_event(
            DriverUpdated(
                driver_id=truck,
                changed_fields=["kind"],
                updated_at=datetime.now(UTC),
                kind="ride_hailing",
            ),
            source="driverhome/registry",
            subject=truck,
        ),
    )

    async def changed() -> bool:
        doc = await h.db["drivers"].find_one({"_id": truck})
        return doc is not None and doc.get("kind") == "ride_hailing"

    await wait_until(changed)
