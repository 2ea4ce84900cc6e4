"""A driver answer shows a station or partner who the driver is, not their affiliations, on the
real broker and store, one registry for the module.

Before the fix every caller who reached a driver read their memberships (a party branch, and
for a mobile party member the home organisation elsewhere), their consents (``party_life``
among them) and every partner's link: a station learnt a driver's party membership from a plate
read off a truck, and one partner learnt which other partners the driver uses. Operators and
the driver themselves still see the whole record.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from common.testing import Infra, unique_name
from registry.app import create_app
from registry.settings import RegistrySettings
from tests.integration.test_registry_rules import driver
from tests.security.module_service import Running, module_service

Headers = Callable[..., dict[str, str]]
BOOKING, SAFETY = "port-booking", "traffic-safety"
HOME_BRANCH = "阜阳市某村党支部"
SERIALS = itertools.count(931)


@dataclass(frozen=True)
class Seen:
    """One driver with everything a caller must not see unless it is theirs to see."""

    driver_id: str
    plate: str
    station_id: str
    campaign_id: str


@pytest.fixture(scope="module")
async def registry(infra: Infra) -> AsyncIterator[Running[RegistrySettings]]:
    async for running in module_service(infra, RegistrySettings, create_app):
        yield running


@pytest.fixture
async def seen(registry: Running[RegistrySettings], token: Headers) -> Seen:
    # Each test its own driver: the tests share the module's register.
    http, station_id, body = registry.http, unique_name("st-"), driver(next(SERIALS))
    grid = await http.post(
        "/v1/grids",
        json={"name": unique_name("网格"), "community": "霞浦社区", "station_id": station_id},
        headers=token(),
    )
    # Registered by one partner (linked), then linked to a second by the driver's own code.
    made = await http.post(
        "/v1/drivers",
        json={**body, "partner_driver_ref": unique_name("PB-")},
        headers=token("partner", partner_id=BOOKING),
    )
    assert made.status_code == 201, made.text
    driver_id = made.json()["driver_id"]
    me = token("driver", driver_id=driver_id)
    await http.patch(
        f"/v1/drivers/{driver_id}", json={"grid_id": grid.json()["grid_id"]}, headers=token()
    )
    code = await http.post(
        f"/v1/drivers/{driver_id}/partner-link-codes", json={"partner_id": SAFETY}, headers=me
    )
    redeemed = await http.post(
        "/v1/partner-links/redeem",
        json={"code": code.json()["code"]},
        headers=token("partner", partner_id=SAFETY),
    )
    assert redeemed.status_code == 200, redeemed.text
    branch = await http.post(
        "/v1/organisations",
        json={"name": unique_name("党支部"), "kind": "party_branch", "branch_type": "business"},
        headers=token(),
    )
    member = await http.post(
        f"/v1/organisations/{branch.json()['organisation_id']}/members",
        json={"driver_id": driver_id, "mobile": True, "home_organisation": HOME_BRANCH},
        headers=token(),
    )
    assert member.status_code == 201, member.text
    consent = await http.put(
        f"/v1/drivers/{driver_id}/consents/party_life",
        json={"granted": True, "channel": "app"},
        headers=me,
    )
    assert consent.status_code == 200, consent.text
    campaign = await http.post("/v1/census/campaigns", json={}, headers=token())
    return Seen(driver_id, body["plate"], station_id, campaign.json()["campaign_id"])


View = Callable[[httpx.AsyncClient, Headers, Seen], Awaitable[dict[str, Any]]]


async def _station_search(http: httpx.AsyncClient, token: Headers, seen: Seen) -> dict[str, Any]:
    staff = token("station", station_id=seen.station_id)
    found = await http.post("/v1/drivers/search", json={"plate": seen.plate}, headers=staff)
    assert found.status_code == 200, found.text
    [item] = found.json()["items"]
    return dict(item)


async def _station_read(http: httpx.AsyncClient, token: Headers, seen: Seen) -> dict[str, Any]:
    staff = token("station", station_id=seen.station_id)
    read = await http.get(f"/v1/drivers/{seen.driver_id}", headers=staff)
    assert read.status_code == 200, read.text
    return dict(read.json())


async def _station_census(http: httpx.AsyncClient, token: Headers, seen: Seen) -> dict[str, Any]:
    staff = token("station", station_id=seen.station_id)
    listed = await http.get(f"/v1/census/campaigns/{seen.campaign_id}/pending", headers=staff)
    assert listed.status_code == 200, listed.text
    [item] = [d for d in listed.json()["items"] if d["driver_id"] == seen.driver_id]
    return dict(item)


async def _partner_read(http: httpx.AsyncClient, token: Headers, seen: Seen) -> dict[str, Any]:
    read = await http.get(
        f"/v1/drivers/{seen.driver_id}", headers=token("partner", partner_id=BOOKING)
    )
    assert read.status_code == 200, read.text
    return dict(read.json())


@pytest.mark.parametrize(
    ("view", "links"),
    [
        pytest.param(_station_search, None, id="station-search-by-plate"),
        pytest.param(_station_read, None, id="station-read-by-id"),
        pytest.param(_station_census, None, id="station-census-pending-list"),
        pytest.param(_partner_read, [BOOKING], id="partner-read-of-a-linked-driver"),
    ],
)
async def test_a_station_or_partner_sees_no_memberships_consents_or_other_partners_links(
    registry: Running[RegistrySettings],
    token: Headers,
    seen: Seen,
    view: View,
    links: list[str] | None,
) -> None:
    http = registry.http
    shown = await view(http, token, seen)
    operator = (await http.get(f"/v1/drivers/{seen.driver_id}", headers=token())).json()
    own = (
        await http.get(
            f"/v1/drivers/{seen.driver_id}", headers=token("driver", driver_id=seen.driver_id)
        )
    ).json()
    assert shown["driver_id"] == seen.driver_id and shown["plates"] == [seen.plate]
    assert shown["memberships"] is None and shown["consents"] is None
    shown_links = shown["partner_links"]
    assert (None if shown_links is None else [x["partner_id"] for x in shown_links]) == links
    assert HOME_BRANCH not in str(shown) and SAFETY not in str(shown)
    for full in (operator, own):
        [membership] = full["memberships"]
        assert (membership["mobile"], membership["home_organisation"]) == (True, HOME_BRANCH)
        assert full["consents"] == {"party_life": True}
        assert sorted(x["partner_id"] for x in full["partner_links"]) == [BOOKING, SAFETY]


async def test_a_station_reads_every_consent_but_party_life(
    registry: Running[RegistrySettings], token: Headers, seen: Seen
) -> None:
    """The counter asks drivers for consents and reads their answers, but whether a driver
    joins party life in the app tells staff who is a party member."""
    http = registry.http
    url = f"/v1/drivers/{seen.driver_id}/consents"
    staff = (await http.get(url, headers=token("station", station_id=seen.station_id))).json()
    own = (await http.get(url, headers=token("driver", driver_id=seen.driver_id))).json()
    assert "party_life" not in staff["current"] and "party_life" not in staff["purposes"]
    assert all(c["purpose"] != "party_life" for c in staff["history"])
    assert "location" in staff["purposes"]
    assert own["current"]["party_life"]["granted"] is True
