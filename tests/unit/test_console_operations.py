"""The console's dead-letter pages without services (an httpx transport answers as the services'
DLQ API would): the replay form only for dlq:replay and only on records not replayed (by the
consumer's old ledger or by the topic's owner), the form refused without the session's CSRF
token, and the replay sent to the topic's owner (the partners service writes the partner topics;
points only consumed the record) with the reason and a key."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from console.app import create_app
from console.settings import ConsoleSettings

TOPIC = "partner.volunteer-team.events.dlq"
RECORDS = f"/v1/dlq/{TOPIC}/records"
PAGE = "/dlq/points/partner.volunteer-team.events.dlq"
POINTS, PARTNERS = "127.0.0.1:8002", "127.0.0.1:8006"  # ConsoleSettings' defaults


def record(offset: int, replay: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "topic": "partner.volunteer-team.events.dlq",
        "partition": 0,
        "offset": offset,
        "timestamp": "2026-12-03T08:00:00Z",
        "key": "drv_1",
        "reason": "invalid_data",
        "error": "hours: too many",
        "consumer_group": "points.partners",
        "original_topic": "partner.volunteer-team.events",
        "original_partition": 0,
        "original_offset": offset,
        "dead_lettered_at": "2026-12-03T08:00:01Z",
        "payload": {"data": {"contact_name": "王**"}},
        "payload_text": None,
        "replay": replay,
    }


REPLAYED = {
    "replay_id": "rpl_1",
    "by": "ops-0",
    "reason": "fixed",
    "requested_at": "2026-12-03T09:00:00Z",
    "published_at": "2026-12-03T09:00:00Z",
}


class Services:
    """What the console asked for, answered as points' (the consumer's) and partners' (the
    topic owner's) DLQ API would."""

    def __init__(self) -> None:
        self.replays: list[tuple[str, str, dict[str, Any], str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = f"{request.url.host}:{request.url.port}"
        if request.method == "POST":
            self.replays.append(
                (
                    host,
                    request.url.path,
                    json.loads(request.content),
                    request.headers.get("idempotency-key"),
                )
            )
            return httpx.Response(200, json={"replay_id": "rpl_2", "published_now": True})
        if host == POINTS and request.url.path == RECORDS:
            items = [record(0, REPLAYED), record(1), record(2)]
            return httpx.Response(200, json={"items": items, "next_cursor": None})
        asked = request.url.params.get("topic")
        if host == PARTNERS and request.url.path == "/v1/dlq/replays" and asked == TOPIC:
            owners = {**REPLAYED, "replay_id": "rpl_3", "by": "ops-2", "partition": 0, "offset": 2}
            return httpx.Response(200, json={"items": [owners], "next_cursor": None})
        return httpx.Response(404, json={"title": "Not Found"})


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
        yield http, services


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, roles: str) -> None:
    page = await http.get("/signin")
    done = await http.post(
        "/signin/dev", data={"csrf": csrf_of(page), "sub": "ops-1", "roles": roles}
    )
    assert done.status_code == 303


async def test_the_replay_form_is_offered_for_records_not_replayed_and_needs_the_csrf_token(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    http, services = console
    await sign_in(http, "operations")
    page = await http.get(PAGE)
    assert page.status_code == 200
    forms = re.findall(r'action="(/dlq/[^"]+/replay)"', page.text)
    # Offsets 0 and 2 were replayed (2 by the owner, partners): who, not a form.
    assert forms == [f"{PAGE}/0/1/replay"]
    assert "ops-0" in page.text and "ops-2" in page.text and "王**" in page.text
    key = re.search(r'name="key" value="([0-9a-f]{32})"', page.text)
    assert key is not None
    body = {"reason": "fixed now", "key": key.group(1)}
    forged = await http.post(forms[0], data={**body, "csrf": "forged"})
    assert forged.status_code == 403 and services.replays == []
    sent = await http.post(forms[0], data={**body, "csrf": csrf_of(page)})
    assert sent.status_code == 303 and sent.headers["location"].endswith("?replayed=rpl_2")
    asked = (PARTNERS, f"{RECORDS}/0/1/replay", {"reason": "fixed now"}, key.group(1))
    assert services.replays == [asked]  # the owner replays, not points


async def test_without_the_operations_role_there_is_no_replay_form_and_no_link(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    http, _ = console
    await sign_in(http, "auditor")
    assert 'data-nav="dlq"' not in (await http.get("/")).text
    page = await http.get(PAGE)  # (the real service would answer 403; this one lists)
    assert "/replay" not in page.text
    assert (await http.get("/dlq/nowhere/partner.x.events.dlq")).status_code == 404
