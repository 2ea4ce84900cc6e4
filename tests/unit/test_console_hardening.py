"""The console against crafted links and old cookies: a refused sign-in shows the console's own
words (never the callback's ``error_description``), the DLQ page's notice names only a real
replay id, a session ends ``session_hours`` after it began however often its cookie was
rewritten, and ids from a console URL stay one quoted segment of the service's path."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from itsdangerous import TimestampSigner
from structlog.testing import capture_logs

from common.testing import synthetic_phone
from console import web
from console.apis import quoted
from console.app import create_app
from console.i18n import WORDS
from console.settings import ConsoleSettings
from console.signin import FAILURES, development_token
from tests.unit.test_console_oidc import CONSOLE, SETTINGS, Provider
from tests.unit.test_console_operations import PAGE
from tests.unit.test_console_operations import Services as DlqServices
from tests.unit.test_console_security import ALL_ROLES

NUMBER = synthetic_phone()  # generated per run: a number a phishing text would give
PHISHING = f"会话异常，请致电 {NUMBER} 重新激活"
REPLAY_ID = "rpl_" + "0123456789abcdef" * 2


class Services:
    """Answers every call with an empty page (and a revealed value), remembering each path as
    sent: the raw bytes (query left off), before any server would decode them."""

    def __init__(self) -> None:
        self.paths: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.raw_path.partition(b"?")[0])
        empty: dict[str, Any] = {"items": [], "next_cursor": None, "topics": [], "groups": []}
        return httpx.Response(
            200,
            json={
                **empty,
                "grades": [],
                "transitions": {},
                "value": "138****0000",
                "broadcast_id": "b?1",
            },
        )


async def running(
    settings: ConsoleSettings, handler: Any = None
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.MockTransport(handler or Services())
    app = create_app(settings, transport=transport)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url=CONSOLE) as http,
    ):
        yield http


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def dev_sign_in(http: httpx.AsyncClient, roles: list[str]) -> str:
    page = await http.get("/signin")
    done = await http.post(
        "/signin/dev", data={"csrf": csrf_of(page), "sub": "p-1", "roles": roles}
    )
    assert done.status_code == 303
    return csrf_of(await http.get("/"))


# --- a refused sign-in -------------------------------------------------------------------------


@pytest.fixture
async def provider() -> Provider:
    return Provider()


@pytest.fixture
async def production(provider: Provider) -> AsyncIterator[httpx.AsyncClient]:
    async for http in running(ConsoleSettings(**SETTINGS), provider.handle):
        yield http


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        ("access_denied", "signin.denied"),
        ("server_error", "signin.failed"),
        (PHISHING, "signin.failed"),
    ],
    # Fixed ids: the phishing text's number is generated per process (xdist workers must
    # collect the same ids), and no test id prints a phone-shaped number.
    ids=["access_denied", "server_error", "phishing_text"],
)
async def test_the_callbacks_error_description_is_logged_scrubbed_and_never_shown(
    production: httpx.AsyncClient, error: str, shown: str
) -> None:
    await production.get("/language/en")
    with capture_logs() as logs:
        page = await production.get(
            "/signin/callback", params={"error": error, "error_description": PHISHING}
        )
    assert page.status_code == 401
    assert f'data-failure="{shown}"' in page.text and WORDS[shown][1] in page.text
    assert NUMBER not in page.text and "重新激活" not in page.text
    refused = [entry for entry in logs if entry["event"] == "sign-in refused"]
    assert len(refused) == 1 and "重新激活" in refused[0]["detail"]
    assert NUMBER not in json.dumps(refused, ensure_ascii=False)


async def test_a_callback_with_a_state_this_browser_never_sent_says_so_in_the_consoles_words(
    production: httpx.AsyncClient,
) -> None:
    page = await production.get("/signin/callback", params={"code": "c0de", "state": "forged"})
    assert page.status_code == 401 and 'data-failure="signin.stale"' in page.text


async def test_a_token_for_someone_not_staff_is_refused_in_the_consoles_words(
    production: httpx.AsyncClient, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = provider.tokens

    def drivers_token() -> dict[str, object]:
        tokens = issued()
        claims = {"sub": "drv_1", "role": "driver", "exp": int(time.time()) + 600}
        tokens["access_token"] = jwt.encode(
            claims, "provider-signs-this-the-console-does-not-verify-it"
        )
        return tokens

    monkeypatch.setattr(provider, "tokens", drivers_token)
    start = await production.get("/signin/oidc")
    asked = parse_qs(urlsplit(start.headers["location"]).query)
    provider.nonce = asked["nonce"][0]
    page = await production.get(
        "/signin/callback", params={"code": "c", "state": asked["state"][0]}
    )
    assert page.status_code == 401 and 'data-failure="signin.not_staff"' in page.text


def test_every_sign_in_failure_is_a_fixed_sentence_in_every_language() -> None:
    keys = {*FAILURES.values(), "signin.failed", "signin.not_staff"}
    assert all(key in WORDS for key in keys)
    assert all(text and "{" not in text for key in keys for text in WORDS[key])


# --- the DLQ page's notice ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replayed", "shown"),
    [
        (REPLAY_ID, True),
        ("已重放，如有疑问请致电 400-000", False),
        ("rpl_2", False),
        (REPLAY_ID.upper().replace("RPL", "rpl"), False),
        (REPLAY_ID + "0", False),
        (REPLAY_ID + "\n", False),
    ],
)
async def test_the_dlq_notice_names_only_a_replay_id_of_the_owners_form(
    replayed: str, shown: bool
) -> None:
    async for http in running(ConsoleSettings(environment="development"), DlqServices()):
        await dev_sign_in(http, ["operations"])
        page = await http.get(PAGE, params={"replayed": replayed})
        assert page.status_code == 200
        assert ('role="status"' in page.text) is shown
        assert (REPLAY_ID in page.text) is shown and "400-000" not in page.text


# --- how long a session lives ------------------------------------------------------------------


@pytest.fixture
async def dev() -> AsyncIterator[httpx.AsyncClient]:
    async for http in running(ConsoleSettings(environment="development", session_hours=8)):
        yield http


def clock_at(monkeypatch: pytest.MonkeyPatch, moment: float) -> None:
    monkeypatch.setattr(web, "time", SimpleNamespace(time=lambda: moment))


async def test_a_session_ends_session_hours_after_sign_in_however_often_its_cookie_is_rewritten(
    dev: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    began = time.time()
    clock_at(monkeypatch, began)
    await dev_sign_in(dev, ["auditor"])
    clock_at(monkeypatch, began + 7.9 * 3600)
    rewritten = await dev.get("/language/en")  # re-signs the cookie: a fresh max-age
    assert "driverhome_console=" in rewritten.headers["set-cookie"]
    assert (await dev.get("/")).status_code == 200
    # The token (issued for 8 h, real time) is still valid: only issued_at ends the session.
    clock_at(monkeypatch, began + 8 * 3600 + 1)
    ended = await dev.get("/")
    assert (ended.status_code, ended.headers["location"]) == (303, "/signin")
    clock_at(monkeypatch, began)  # and it stays ended: the old issued_at is gone with the token
    assert (await dev.get("/")).headers["location"] == "/signin"


async def test_a_session_without_issued_at_is_signed_out(dev: httpx.AsyncClient) -> None:
    settings = ConsoleSettings(environment="development")
    token = development_token(settings, "old-1", ["auditor"], None, None)
    data = base64.b64encode(json.dumps({"token": token}).encode())
    cookie = TimestampSigner(settings.session_secret.get_secret_value()).sign(data).decode()
    answer = await dev.get("/", headers={"Cookie": f"driverhome_console={cookie}"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/signin")


# --- ids in the services' paths ----------------------------------------------------------------


def test_an_id_is_one_segment_whatever_it_holds() -> None:
    assert [quoted(v) for v in ("..", ".", "a/b", "x?y#z", "drv_1", "a.b")] == [
        "%2E%2E",
        "%2E",
        "a%2Fb",
        "x%3Fy%23z",
        "drv_1",
        "a.b",
    ]


@pytest.fixture
async def signed_in() -> AsyncIterator[tuple[httpx.AsyncClient, Services, str]]:
    services = Services()
    async for http in running(ConsoleSettings(environment="development"), services):
        csrf = await dev_sign_in(http, ALL_ROLES)
        services.paths.clear()
        yield http, services, csrf


@pytest.mark.parametrize(
    ("method", "path", "form", "sent"),
    [
        ("GET", "/drivers/%2E%2E/points", {}, b"/v1/accounts/%2E%2E/ledger"),
        ("GET", "/drivers/a%3Fb", {}, b"/v1/drivers/a%3Fb/consents"),
        ("GET", "/cases/%2E%2E", {}, b"/v1/cases/%2E%2E"),
        ("GET", "/broadcasts/%2E%2E", {}, b"/v1/broadcasts/%2E%2E"),
        ("POST", "/cases/%2E%2E/act/dispatch", {}, b"/v1/cases/%2E%2E/transitions/dispatch"),
        ("POST", "/drivers/%2E%2E/reveal", {"purpose": "census"}, b"/v1/drivers/%2E%2E/pii/reveal"),
        (
            "POST",
            "/drivers/d1/points/approvals/%2E%2E/approve",
            {},
            b"/v1/approvals/%2E%2E/approve",
        ),
    ],
)
async def test_dots_slashes_and_question_marks_in_an_id_stay_in_its_segment(
    signed_in: tuple[httpx.AsyncClient, Services, str],
    method: str,
    path: str,
    form: dict[str, str],
    sent: bytes,
) -> None:
    http, services, csrf = signed_in
    data = {**form, "csrf": csrf} if method == "POST" else None
    answer = await http.request(method, path, data=data)
    assert answer.status_code < 500 and sent in services.paths, services.paths


async def test_the_consoles_own_redirects_quote_the_id(
    signed_in: tuple[httpx.AsyncClient, Services, str],
) -> None:
    http, _, csrf = signed_in
    form = {"csrf": csrf, "amount": "5", "reason": "r", "key": "0" * 32}
    adjusted = await http.post("/drivers/a%3Fb/points/adjustments", data=form)
    assert adjusted.headers["location"] == "/drivers/a%3Fb/points"
    acted = await http.post("/cases/a%3Fb/act/dispatch", data={"csrf": csrf})
    assert acted.headers["location"] == "/cases/a%3Fb"
    sent = {"category": "service", "segment": "all", "title_zh": "t", "body_zh": "b"}
    made = await http.post("/broadcasts", data={**sent, "csrf": csrf, "key": "1" * 32})
    assert made.headers["location"] == "/broadcasts/b%3F1"  # the service's id, quoted too


@pytest.mark.parametrize("action", ["Dispatch", "close%3Fforce%3D1", "a.b", "x" * 41])
async def test_a_case_action_outside_its_pattern_is_refused_before_any_call(
    signed_in: tuple[httpx.AsyncClient, Services, str], action: str
) -> None:
    http, services, csrf = signed_in
    answer = await http.post(f"/cases/c1/act/{action}", data={"csrf": csrf})
    assert answer.status_code == 422 and services.paths == []
