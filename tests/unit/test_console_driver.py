"""The driver page against the registry's, notify's, points' and cases' real answer shapes (an
httpx transport answers as they would): masked data, vehicles and passes, consents, family,
inbox, points summary and cases; and a phone search sent in a body, never in a URL."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any, get_args

import httpx
import pytest
from asgi_lifespan import LifespanManager

from console.app import create_app
from console.i18n import WORDS
from console.settings import ConsoleSettings
from registry.domain import ConsentPurpose

DRIVER = "drv_7"
PORTS = {8001: "registry", 8002: "points", 8004: "notify", 8005: "cases"}
CONSENT = {"granted": True, "at": "2026-12-01T02:00:00Z", "channel": "station", "by": "op"}
ANSWERS: dict[tuple[str, str], Any] = {
    ("registry", f"/v1/drivers/{DRIVER}"): {
        "driver_id": DRIVER,
        "name": "李*",
        "phone": "138****0000",
        "national_id": None,
        "plate": "浙B12345",
        "fleet": "安达物流",
        "status": "active",
        "home_province": "浙江",
    },
    ("registry", f"/v1/drivers/{DRIVER}/vehicles"): [
        {
            "plate": "浙B12345",
            "driver_id": DRIVER,
            "holder_active": True,
            "vehicle_type": "tractor",
            "pass_number": "GP-2026-88",
            "pass_expires_on": "2027-03-31",
            "added_at": "2026-01-01T00:00:00Z",
        },
    ],
    ("registry", f"/v1/drivers/{DRIVER}/consents"): {
        "driver_id": DRIVER,
        "current": {
            "points": {**CONSENT, "purpose": "points"},
            "location": {**CONSENT, "purpose": "location", "granted": False},
        },
        "history": [],
        "purposes": ["points", "notifications", "location"],
    },
    ("registry", f"/v1/drivers/{DRIVER}/family"): {
        "driver_id": DRIVER,
        "spouse_name": "王*",
        "children": [{"child_id": "c1", "name": "李*", "birth_year": 2015}],
    },
    ("notify", f"/v1/drivers/{DRIVER}/inbox"): {
        "items": [
            {
                "created_at": "2026-12-02T01:00:00Z",
                "category": "service",
                "title": "港区通行证即将到期",
                "read": False,
            }
        ],
        "next_cursor": None,
    },
    ("points", f"/v1/accounts/{DRIVER}"): {"balance": 420, "grade": "B"},
    ("cases", "/v1/cases"): {
        "items": [{"case_id": "cas_9", "category": "parking", "status": "received"}],
        "next_cursor": None,
    },
    ("registry", "/v1/drivers/search"): {"items": [], "next_cursor": None},
}


class Services:
    def __init__(self) -> None:
        self.asked: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        found = ANSWERS.get((PORTS.get(request.url.port or 0, ""), request.url.path))
        if found is None:
            return httpx.Response(404, json={"title": "Not Found"})
        return httpx.Response(200, json=found)


def csrf(page: httpx.Response) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found
    return found.group(1)


@pytest.fixture
async def console() -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    services = Services()
    app = create_app(
        ConsoleSettings(environment="development"), transport=httpx.MockTransport(services)
    )
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="https://console.test"
        ) as http,
    ):
        roles = ["registry_clerk", "points_admin", "case_supervisor"]
        page = await http.get("/signin")
        signed = await http.post(
            "/signin/dev", data={"csrf": csrf(page), "sub": "clerk-1", "roles": roles}
        )
        assert signed.status_code == 303
        await http.get("/language/en")
        yield http, services


async def test_the_driver_page_shows_vehicles_passes_consents_family_inbox_points_and_cases(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    http, _ = console
    page = (await http.get(f"/drivers/{DRIVER}")).text
    assert "138****0000" in page  # the registry's masked value, as given
    vehicles = page[page.index('data-table="vehicles"') :]
    assert "浙B12345" in vehicles and "GP-2026-88" in vehicles and "2027-03-31" in vehicles
    consents = page[page.index('data-list="consents"') :]
    assert re.search(r"Points: Granted", consents)
    assert "Location: Withdrawn" in consents and "Notifications: Never asked" in consents
    assert "王*" in page and "李* (2015)" in page
    assert "港区通行证即将到期" in page
    assert "<strong>420</strong>" in page
    assert 'href="/cases/cas_9"' in page


async def test_a_phone_search_goes_in_the_body_not_the_url(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    http, services = console
    page = await http.get("/drivers")
    number = "13800001111"
    answer = await http.post("/drivers/search", data={"csrf": csrf(page), "phone": number})
    assert answer.status_code == 200
    sent = [r for r in services.asked if r.url.path == "/v1/drivers/search"]
    assert len(sent) == 1 and number not in str(sent[0].url)
    assert json.loads(sent[0].content)["phone"] == number
    plate = await http.get("/drivers", params={"plate": "浙B12345", "fleet_id": "f1"})
    assert plate.status_code == 200
    listed = [r for r in services.asked if r.url.path == "/v1/drivers"][-1]
    assert listed.url.params["plate"] == "浙B12345" and listed.url.params["fleet_id"] == "f1"


def test_every_consent_purpose_has_words_in_both_languages() -> None:
    # The page names purposes by a computed key ("consent." ~ purpose): a new purpose needs words.
    for purpose in get_args(ConsentPurpose):
        zh, en = WORDS[f"consent.{purpose}"]
        assert zh and en
