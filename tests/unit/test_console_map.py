"""The stations map's pieces that need no service: the district GeoJSON the console serves (and
to whom), the tile setting's place in the Content Security Policy, station staff held to their
own station."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from console.app import create_app
from console.settings import ConsoleSettings
from console.web import content_security_policy


@pytest.fixture
async def dev() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ConsoleSettings(environment="development"))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="https://console.test"
        ) as http,
    ):
        yield http


async def sign_in(http: httpx.AsyncClient, **form: str) -> None:
    page = await http.get("/signin")
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found
    answer = await http.post("/signin/dev", data={"csrf": found.group(1), **form})
    assert answer.status_code == 303, answer.text


async def test_the_district_map_is_served_to_the_stations_people_only(
    dev: httpx.AsyncClient,
) -> None:
    await sign_in(dev, sub="auditor-1", roles="auditor")
    assert (await dev.get("/map/district.geojson")).status_code == 403
    await sign_in(dev, sub="stations-1", roles="station_admin")
    answer = await dev.get("/map/district.geojson")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/geo+json")
    shapes = answer.json()
    levels = Counter(f["properties"]["level"] for f in shapes["features"])
    # The demo district (seeds/000:77): the outline, 7 grids of the logistics community with
    # their 42 micro-grids, and three grids for each other community of the demo registry.
    assert (levels["district"], levels["micro_grid"], levels["grid"]) == (1, 42, 37)
    names = {f["properties"]["name"] for f in shapes["features"]}
    assert {"物流工业社区第7网格", "物流工业社区第7网格第6微网格", "柴桥社区第3网格"} <= names


def test_tiles_are_off_unless_set_and_then_only_their_origin_is_allowed() -> None:
    default = content_security_policy(ConsoleSettings(environment="development"))
    assert "img-src 'self' data:;" in default
    tiled = ConsoleSettings(
        environment="development", map_tile_url="https://tiles.example/{z}/{x}/{y}.png"
    )
    assert "img-src 'self' data: https://tiles.example;" in content_security_policy(tiled)
    with pytest.raises(ValueError, match="map_tile_url"):
        ConsoleSettings(environment="development", map_tile_url="javascript:alert(1)")


async def test_station_staff_see_their_own_station_only(dev: httpx.AsyncClient) -> None:
    await sign_in(dev, sub="staff-1", station="BL-XP-001")
    mine = await dev.get("/stations")
    assert (mine.status_code, mine.headers["location"]) == (303, "/stations/BL-XP-001")
    assert (await dev.get("/stations/BL-XP-000")).status_code == 403
