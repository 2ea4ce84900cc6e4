"""The console without services: sign-in rules, cookies, CSRF, headers, words, what is offered."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager

from common.auth import Principal
from console import i18n
from console.app import create_app
from console.clocks import clock_state, nearest_due
from console.i18n import WORDS
from console.pages.cases import offered
from console.roles import Person
from console.settings import ConsoleSettings
from console.web import SignInNeeded, principal_of

TEMPLATES = Path(__file__).resolve().parents[2] / "services/console/src/console/templates"
PRODUCTION = {
    "environment": "production",
    "session_secret": "a-production-session-secret-of-enough-length",
    "oidc_metadata_url": "https://id.example.invalid/.well-known/openid-configuration",
    "oidc_client_id": "driverhome-console",
}


async def client(settings: ConsoleSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="https://console.test"
        ) as http,
    ):
        yield http


@pytest.fixture
async def dev() -> AsyncIterator[httpx.AsyncClient]:
    async for http in client(ConsoleSettings(environment="development")):
        yield http


@pytest.fixture
async def production() -> AsyncIterator[httpx.AsyncClient]:
    async for http in client(ConsoleSettings(**PRODUCTION)):
        yield http


def csrf_of(page: httpx.Response) -> str:
    # Every page carries it for HTMX (the body's hx-headers), forms also in a hidden field.
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def test_production_refuses_development_sign_in(production: httpx.AsyncClient) -> None:
    page = await production.get("/signin")
    assert "/signin/oidc" in page.text
    assert "/signin/dev" not in page.text
    answer = await production.post(
        "/signin/dev", data={"csrf": csrf_of(page), "sub": "x", "roles": "auditor"}
    )
    assert answer.status_code == 403
    assert "driverhome_console" not in str(answer.headers.get("set-cookie", ""))
    assert (await production.get("/")).headers["location"] == "/signin"


def test_production_needs_oidc_and_its_own_session_secret() -> None:
    with pytest.raises(ValueError, match="OIDC"):
        ConsoleSettings(**{**PRODUCTION, "oidc_client_id": None})
    with pytest.raises(ValueError, match="SESSION_SECRET"):
        ConsoleSettings(**{k: v for k, v in PRODUCTION.items() if k != "session_secret"})


async def test_sign_in_needs_the_csrf_token_and_sets_a_strict_cookie(
    dev: httpx.AsyncClient,
) -> None:
    page = await dev.get("/signin")
    forged = await dev.post("/signin/dev", data={"csrf": "forged", "sub": "a", "roles": "auditor"})
    assert forged.status_code == 403
    answer = await dev.post(
        "/signin/dev", data={"csrf": csrf_of(page), "sub": "auditor-1", "roles": "auditor"}
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie


async def test_pages_forbid_inline_scripts_and_other_origins(dev: httpx.AsyncClient) -> None:
    page = await dev.get("/signin")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "<script>" not in page.text
    assert all(src.startswith("/static/") for src in re.findall(r'src="([^"]+)"', page.text))
    assert (await dev.get("/docs")).status_code == 404  # no API pages on the console
    assert (await dev.get("/static/htmx.min.js")).status_code == 200


async def test_the_language_switch_goes_back_only_to_this_site(dev: httpx.AsyncClient) -> None:
    away = await dev.get("/language/en", params={"next": "//elsewhere.example/x"})
    assert away.headers["location"] == "/"
    page = await dev.get("/signin")
    assert '<html lang="en">' in page.text and "Sign in" in page.text


def test_every_word_has_both_languages_and_every_template_key_exists() -> None:
    assert all(zh and en for zh, en in WORDS.values())
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"t\(\"([a-z_]+\.[a-z_]+)\"", template.read_text()))
    assert used and used <= set(WORDS), sorted(used - set(WORDS))


def test_each_word_is_defined_in_one_area_only() -> None:
    # The areas are merged into one table: a key defined twice would silently lose one text.
    keys = [key for area in i18n._AREAS for key in area.WORDS]
    assert len(keys) == len(set(keys)) == len(WORDS)


TRANSITIONS: dict[str, Any] = {
    "dispatch": {"from": ["received"], "by": ["dispatcher", "supervisor"]},
    "accept": {"from": ["assigned"], "by": ["handler"]},
    "resolve": {"from": ["in_progress"], "by": ["handler"]},
}


def person(*roles: str, unit: str | None = None) -> Person:
    return Person(Principal(sub="p", role="operator", roles=roles, unit_id=unit))


def test_only_the_persons_transitions_are_offered() -> None:
    received = {"status": "received"}
    assigned = {"status": "assigned", "offered_unit_ids": ["U1"]}
    assert offered(person("case_dispatcher"), received, TRANSITIONS) == ["dispatch"]
    assert offered(person("case_handler", unit="U1"), received, TRANSITIONS) == []
    assert offered(person("case_handler", unit="U1"), assigned, TRANSITIONS) == ["accept"]
    assert offered(person("case_handler", unit="U2"), assigned, TRANSITIONS) == []
    assert offered(person("auditor"), received, TRANSITIONS) == []


def test_a_case_clock_is_on_time_warned_or_breached() -> None:
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)

    def case(started: timedelta, due: timedelta, **extra: Any) -> dict[str, Any]:
        clock = {"started_at": (now - started).isoformat(), "due": (now + due).isoformat()}
        return {"clocks": {"resolution": {**clock, "breached": False, **extra}}}

    assert clock_state(case(timedelta(hours=1), timedelta(hours=9)), now) == "on_time"
    assert clock_state(case(timedelta(hours=8), timedelta(hours=2)), now) == "warned"
    assert clock_state(case(timedelta(hours=8), timedelta(hours=-1)), now) == "breached"
    met = case(timedelta(hours=8), timedelta(hours=-1), met_at=now.isoformat())
    assert clock_state(met, now) == "on_time" and nearest_due(met).startswith("9999")


def test_an_expired_or_unsigned_in_token_ends_the_session() -> None:
    now = datetime.now(UTC)
    claims = {"sub": "p", "role": "operator", "iat": now - timedelta(hours=2)}
    expired = jwt.encode({**claims, "exp": now - timedelta(minutes=1)}, "k" * 32, "HS256")
    current = jwt.encode({**claims, "exp": now + timedelta(hours=1)}, "k" * 32, "HS256")
    with pytest.raises(SignInNeeded):
        principal_of(expired)
    with pytest.raises(SignInNeeded):
        principal_of("not-a-token")
    assert principal_of(current).sub == "p"


async def test_signing_in_replaces_the_csrf_secret(dev: httpx.AsyncClient) -> None:
    before = csrf_of(await dev.get("/signin"))
    await dev.post("/signin/dev", data={"csrf": before, "sub": "a-1", "roles": "auditor"})
    refused = await dev.post("/signout", data={"csrf": before})
    assert refused.status_code == 403
