"""Limits (issue 14; OWASP API4 unrestricted resource consumption, API3 property exposure,
API7 SSRF): body sizes, request rates, sealed cursors and webhooks pinned to checked addresses.

Each test names the finding it proves fixed; each failed on the code before the fix.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import ValidationError

from cases.app import create_app as cases_app
from cases.settings import CasesSettings
from common.pagination import AfterId, PageParams
from common.settings import ServiceSettings
from common.testing import unique_name
from common.webapp import create_service_app
from common.webhook_targets import PinnedClient, TargetPolicy, UnsafeTarget
from notify.channels.senders import WebhookSender
from partners.app import create_app as partners_app
from partners.settings import PartnersSettings
from points.app import create_app as points_app
from points.settings import PointsSettings
from tests.support import serve, webhook_receiver

Headers = Callable[..., dict[str, str]]
PROBLEM = "application/problem+json"


def is_problem(answer: httpx.Response, status: int) -> bool:
    return answer.status_code == status and answer.headers["content-type"].startswith(PROBLEM)


# body size (API4) -----------------------------------------------------------------------------
async def test_bodies_over_the_limit_are_refused_413_also_unauthenticated_and_streamed(
    make_settings: Callable[..., PointsSettings],
) -> None:
    """Finding: no request body limit, also on the unauthenticated statement verification."""
    verify = "/v1/statements/verify"
    async with serve(points_app(make_settings(PointsSettings))) as http:
        small = await http.post(verify, json={"statement": {"n": 1}, "signature": "x"})
        assert small.status_code == 200, small.text
        huge = {"statement": {"padding": "x" * 300_000}, "signature": "x"}
        declared = await http.post(verify, json=huge)
        assert is_problem(declared, 413), declared.text
        assert "131072 bytes" in declared.json()["detail"]

        async def chunks() -> AsyncIterator[bytes]:
            # No Content-Length at all: the bytes are counted as they arrive.
            yield b'{"statement": {"padding": "'
            for _ in range(40):
                yield b"y" * 8192
            yield b'"}, "signature": "x"}'

        streamed = await http.post(
            verify, content=chunks(), headers={"content-type": "application/json"}
        )
        assert is_problem(streamed, 413), streamed.text


# rate limits (API4) ---------------------------------------------------------------------------
async def test_principals_and_addresses_over_their_rate_get_429_with_retry_after(
    make_settings: Callable[..., PointsSettings], token: Headers
) -> None:
    """Finding: no rate limits. Per principal, then per client address; probes are not counted."""
    settings = make_settings(
        PointsSettings,
        rate_limit_enabled=True,
        rate_limit_per_principal="3/minute",
        rate_limit_per_ip="8/minute",
    )
    one, other = token("driver", driver_id="drv_rate_1"), token("driver", driver_id="drv_rate_2")
    async with serve(points_app(settings)) as http:
        answers = [await http.get("/v1/accounts/drv_rate_1", headers=one) for _ in range(4)]
        assert [a.status_code == 429 for a in answers] == [False, False, False, True]
        limited = answers[-1]
        assert is_problem(limited, 429) and int(limited.headers["retry-after"]) >= 1
        # Another principal has its own allowance.
        assert (await http.get("/v1/accounts/drv_rate_2", headers=other)).status_code != 429
        # Five requests from this address so far: three more pass, the ninth is refused,
        # token or not.
        public = [await http.get("/v1/statements/public-key") for _ in range(4)]
        assert [a.status_code for a in public] == [200, 200, 200, 429]
        assert is_problem(public[-1], 429) and "retry-after" in public[-1].headers
        assert (await http.get("/healthz")).status_code == 200


def test_limits_are_checked_when_the_settings_are_read() -> None:
    for bad in (
        {"rate_limit_per_ip": "lots"},
        {"rate_limit_per_principal": "5 per fortnight"},
        {"rate_limit_storage": "memory://"},  # the sync storage would block the event loop
        {"max_body_bytes": 10},
        {"cursor_key": base64.b64encode(b"short").decode()},
    ):
        with pytest.raises(ValidationError):
            ServiceSettings(environment="test", **bad)


# cursors (API3, API4) -------------------------------------------------------------------------
def decoded(cursor: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        return b""


def tampered(cursor: str) -> str:
    middle = len(cursor) // 2
    return cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1 :]


def legacy(position: dict[str, Any]) -> str:
    """A cursor as they were before: readable, writable base64 JSON."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


async def test_a_drivers_case_cursor_reveals_no_case_id_and_works_only_for_that_driver(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    """Findings: cursors reach store queries unvalidated; a driver's case-list cursor exposes
    other drivers' case ids."""
    me, them = unique_name("drv_"), unique_name("drv_")
    mine, theirs = token("driver", driver_id=me), token("driver", driver_id=them)
    body = {"kind": "complaint", "category": "freight_payment", "description": "运费拖欠三个月"}
    async with serve(cases_app(make_settings(CasesSettings), scan=False)) as http:
        opened = []
        for driver, headers in ((me, mine), (me, mine), (them, theirs)):
            answer = await http.post(
                "/v1/cases", json={**body, "driver_id": driver}, headers=headers
            )
            assert answer.status_code == 201, answer.text
            opened.append(answer.json()["case"]["case_id"])
        my_cases, their_case = opened[:2], opened[2]

        first = (await http.get("/v1/cases", params={"limit": 1}, headers=mine)).json()
        cursor = first["next_cursor"]
        assert cursor and not any(c.encode() in decoded(cursor) for c in opened)
        assert not any(c in cursor for c in opened)
        second = await http.get("/v1/cases", params={"limit": 1, "cursor": cursor}, headers=mine)
        seen = [first["items"][0]["case_id"], second.json()["items"][0]["case_id"]]
        assert sorted(seen) == sorted(my_cases)

        # Tampered, written by hand, or another driver's: 400 before the store is asked.
        forged = legacy({"at": datetime.now(UTC).isoformat(), "id": {"$gt": ""}})
        for bad, headers in ((tampered(cursor), mine), (forged, mine), (cursor, theirs)):
            answer = await http.get("/v1/cases", params={"cursor": bad}, headers=headers)
            assert is_problem(answer, 400), (bad, answer.text)

        # Naming another driver lists nothing and tells nothing of their cases.
        probe = await http.get("/v1/cases", params={"limit": 1, "driver_id": them}, headers=mine)
        assert probe.json()["items"] == [] and probe.json()["next_cursor"] is None
        assert their_case not in probe.text


def listing_app(settings: ServiceSettings) -> FastAPI:
    router = APIRouter()
    ids = [f"item-{n}" for n in range(5)]

    def page_of(page: PageParams) -> dict[str, Any]:
        after = page.after(AfterId)
        rest = [i for i in ids if after is None or i > after.id][: page.limit]
        return {"items": rest, "next_cursor": page.next_if_full(len(rest), AfterId(id=rest[-1]))}

    @router.get("/v1/fleets")
    async def fleets(page: Annotated[PageParams, Depends()]) -> dict[str, Any]:
        return page_of(page)

    @router.get("/v1/grids")
    async def grids(page: Annotated[PageParams, Depends()]) -> dict[str, Any]:
        return page_of(page)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    return create_service_app(
        settings, title="t", description="listings", lifespan=lifespan, routers=[router]
    )


async def test_a_cursor_is_bound_to_its_listing(token: Headers) -> None:
    app = listing_app(
        ServiceSettings(environment="test", service_name="registry", rate_limit_enabled=False)
    )
    headers = token("operator")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as h:
        first = (await h.get("/v1/fleets", params={"limit": 2}, headers=headers)).json()
        assert first["items"] == ["item-0", "item-1"]
        params = {"limit": 2, "cursor": first["next_cursor"]}
        assert (await h.get("/v1/fleets", params=params, headers=headers)).json()["items"] == [
            "item-2",
            "item-3",
        ]
        assert is_problem(await h.get("/v1/grids", params=params, headers=headers), 400)
    # Under another key (a rotated PII key, or a cursor_key of its own) the cursor is void.
    rekeyed = listing_app(
        ServiceSettings(
            environment="test",
            service_name="registry",
            rate_limit_enabled=False,
            cursor_key=base64.b64encode(bytes(range(32))).decode(),
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=rekeyed), base_url="http://t"
    ) as h:
        assert is_problem(await h.get("/v1/fleets", params=params, headers=headers), 400)


# webhooks (API7) ------------------------------------------------------------------------------
class Rebinding:
    """A name server that answers the checked address first and an internal one after."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [first, then]
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        return [self.answers[min(len(self.asked), 2) - 1]]


@asynccontextmanager
async def internal_service(port: int) -> AsyncIterator[list[bytes]]:
    """Something on another loopback address, standing for an internal service."""
    hits: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.read(1000))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.2", port)
    async with server:
        yield hits


async def test_a_webhook_goes_to_the_address_that_was_checked_not_a_rebound_one() -> None:
    """Finding: the guard resolved the name, then the HTTP client resolved it again."""
    async with webhook_receiver() as hook:
        port = httpx.URL(hook.url).port
        assert port is not None
        async with internal_service(port) as hits:
            dns = Rebinding("127.0.0.1", "127.0.0.2")
            policy = TargetPolicy(
                environment="test",
                allowed_networks=["127.0.0.1/32"],
                require_https=False,
                resolver=dns,
            )
            sender = WebhookSender(PinnedClient(policy, timeout=5), lambda: datetime.now(UTC))
            url = f"http://hooks.partner.test:{port}/driverhome"
            outcome = await sender.send(url=url, secret="s", delivery_id="d1", payload={"a": 1})
            assert outcome.status == "delivered"
            assert dns.asked == ["hooks.partner.test"]  # resolved once
            assert hits == []
            headers, _body = hook.deliveries[0]
            assert headers["host"] == f"hooks.partner.test:{port}"
            # A name that answers an internal address at once is refused unsent.
            with pytest.raises(UnsafeTarget):
                await PinnedClient(
                    TargetPolicy(
                        environment="test",
                        require_https=False,
                        resolver=Rebinding("127.0.0.2", "127.0.0.2"),
                    ),
                    timeout=5,
                ).post(url, content=b"{}", headers={})
            assert hits == [] and len(hook.deliveries) == 1


async def test_the_partners_gateway_refuses_an_internal_webhook_when_it_is_set(
    make_settings: Callable[..., PartnersSettings], token: Headers
) -> None:
    """Finding: the partners gateway's webhooks had no SSRF guard at all."""
    async with serve(partners_app(make_settings(PartnersSettings))) as http:
        for url in ("http://[64:ff9b::a9fe:a9fe]/hook", "http://127.0.0.1:9/hook"):
            answer = await http.put(
                "/v1/partners/port-booking/webhook", json={"url": url}, headers=token("operator")
            )
            assert is_problem(answer, 422), (url, answer.text)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 (RFC 6052) of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of the cloud metadata address 169.254.169.254
        "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215) of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:c0a8:1::1",  # 6to4 of 192.168.0.1
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::127.0.0.1",  # IPv4-compatible
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    ],
)
async def test_ipv6_forms_of_internal_ipv4_addresses_are_refused(address: str) -> None:
    """Finding: the guard accepted NAT64 and 6to4 forms of internal addresses."""
    policy = TargetPolicy(environment="test", require_https=False)
    with pytest.raises(UnsafeTarget):
        await policy.check(f"http://[{address}]/hook")
    named = TargetPolicy(
        environment="test", require_https=False, resolver=Rebinding(address, address)
    )
    with pytest.raises(UnsafeTarget):
        await named.check("http://hooks.partner.test/hook")


async def test_public_addresses_in_those_forms_still_pass() -> None:
    policy = TargetPolicy(environment="test", require_https=False)
    for address in ("64:ff9b::5db8:d70e", "2002:5db8:d70e::1"):  # 93.184.215.14
        checked = await policy.check(f"http://[{address}]/hook")
        assert [str(a) for a in checked.addresses] == [address]


@pytest.mark.parametrize("path", ["/metrics", "/readyz"])
@pytest.mark.parametrize(
    "forwarded",
    [
        {"X-Forwarded-For": "203.0.113.7"},
        {"Forwarded": "for=203.0.113.7"},
        {"X-Real-IP": "203.0.113.7"},
    ],
)
async def test_operations_routes_answer_only_inside_the_cluster(
    path: str, forwarded: dict[str, str]
) -> None:
    """Through the ingress (it adds forwarding headers) the metrics and readiness details are
    not there; the kubelet and Prometheus reach the pod directly and get them."""
    app = listing_app(
        ServiceSettings(environment="test", service_name="registry", rate_limit_enabled=False)
    )
    async with serve(app) as http:
        outside = await http.get(path, headers=forwarded)
        inside = await http.get(path)
    assert outside.status_code == 404, outside.text
    assert inside.status_code in (200, 503)
    assert "driverhome" not in outside.text and "checks" not in outside.text
