"""The home page's figures from the services' lists (an httpx transport answers as they would):
today's counted check-ins and points redeemed (the district's day, yesterday's and refunded ones
left out), open cases by clock state each a link to the queue filtered by that state, and the
check-ins list behind its figure."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from console.app import create_app
from console.pages.home import start_of_today
from console.settings import ConsoleSettings

NOW = datetime.now(UTC)
TODAY = start_of_today()
YESTERDAY = (TODAY - timedelta(minutes=5)).isoformat()
PORTS = {8001: "registry", 8002: "points", 8003: "stations", 8004: "notify", 8005: "cases"}


def at(minutes_after_midnight: int) -> str:
    # Never in the future, so the figure holds whatever time of day the test runs.
    return min(TODAY + timedelta(minutes=minutes_after_midnight), NOW).isoformat()


def checkin(n: int, when: str) -> dict[str, Any]:
    return {
        "checkin_id": f"chk_{n}",
        "driver_id": f"drv_{n}",
        "station_id": "stn_1",
        "service_code": "rest",
        "channel": "qr",
        "recorded_at": when,
        "status": "counted",
    }


def redemption(cost: int, state: str, when: str) -> dict[str, Any]:
    return {"redemption_id": f"rdm_{cost}", "cost": cost, "state": state, "created_at": when}


def case(case_id: str, started: timedelta, due: timedelta) -> dict[str, Any]:
    clock = {"started_at": (NOW - started).isoformat(), "due": (NOW + due).isoformat()}
    return {
        "case_id": case_id,
        "kind": "complaint",
        "category": "parking",
        "status": "received",
        "offered_unit_ids": ["U1"],
        "clocks": {"resolution": {**clock, "breached": False}},
    }


ANSWERS: dict[tuple[str, str], Any] = {
    ("registry", "/v1/drivers"): {"items": [{"driver_id": "d"}] * 3, "next_cursor": None},
    ("stations", "/v1/checkins"): {
        "items": [checkin(1, at(2)), checkin(2, at(1)), checkin(3, YESTERDAY)],
        "next_cursor": "more",  # never asked: yesterday's entry ends the count
    },
    ("points", "/v1/redemptions"): {
        "items": [
            redemption(100, "fulfilled", at(3)),
            redemption(50, "reserved", at(2)),
            redemption(70, "cancelled", at(1)),
            redemption(30, "fulfilled", YESTERDAY),
        ],
        "next_cursor": None,
    },
    ("points", "/v1/grades"): {"grades": []},
    ("points", "/v1/figures/day"): {
        "day": TODAY.date().isoformat(),
        "awarded": 185,
        "awarded_by_cause": {
            "earning_rules": 120,
            "bonuses": 50,
            "compensation": 10,
            "adjustments": 5,
        },
        "refunded": 70,
        "redeemed": 220,
        "expired": 3,
        "debited_by_kind": {"redemption": 220, "expiry": 3, "adjustment": 7},
        "entries": 12,
    },
    ("cases", "/v1/cases"): {
        "items": [
            case("cas_ok", timedelta(hours=1), timedelta(hours=9)),
            case("cas_warn", timedelta(hours=8), timedelta(hours=2)),
            case("cas_late", timedelta(hours=8), timedelta(hours=-1)),
        ],
        "next_cursor": None,
    },
    ("notify", "/v1/broadcasts"): {
        "items": [{"status": "fanning_out"}, {"status": "completed"}],
        "next_cursor": None,
    },
}


class Services:
    def __init__(self) -> None:
        self.asked: list[httpx.Request] = []
        self.refused: set[str] = set()  # paths the service refuses (the person lacks a scope)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        if request.url.path in self.refused:
            return httpx.Response(403, json={"title": "Forbidden"})
        found = ANSWERS.get((PORTS.get(request.url.port or 0, ""), request.url.path))
        if found is None:
            return httpx.Response(404, json={"title": "Not Found"})
        return httpx.Response(200, json=found)


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
        page = await http.get("/signin")
        token = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
        assert token
        roles = ["registry_clerk", "points_admin", "notify_editor", "case_supervisor"]
        signed = await http.post(
            "/signin/dev", data={"csrf": token.group(1), "sub": "home-1", "roles": roles}
        )
        assert signed.status_code == 303
        yield http, services


def figure(page: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', page)
    assert found, name
    return found.group(1).strip()


async def test_todays_figures_count_the_districts_day_and_link_to_their_lists(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    http, services = console
    home = (await http.get("/")).text
    assert figure(home, "drivers") == "3"
    assert figure(home, "checkins") == "2"  # yesterday's left out
    assert figure(home, "broadcasts") == "1"
    assert figure(home, "redeemed") == "150"  # the cancelled redemption gave its points back
    assert figure(home, "awarded") == "185"  # the points service's district-wide day figure
    assert [figure(home, f"cases-{s}") for s in ("on_time", "warned", "breached")] == ["1"] * 3
    links = (
        "/drivers",
        "/checkins",
        "/mall",
        "/points/today",
        "/broadcasts",
        "/cases?clock=breached",
    )
    for link in links:
        assert f'href="{link}"' in home, link
    assert not re.search(r"\b(home|common|nav|checkins)\.[a-z_]+\b", home)  # no raw key
    await http.get("/language/en")
    english = (await http.get("/")).text
    assert "Check-ins today" in english and "Points redeemed today" in english
    assert "Points awarded today" in english
    assert not re.search(r"\b(home|common|nav|checkins)\.[a-z_]+\b", english)
    checkins = [r for r in services.asked if r.url.path == "/v1/checkins"]
    assert len(checkins) == 2  # one page per home page: yesterday's entry ended the count
    assert checkins[0].url.params["status"] == "counted"


async def test_the_queue_filters_by_clock_state_and_the_checkins_list_shows_today(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    http, _ = console
    late = (await http.get("/cases", params={"clock": "breached"})).text
    assert "cas_late" in late and "cas_ok" not in late and "cas_warn" not in late
    both = (await http.get("/cases", params={"unit": "U1", "category": "parking"})).text
    assert all(c in both for c in ("cas_ok", "cas_warn", "cas_late"))
    assert "cas_ok" not in (await http.get("/cases", params={"unit": "U9"})).text
    listed = (await http.get("/checkins")).text
    assert 'href="/drivers/drv_1"' in listed and 'href="/drivers/drv_2"' in listed
    assert "drv_3" not in listed


async def test_without_a_scope_the_figure_is_not_shown(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    http, services = console
    await http.post("/signout", data={"csrf": csrf(await http.get("/"))})
    page = await http.get("/signin")
    await http.post("/signin/dev", data={"csrf": csrf(page), "sub": "a-1", "roles": ["auditor"]})
    services.asked.clear()
    home = (await http.get("/")).text
    assert 'data-figure="checkins"' in home  # auditor reads drivers
    assert 'data-figure="broadcasts"' not in home and "/v1/broadcasts" not in {
        r.url.path for r in services.asked
    }


def csrf(page: httpx.Response) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found
    return found.group(1)


async def test_the_points_awarded_figure_links_to_todays_points_by_cause(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    http, services = console
    page = (await http.get("/points/today")).text
    causes = ("earning_rules", "bonuses", "compensation", "adjustments")
    assert [figure(page, f"awarded-{c}") for c in causes] == ["120", "50", "10", "5"]
    assert figure(page, "awarded") == "185" and figure(page, "refunded") == "70"
    assert figure(page, "redeemed") == "-220" and figure(page, "deducted") == "-7"
    assert "发放合计" in page and not re.search(r"\bawarded\.[a-z_]+\b", page)
    assert "/v1/figures/day" in {r.url.path for r in services.asked}
    await http.get("/language/en")
    assert "Case compensation" in (await http.get("/points/today")).text
    # Without points:read the points service refuses, and so does the page.
    await http.post("/signout", data={"csrf": csrf(await http.get("/"))})
    signin = await http.get("/signin")
    await http.post(
        "/signin/dev", data={"csrf": csrf(signin), "sub": "n-1", "roles": ["notify_editor"]}
    )
    assert 'data-figure="awarded"' not in (await http.get("/")).text
    services.refused.add("/v1/figures/day")
    assert (await http.get("/points/today")).status_code == 403
