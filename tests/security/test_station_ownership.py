"""Stations act only on their own drivers (issue 14, "Stations act on anyone"), on the real
broker and store, one registry for the module.

Before the fix any station token changed any driver through a census verification, listed the
whole register through the census pending list, and recorded (or withdrew, deleting the family
details) consents the driver never gave. Each test is one of those findings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from common.events import new_event
from common.events.stations import ServiceUsed
from common.testing import Infra, unique_name, wait_until
from registry.app import create_app
from registry.retention import retention_rules
from registry.settings import RegistrySettings
from tests.integration.test_registry_rules import driver
from tests.security.module_service import Running, module_service
from tests.support import produce

Headers = Callable[..., dict[str, str]]
FAMILY = {"spouse_name": "林秀兰", "children": [{"name": "刘子涵", "birth_year": 2016}]}


@pytest.fixture(scope="module")
async def registry(infra: Infra) -> AsyncIterator[Running[RegistrySettings]]:
    async for running in module_service(infra, RegistrySettings, create_app):
        yield running


async def _register(http: httpx.AsyncClient, token: Headers, serial: int, grid: str) -> str:
    answer = await http.post("/v1/drivers", json=driver(serial), headers=token())
    driver_id: str = answer.json()["driver_id"]
    await http.patch(f"/v1/drivers/{driver_id}", json={"grid_id": grid}, headers=token())
    return driver_id


async def _grid(http: httpx.AsyncClient, token: Headers, station_id: str | None) -> str:
    body: dict[str, Any] = {"name": unique_name("网格"), "community": "霞浦社区"}
    if station_id:
        body["station_id"] = station_id
    grid_id: str = (await http.post("/v1/grids", json=body, headers=token())).json()["grid_id"]
    return grid_id


async def test_a_station_verifies_only_drivers_of_its_census_assignment(
    registry: Running[RegistrySettings], token: Headers
) -> None:
    http, station_id = registry.http, unique_name("st-")
    ours = await _register(http, token, 901, await _grid(http, token, station_id))
    theirs = await _register(http, token, 902, await _grid(http, token, None))
    staff = token("station", station_id=station_id)
    change = {"changes": {"name": "冒名顶替", "status": "inactive"}}
    refused = await http.post(f"/v1/drivers/{theirs}/verifications", json=change, headers=staff)
    stationless = await http.post(
        f"/v1/drivers/{ours}/verifications", json=change, headers=token("station")
    )
    verified = await http.post(
        f"/v1/drivers/{ours}/verifications",
        json={"changes": {"home_province": "江西"}},
        headers=staff,
    )
    after = (await http.get(f"/v1/drivers/{theirs}", headers=token())).json()
    assert refused.status_code == 404, refused.text
    assert stationless.status_code == 404, stationless.text
    assert after["status"] == "active" and after["last_verified_at"] is None
    assert "冒名顶替" not in str(after)
    assert verified.status_code == 200, verified.text


async def test_a_station_lists_only_the_unverified_drivers_of_its_assignment(
    registry: Running[RegistrySettings], token: Headers
) -> None:
    http, station_id = registry.http, unique_name("st-")
    ours = await _register(http, token, 903, await _grid(http, token, station_id))
    elsewhere = await _grid(http, token, None)
    theirs = await _register(http, token, 904, elsewhere)
    campaign = (await http.post("/v1/census/campaigns", json={}, headers=token())).json()
    url = f"/v1/census/campaigns/{campaign['campaign_id']}/pending"
    staff = token("station", station_id=station_id)
    listed = await http.get(url, params={"limit": 100}, headers=staff)
    other_grid = await http.get(url, params={"grid_id": elsewhere}, headers=staff)
    unassigned = await http.get(url, headers=token("station", station_id=unique_name("st-")))
    everyone = await http.get(url, params={"limit": 100}, headers=token())
    assert [d["driver_id"] for d in listed.json()["items"]] == [ours]
    assert other_grid.json()["items"] == [] and unassigned.json()["items"] == []
    assert {ours, theirs} <= {d["driver_id"] for d in everyone.json()["items"]}


async def test_a_station_records_a_consent_only_once_the_driver_confirms_it(
    registry: Running[RegistrySettings], token: Headers
) -> None:
    http, station_id = registry.http, unique_name("st-")
    driver_id = await _register(http, token, 905, await _grid(http, token, station_id))
    staff = token("station", station_id=station_id)
    me = token("driver", driver_id=driver_id, sub="drv-905")
    stranger = token("driver", driver_id=unique_name("drv_"))
    consents = f"/v1/drivers/{driver_id}/consents"
    direct = await http.put(
        f"{consents}/location", json={"granted": True, "channel": "station"}, headers=staff
    )
    asked = await http.post(
        f"/v1/drivers/{driver_id}/consent-requests",
        json={"purpose": "location", "granted": True},
        headers=staff,
    )
    request_id = asked.json()["request_id"]
    before = (await http.get(consents, headers=me)).json()
    listed = await http.get(f"/v1/drivers/{driver_id}/consent-requests", headers=me)
    confirm = f"/v1/drivers/{driver_id}/consent-requests/{request_id}/confirm"
    by_stranger = await http.post(confirm, headers=stranger)
    by_station = await http.post(confirm, headers=staff)
    confirmed = await http.post(confirm, headers=me)
    twice = await http.post(confirm, headers=me)
    after = (await http.get(consents, headers=me)).json()
    assert direct.status_code == 403, direct.text
    assert asked.status_code == 202 and asked.json()["status"] == "pending"
    assert "location" not in before["current"]
    assert [r["request_id"] for r in listed.json()] == [request_id]
    assert by_stranger.status_code == 404 and by_station.status_code == 403
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    assert twice.status_code == 409
    recorded = after["current"]["location"]
    # The driver's own, recorded under the driver id (never the token's subject).
    assert (recorded["granted"], recorded["channel"], recorded["by"]) == (
        True,
        "station",
        driver_id,
    )


async def test_a_station_records_exactly_what_the_drivers_one_time_code_confirms(
    registry: Running[RegistrySettings], token: Headers
) -> None:
    http, station_id = registry.http, unique_name("st-")
    driver_id = await _register(http, token, 906, await _grid(http, token, station_id))
    staff = token("station", station_id=station_id)
    me = token("driver", driver_id=driver_id)
    offered = await http.post(
        f"/v1/drivers/{driver_id}/consent-codes",
        json={"purpose": "notifications", "granted": True},
        headers=me,
    )
    code = offered.json()["code"]
    url = f"/v1/drivers/{driver_id}/consent-requests"
    ask = {"purpose": "notifications", "granted": True}
    guessed = await http.post(url, json={**ask, "code": "ABCDEFGH"}, headers=staff)
    other_answer = await http.post(
        url, json={"purpose": "location", "granted": True, "code": code}, headers=staff
    )
    recorded = await http.post(url, json={**ask, "code": code}, headers=staff)
    reused = await http.post(url, json={**ask, "code": code}, headers=staff)
    consents = (await http.get(f"/v1/drivers/{driver_id}/consents", headers=me)).json()
    assert offered.status_code == 201 and len(code) == 8
    assert code not in str(consents)
    assert guessed.status_code == 403 and other_answer.status_code == 403
    assert recorded.status_code == 200 and recorded.json()["status"] == "used"
    assert reused.status_code == 403
    assert consents["current"]["notifications"]["granted"] is True
    assert "location" not in consents["current"]


async def test_a_station_cannot_withdraw_family_consent_without_the_driver(
    registry: Running[RegistrySettings], token: Headers
) -> None:
    http, station_id = registry.http, unique_name("st-")
    driver_id = await _register(http, token, 907, await _grid(http, token, station_id))
    staff = token("station", station_id=station_id)
    me = token("driver", driver_id=driver_id)
    consent = f"/v1/drivers/{driver_id}/consents/family_services"
    await http.put(consent, json={"granted": True, "channel": "app"}, headers=me)
    await http.put(f"/v1/drivers/{driver_id}/family", json=FAMILY, headers=me)
    withdrawn = await http.put(
        consent, json={"granted": False, "channel": "station"}, headers=staff
    )
    asked = await http.post(
        f"/v1/drivers/{driver_id}/consent-requests",
        json={"purpose": "family_services", "granted": False},
        headers=staff,
    )
    kept = (await http.get(f"/v1/drivers/{driver_id}/family", headers=me)).json()
    declined = await http.post(
        f"/v1/drivers/{driver_id}/consent-requests/{asked.json()['request_id']}/decline",
        headers=me,
    )
    still = (await http.get(f"/v1/drivers/{driver_id}/family", headers=me)).json()
    assert withdrawn.status_code == 403, withdrawn.text
    assert asked.status_code == 202
    assert kept["spouse_name"] == "林**" and len(kept["children"]) == 1
    assert declined.json()["status"] == "declined"
    assert still["spouse_name"] == "林**" and len(still["children"]) == 1


async def test_a_station_reads_only_drivers_who_checked_in_there_or_are_on_its_assignment(
    registry: Running[RegistrySettings], token: Headers, infra: Infra, mongo: Any
) -> None:
    http, here, elsewhere = registry.http, unique_name("st-"), unique_name("st-")
    visitor = await _register(http, token, 908, await _grid(http, token, None))
    resident = await _register(http, token, 909, await _grid(http, token, here))
    staff = token("station", station_id=here)
    before = await http.get(f"/v1/drivers/{visitor}", headers=staff)
    ask = {"purpose": "points", "granted": True}
    asked_before = await http.post(
        f"/v1/drivers/{visitor}/consent-requests", json=ask, headers=staff
    )
    used = new_event(
        ServiceUsed(
            driver_id=visitor, station_id=here, service_code="shower", used_at=datetime.now(UTC)
        ),
        source="driverhome/stations",
        subject=visitor,
    )
    topic = registry.settings.topic("stations.events")
    await produce(infra.kafka_bootstrap, topic, used.to_bytes(), key=visitor.encode())

    async def readable() -> bool:
        return (await http.get(f"/v1/drivers/{visitor}", headers=staff)).status_code == 200

    await wait_until(readable)
    other_station = await http.get(
        f"/v1/drivers/{visitor}", headers=token("station", station_id=elsewhere)
    )
    consents = await http.get(f"/v1/drivers/{visitor}/consents", headers=staff)
    of_assignment = await http.get(f"/v1/drivers/{resident}", headers=staff)
    # A visit reaches the driver for its purpose, not for good: past the station visits'
    # retention (30 days) the station reads the driver no more (its assignment still does).
    db = mongo[registry.settings.mongo_db]
    for rule in retention_rules(registry.settings):
        await rule.apply(db, datetime.now(UTC) + timedelta(days=31), batch_size=50)
    after_a_month = await http.get(f"/v1/drivers/{visitor}", headers=staff)
    resident_still = await http.get(f"/v1/drivers/{resident}", headers=staff)
    assert before.status_code == 404 and asked_before.status_code == 404
    assert other_station.status_code == 404
    assert consents.status_code == 200 and of_assignment.status_code == 200
    assert after_a_month.status_code == 404 and resident_still.status_code == 200
