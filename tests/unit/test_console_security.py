"""The console's security rules checked over all of it, not page by page: every POST route refuses
a request without the session's CSRF token (and asks no service), every POST form carries the
token, no template holds an inline script, event-handler attribute or inline style (the CSP
would refuse them), every service call carries the signed-in person's own token and nothing
else, and the console imports no store or broker client (its only state is the session)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from fastapi.routing import APIRoute

from console import pages as page_modules
from console import signin
from console.app import create_app
from console.settings import ConsoleSettings

CONSOLE = Path(__file__).resolve().parents[2] / "services/console/src/console"
TEMPLATES = sorted((CONSOLE / "templates").glob("*.html"))
ALL_ROLES = [
    *("registry_clerk", "points_admin", "notify_editor", "station_admin", "auditor"),
    *("security_officer", "operations", "case_dispatcher", "case_supervisor"),
]


class Services:
    """Answers every call with an empty page and remembers who asked for what."""

    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        empty: dict[str, Any] = {"items": [], "next_cursor": None, "topics": [], "groups": []}
        return httpx.Response(200, json={**empty, "grades": []})


@pytest.fixture
async def console() -> AsyncIterator[tuple[httpx.AsyncClient, Services, Any]]:
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
        yield http, services, app


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def signed_in(http: httpx.AsyncClient) -> str:
    page = await http.get("/signin")
    done = await http.post(
        "/signin/dev", data={"csrf": csrf_of(page), "sub": "all-1", "roles": ALL_ROLES}
    )
    assert done.status_code == 303
    return csrf_of(await http.get("/"))


def routers() -> list[Any]:
    """The sign-in router and every page module's (found, not listed: a new page is covered)."""
    pages = pkgutil.iter_modules(page_modules.__path__, "console.pages.")
    return [signin.router, *(importlib.import_module(m.name).router for m in pages)]


def post_routes() -> list[str]:
    """Every POST path the console's routers answer, parameters filled with plausible values."""
    paths = [
        route.path
        for router in routers()
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    ]
    values = {"service": "points", "topic": "partner.x.events.dlq", "partition": "0"}
    return [re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), p) for p in paths]


async def test_every_post_route_refuses_a_request_without_the_csrf_token(
    console: tuple[httpx.AsyncClient, Services, Any],
) -> None:
    http, services, _ = console
    await signed_in(http)
    routes = post_routes()
    assert len(routes) >= 11 and "/signin/dev" in routes and "/signout" in routes
    before = len(services.calls)
    for path in routes:
        for forged in ({}, {"csrf": "forged"}):
            answer = await http.post(path, data={"reason": "x", "note": "x", **forged})
            assert answer.status_code == 403, (path, forged, answer.status_code)
        htmx = await http.post(path, headers={"X-CSRF-Token": "forged", "HX-Request": "true"})
        assert htmx.status_code == 403, path
    assert services.calls[before:] == []  # no service was asked anything
    assert (await http.get("/")).status_code == 200  # still signed in: sign-out was refused


def test_every_post_form_carries_the_csrf_token_and_htmx_sends_it_in_a_header() -> None:
    forms = 0
    for template in TEMPLATES:
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(), flags=re.S):
            opening = form[: form.index(">")]
            if re.search(r'method="post"', opening, flags=re.I):
                forms += 1
                assert 'name="csrf" value="{{ csrf }}"' in form, (template.name, opening)
    assert forms >= 10
    base = (CONSOLE / "templates/base.html").read_text()
    assert re.search(r"hx-headers='\{\"X-CSRF-Token\": \"\{\{ csrf \}\}\"\}'", base)


INLINE = {
    "inline script": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "script body": re.compile(r"<script\b[^>]*>(?!</script>)\s*\S", re.I),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "inline style": re.compile(r"(<style\b|\sstyle\s*=)", re.I),
    "javascript URL": re.compile(r"javascript:", re.I),
    "hx-on": re.compile(r"\shx-on", re.I),
}


def test_no_template_holds_inline_script_handlers_or_styles() -> None:
    assert len(TEMPLATES) >= 25
    found = [
        f"{template.name}: {what}"
        for template in TEMPLATES
        for what, pattern in INLINE.items()
        if pattern.search(template.read_text())
    ]
    assert found == []
    scripts = re.findall(r'<script src="([^"]+)"', (CONSOLE / "templates/base.html").read_text())
    assert scripts and all(s.startswith("/static/") for s in scripts)


async def test_every_service_call_carries_the_persons_own_token_and_nothing_else(
    console: tuple[httpx.AsyncClient, Services, Any],
) -> None:
    http, services, _ = console
    await signed_in(http)
    for page in ("/", "/drivers?plate=X", "/cases", "/broadcasts", "/checkins", "/dlq"):
        assert (await http.get(page)).status_code == 200, page
    bearers = {call.headers["authorization"] for call in services.calls}
    assert len(bearers) == 1  # one token: the one the sign-in issued for this person
    claims = jwt.decode(bearers.pop().removeprefix("Bearer "), options={"verify_signature": False})
    assert claims["sub"] == "all-1" and claims["role"] == "operator"
    assert set(claims["roles"]) == set(ALL_ROLES)
    assert all("cookie" not in call.headers for call in services.calls)
    assert len({call.url.port for call in services.calls}) >= 5  # five services asked


STORES = {"motor", "pymongo", "aiokafka", "confluent_kafka", "redis", "sqlalchemy", "sqlite3"}


def test_the_console_imports_no_store_or_broker_client() -> None:
    imported: set[str] = set()
    for source in CONSOLE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported & STORES == set()
    stores = {"common.mongo", "common.bus", "common.outbox", "common.publisher", "common.runtime"}
    assert not stores & {
        node.module
        for source in CONSOLE.rglob("*.py")
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    }


def test_no_page_takes_an_error_to_show_from_its_url() -> None:
    """A crafted link could otherwise put its own text ("session expired, call …") on a console
    page as the page's alert. Errors shown are the refusals the console itself got."""
    taking = [
        route.path
        for router in routers()
        for route in router.routes
        if isinstance(route, APIRoute)
        and any(param.name == "error" for param in route.dependant.query_params)
    ]
    assert taking == []


@pytest.mark.parametrize("path", ["/broadcasts", "/drivers/drv_1/points"])
async def test_an_error_in_the_url_is_not_shown(
    console: tuple[httpx.AsyncClient, Services, Any], path: str
) -> None:
    http, _, _ = console
    await signed_in(http)
    page = await http.get(path, params={"error": "会话已过期，请致电客服"})
    assert "会话已过期" not in page.text
