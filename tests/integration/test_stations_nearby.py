"""Nearest-station search on the real store against a brute-force computation.

The store has no geo operators: the service reads the stations in an indexed set of geohash
cells and measures exact great-circle distances itself. Hypothesis picks query points and
radii, with weight near the antimeridian and the poles where naive cell neighbours go wrong.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.testing import Infra
from stations.domain import distance_km
from tests.integration.stations_harness import Harness, start_harness

REGIONS = {
    # (lat range, lng ranges, count)
    "beilun": ((29.70, 30.10), [(121.50, 122.10)], 90),
    "antimeridian": ((50.0, 53.0), [(179.0, 180.0), (-180.0, -179.0)], 70),
    "fiji": ((-18.5, -15.5), [(179.2, 180.0), (-180.0, -179.2)], 40),
    "north_pole": ((88.0, 90.0), [(-180.0, 180.0)], 70),
    "south_pole": ((-90.0, -88.5), [(-180.0, 180.0)], 40),
    "world": ((-85.0, 85.0), [(-180.0, 180.0)], 60),
}


@dataclass
class World:
    h: Harness
    points: dict[str, tuple[float, float]]


def _points() -> dict[str, tuple[float, float]]:
    rng = random.Random(20261123)
    points: dict[str, tuple[float, float]] = {}
    for region, ((lat_lo, lat_hi), lngs, count) in REGIONS.items():
        for i in range(count):
            lng_lo, lng_hi = rng.choice(lngs)
            points[f"{region}-{i:03d}"] = (
                round(rng.uniform(lat_lo, lat_hi), 6),
                round(rng.uniform(lng_lo, lng_hi), 6),
            )
    # Exactly on the edges of the coordinate space.
    points.update({"edge-np": (90.0, 0.0), "edge-sp": (-90.0, 45.0), "edge-e": (0.5, 180.0)})
    points["edge-w"] = (0.5, -180.0)
    return points


@pytest.fixture(scope="module")
async def world(infra: Infra) -> AsyncIterator[World]:
    async for h in start_harness(infra):
        points = _points()
        items = list(points.items())
        for start in range(0, len(items), 25):
            await asyncio.gather(
                *(
                    h.station(
                        station_id=station_id,
                        location={"lat": lat, "lng": lng},
                        services=[{"code": "rest"}],
                    )
                    for station_id, (lat, lng) in items[start : start + 25]
                )
            )
        yield World(h, points)


def brute_force(
    points: dict[str, tuple[float, float]], lat: float, lng: float, radius: float
) -> list[str]:
    within = [
        (distance_km(lat, lng, plat, plng), station_id)
        for station_id, (plat, plng) in points.items()
        if distance_km(lat, lng, plat, plng) <= radius
    ]
    return [station_id for _, station_id in sorted(within)]


def near(region: str) -> st.SearchStrategy[tuple[float, float]]:
    (lat_lo, lat_hi), lngs, _ = REGIONS[region]
    lng = st.sampled_from(lngs).flatmap(lambda r: st.floats(r[0], r[1]))
    return st.tuples(st.floats(max(-90, lat_lo - 1), min(90, lat_hi + 1)), lng)


CENTRES = st.one_of(
    near("beilun"),
    near("antimeridian"),
    near("fiji"),
    near("north_pole"),
    near("south_pole"),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
    st.sampled_from([(90.0, 0.0), (-90.0, 0.0), (0.5, 180.0), (0.5, -180.0), (51.5, 179.999)]),
)
RADII = st.one_of(
    st.sampled_from([0.5, 2.0, 15.0, 50.0, 150.0, 400.0, 1200.0, 2000.0]),
    st.floats(0.1, 2000.0),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(centre=CENTRES, radius=RADII)
async def test_nearby_finds_exactly_the_stations_a_brute_force_scan_finds_in_distance_order(
    world: World, centre: tuple[float, float], radius: float
) -> None:
    lat, lng = centre
    answer = await world.h.http.get(
        "/v1/stations/nearby",
        params={"lat": lat, "lng": lng, "radius_km": radius, "limit": 200},
        headers=world.h.auth("driver", driver_id="drv_x"),
    )
    assert answer.status_code == 200, answer.text
    found = [item["station_id"] for item in answer.json()["items"]]
    assert found == brute_force(world.points, lat, lng, radius)[:200]


async def test_results_carry_distance_and_travel_time_and_honour_the_filters(
    world: World,
) -> None:
    h = world.h
    h.clock.at = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Beilun, a Tuesday
    centre = (29.95, 121.90)
    full = await h.station(
        location={"lat": 29.9501, "lng": 121.9001},
        capacity={"beds": 1, "parking": 0},
        services=[{"code": "bed"}, {"code": "shower"}],
    )
    night_only = await h.station(
        location={"lat": 29.9502, "lng": 121.9002},
        hours={"week": {"tue": [{"opens": "20:00", "closes": "06:00"}]}},
        capacity={"beds": 5, "parking": 5},
        services=[{"code": "bed"}, {"code": "shower"}],
    )
    driver = await h.driver()
    assert (await h.checkin(driver, full, "bed")).status_code == 201

    async def ids(**params: object) -> list[str]:
        answer = await h.http.get(
            "/v1/stations/nearby",
            params={"lat": centre[0], "lng": centre[1], "radius_km": 0.5, **params},
            headers=h.auth("driver", driver_id=driver),
        )
        assert answer.status_code == 200, answer.text
        return [i["station_id"] for i in answer.json()["items"]]

    assert await ids() == [full, night_only]
    assert await ids(free_beds="true") == [night_only]
    assert await ids(open_now="true") == [full]
    assert await ids(facility=["shower", "bed"]) == [full, night_only]
    assert await ids(facility="gym") == []
    item = (
        await h.http.get(
            "/v1/stations/nearby",
            params={"lat": centre[0], "lng": centre[1], "radius_km": 0.5},
            headers=h.auth(),
        )
    ).json()["items"][0]
    assert 0.0 < item["distance_km"] < 0.05 and item["travel_minutes"] >= 1
    assert item["free"] == {"beds": 0, "parking": 0} and item["open_now"] is True
    bad = await h.http.get(
        "/v1/stations/nearby",
        params={"lat": 29.9, "lng": 121.8, "facility": "teleporter"},
        headers=h.auth(),
    )
    assert bad.status_code == 422
    h.clock.at = None
