"""The partner edge over HTTP only: the booking system registers a driver through the gateway,
learns the driver id by its reference, earns points with kept appointments (once however often
it resends), reads the grade, and hears of rejections; a suspended partner is refused.

The partners, registry and points apps run in-process on the real broker and store.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from common.pii import partner_hash
from common.testing import Infra, synthetic_national_id, unique_name, wait_until
from common.webhook_signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from partners.app import create_app as partners_app
from partners.settings import PartnersSettings
from points.app import create_app as points_app
from points.settings import PointsSettings
from registry.app import create_app as registry_app
from registry.settings import RegistrySettings
from tests.support import Webhook, approved, produce, serve, webhook_receiver

Headers = Callable[..., dict[str, str]]
SINGLE = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


@dataclass
class Platform:
    partners: httpx.AsyncClient
    registry: httpx.AsyncClient
    points: httpx.AsyncClient
    settings: PartnersSettings
    apps: list[Any]


@asynccontextmanager
async def platform(make_settings: Callable[..., Any], **overrides: Any) -> AsyncIterator[Platform]:
    settings = make_settings(
        PartnersSettings,
        webhook_sweep_seconds=0.2,
        webhook_allowed_networks=["127.0.0.1/32"],
        **overrides,
    )
    apps = [
        registry_app(make_settings(RegistrySettings)),
        points_app(make_settings(PointsSettings)),
        partners_app(settings),
    ]
    async with AsyncExitStack() as stack:
        registry, points, partners = [await stack.enter_async_context(serve(a)) for a in apps]
        yield Platform(partners, registry, points, settings, apps)


def booking(token: Headers, partner_id: str = "port-booking") -> dict[str, str]:
    return token("partner", partner_id=partner_id, scope="events:write events:read drivers:read")


def registration(settings: PartnersSettings, ref: str) -> dict[str, Any]:
    # The booking system hashes with its own key, never the registry's.
    digest = partner_hash(
        settings.partner_hash_keys["port-booking"]["pb1"], "national_id", synthetic_national_id()
    )
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        # Whatever the body says, the gateway sets the caller's own source.
        "source": "partner/someone-else",
        "type": "driver.registered.v1",
        "subject": ref,
        "time": "2026-11-23T08:00:00+08:00",
        "data": {"partner_driver_ref": ref, "national_id_hash": digest, "name": "王建国"},
    }


def kept(driver_id: str, event_id: str, terminal: str = "BL2") -> dict[str, Any]:
    # The handbook's example, as a partner would send it, dated now: points holds events older
    # than earning_max_age_days for review instead of crediting them.
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "partner/port-booking",
        "type": "port.appointment.kept.v1",
        "subject": driver_id,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {"appointment_id": "A-889", "terminal": terminal, "on_time": True},
    }


async def send(http: httpx.AsyncClient, headers: dict[str, str], event: Any) -> httpx.Response:
    return await http.post("/v1/events", content=json.dumps(event), headers={**headers, **SINGLE})


async def receipt_says(
    http: httpx.AsyncClient, headers: dict[str, str], event_id: str, status: str
) -> dict[str, Any] | None:
    answer = await http.get(f"/v1/events/{event_id}", headers=headers)
    body: dict[str, Any] = answer.json()
    return body if answer.status_code == 200 and body["status"] == status else None


async def balance(p: Platform, token: Headers, driver_id: str) -> int:
    answer = await p.points.get(f"/v1/accounts/{driver_id}", headers=token())
    assert answer.status_code == 200, answer.text
    value: int = answer.json()["balance"]
    return value


async def rejections(p: Platform, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = await p.partners.get("/v1/rejections", headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _opened(p: Platform, token: Headers, driver_id: str) -> bool:
    answer = await p.points.get(f"/v1/accounts/{driver_id}", headers=token())
    return answer.status_code == 200


@pytest.mark.expects_dlq("conflicting_duplicate", "partner_suspended")
async def test_the_booking_system_works_end_to_end_over_http(
    make_settings: Callable[..., Any], token: Headers, infra: Infra
) -> None:
    async with platform(make_settings) as p, webhook_receiver() as hook:
        headers = booking(token)
        hooked = await p.partners.put(
            "/v1/partners/port-booking/webhook", json={"url": hook.url}, headers=token()
        )
        assert hooked.status_code == 200, hooked.text
        secret = hooked.json()["secret"]

        # 1. Registration through the gateway; the driver id by the booking system's reference.
        ref = unique_name("PB-")
        first = registration(p.settings, ref)
        registered = await send(p.partners, headers, first)
        assert registered.status_code == 202, registered.text
        assert registered.json()["source"] == "partner/port-booking"

        async def linked() -> str | None:
            answer = await p.partners.get("/v1/drivers", params={"ref": ref}, headers=headers)
            return answer.json()["driver_id"] if answer.status_code == 200 else None

        driver_id = await wait_until(linked, timeout=60)
        assert driver_id.startswith("drv_")
        # ... and its webhook is told once, signed.
        (told,) = await wait_until(lambda: notices(hook, "driver.linked"), timeout=30)
        assert verify(
            secret, told[0][TIMESTAMP_HEADER.lower()], told[1], told[0][SIGNATURE_HEADER.lower()]
        )
        assert json.loads(told[1]) | {"linked_at": None} == {
            "kind": "driver.linked",
            "ref": ref,
            "driver_id": driver_id,
            "linked_at": None,
        }
        assert await wait_until(lambda: receipt_says(p.partners, headers, first["id"], "applied"))
        other = booking(token, "station-kiosk")
        hidden = await p.partners.get("/v1/drivers", params={"ref": ref}, headers=other)
        assert hidden.status_code == 404
        await wait_until(lambda: _opened(p, token, driver_id), timeout=60)

        # 2. A kept appointment earns points once, however often it is resent.
        appointment = kept(driver_id, str(uuid.uuid4()))
        answers = [await send(p.partners, headers, appointment) for _ in range(3)]
        assert {a.status_code for a in answers} == {202}
        assert answers[0].json() == answers[1].json() == answers[2].json()
        applied = await wait_until(
            lambda: receipt_says(p.partners, headers, appointment["id"], "applied"), timeout=60
        )
        (award,) = applied["applied"]
        assert award["by"] == "points" and award["entry_id"] and award["amount"] > 0
        assert await balance(p, token, driver_id) == award["amount"]
        resent = await send(p.partners, headers, appointment)
        assert resent.status_code == 202 and resent.json() == answers[0].json()
        await asyncio.sleep(2)
        assert await balance(p, token, driver_id) == award["amount"]

        # 3. The grade of a linked driver; any other driver is not found.
        grade = await p.partners.get(f"/v1/drivers/{driver_id}/grade", headers=headers)
        assert grade.status_code == 200, grade.text
        assert grade.json()["grade"] == "A"
        assert grade.json()["valid_until"] > datetime.now(UTC).isoformat()
        stranger = await p.partners.get(f"/v1/drivers/{unique_name('drv_')}/grade", headers=headers)
        assert stranger.status_code == 404
        assert (
            await p.partners.get(f"/v1/drivers/{driver_id}/grade", headers=other)
        ).status_code == 404

        # 4. Refused at the gateway, with the reason: malformed, a type not allowed, a conflict.
        malformed = {k: v for k, v in kept(driver_id, str(uuid.uuid4())).items() if k != "time"}
        refused = await send(p.partners, headers, malformed)
        assert refused.status_code == 422
        assert (
            refused.json()["reason"] == "malformed_envelope" and "time" in refused.json()["detail"]
        )
        nested = await p.partners.post(
            "/v1/events", content=b"[" * 5000 + b"]" * 5000, headers={**headers, **SINGLE}
        )
        assert nested.status_code == 422, nested.text  # not a 500: nested past the parser
        assert nested.json()["reason"] == "malformed_envelope"
        not_allowed = kept(driver_id, str(uuid.uuid4())) | {
            "type": "service.used.v1",
            "data": {"station_id": "st_1", "service_code": "shower"},
        }
        refused = await send(p.partners, headers, not_allowed)
        assert refused.status_code == 422 and refused.json()["reason"] == "type_not_allowed"
        conflict = await send(p.partners, headers, kept(driver_id, appointment["id"], "BL9"))
        assert conflict.status_code == 409
        assert conflict.json()["reason"] == "conflicting_duplicate"

        # 5. Accepted by the gateway but refused downstream: the partner had published that id
        #    straight to Kafka with another payload. One rejection, one webhook notice.
        direct = kept(driver_id, str(uuid.uuid4()), "BL3")
        await produce(
            infra.kafka_bootstrap,
            p.settings.partner_topic("port-booking"),
            json.dumps(direct).encode(),
            key=driver_id.encode(),
        )
        await wait_until(lambda: receipt_says(p.partners, headers, direct["id"], "applied"))
        copy = await send(p.partners, headers, kept(driver_id, direct["id"], "BL4"))
        assert copy.status_code == 202
        (rejection,) = await wait_until(lambda: rejections(p, headers), timeout=60)
        assert rejection["event_id"] == direct["id"]
        assert [r["reason"] for r in rejection["refusals"]] == ["conflicting_duplicate"]
        await wait_until(lambda: notices(hook, "rejection"))
        await asyncio.sleep(2)
        assert len(await rejections(p, headers)) == 1
        # Operators with partners:manage read a partner's rejections (the console's page);
        # an auditor, without that scope, is refused.
        path = "/v1/partners/port-booking/rejections"
        as_operator = await p.partners.get(path, headers=token())
        assert [r["rejection_id"] for r in as_operator.json()["items"]] == [
            rejection["rejection_id"]
        ]
        refused = await p.partners.get(path, headers=token("operator", roles=["auditor"]))
        assert refused.status_code == 403
        (notice,) = await notices(hook, "rejection")
        assert len(await notices(hook, "driver.linked")) == 1
        sent_headers, body = notice
        assert verify(
            secret,
            sent_headers[TIMESTAMP_HEADER.lower()],
            body,
            sent_headers[SIGNATURE_HEADER.lower()],
        )
        assert json.loads(body)["rejection"]["rejection_id"] == rejection["rejection_id"]
        assert await balance(p, token, driver_id) == 2 * award["amount"]

        # 6. A suspended partner is refused: by the gateway, and by every consumer of its topic
        #    from the suspension's event on, without a restart.
        # Four eyes: a second person with partners:manage approves the suspension.
        asked = await p.partners.post(
            "/v1/partners/port-booking/suspend", json={"reason": "contract ended"}, headers=token()
        )
        suspended = await approved(p.partners, asked, token())
        assert suspended.json()["result"]["status"] == "suspended"
        refused = await send(p.partners, headers, kept(driver_id, str(uuid.uuid4())))
        assert refused.status_code == 403 and refused.json()["reason"] == "partner_suspended"
        for app in p.apps[:2]:
            directory = app.state.runtime.consumers[0].directory
            await wait_until(lambda d=directory: _suspended(d))
        late = kept(driver_id, str(uuid.uuid4()), "BL5")
        await produce(
            infra.kafka_bootstrap,
            p.settings.partner_topic("port-booking"),
            json.dumps(late).encode(),
            key=driver_id.encode(),
        )
        late_receipt = await wait_until(
            lambda: receipt_says(p.partners, headers, late["id"], "rejected"), timeout=60
        )
        (refusal, *_) = late_receipt["rejections"][0]["refusals"]
        assert refusal["reason"] == "partner_suspended"
        assert await balance(p, token, driver_id) == 2 * award["amount"]


async def notices(hook: Webhook, kind: str) -> list[tuple[dict[str, str], bytes]]:
    return [d for d in hook.deliveries if json.loads(d[1])["kind"] == kind]


async def test_an_event_for_a_driver_without_an_account_is_parked_and_reported_once(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    # Reported after about a second here; 24 hours by default.
    async with (
        platform(make_settings, parked_notice_after_hours=0.0003) as p,
        webhook_receiver() as hook,
    ):
        hooked = await p.partners.put(
            "/v1/partners/port-booking/webhook", json={"url": hook.url}, headers=token()
        )
        assert hooked.status_code == 200, hooked.text
        headers = booking(token)
        stranger = unique_name("drv_")
        appointment = kept(stranger, str(uuid.uuid4()))
        assert (await send(p.partners, headers, appointment)).status_code == 202
        receipt = await wait_until(
            lambda: receipt_says(p.partners, headers, appointment["id"], "parked"), timeout=60
        )
        held = receipt["parked"]
        assert held["by"] == "points" and held["driver_id"] == stranger
        assert held["reason"] == "driver_unknown" and held["until"] > held["since"]
        (notice,) = await wait_until(lambda: notices(hook, "event.parked_too_long"), timeout=30)
        await asyncio.sleep(1.5)
        assert len(await notices(hook, "event.parked_too_long")) == 1
        told = json.loads(notice[1])["event"]
        assert told["id"] == appointment["id"] and told["status"] == "parked"
        assert notice[0][DELIVERY_HEADER.lower()].startswith("parked:")


async def _suspended(directory: Any) -> bool:
    entry = directory.get("port-booking")
    return entry is not None and entry.status == "suspended"


async def test_a_batch_is_answered_per_event(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    settings = make_settings(PartnersSettings, ingest_max_batch=3)
    async with serve(partners_app(settings)) as http:
        headers = booking(token)
        good = kept("drv_batch", str(uuid.uuid4()))
        bad = {**kept("drv_batch", str(uuid.uuid4())), "data": {"terminal": "BL2"}}
        answer = await http.post(
            "/v1/events", content=json.dumps([good, bad, "nonsense"]), headers={**headers, **BATCH}
        )
        assert answer.status_code == 207, answer.text
        results = answer.json()["results"]
        assert [r["status"] for r in results] == [202, 422, 422]
        assert results[1]["reason"] == "invalid_data" and "appointment_id" in results[1]["detail"]
        assert results[2]["reason"] == "malformed_envelope"
        too_many = await http.post(
            "/v1/events", content=json.dumps([good] * 4), headers={**headers, **BATCH}
        )
        assert too_many.status_code == 413
        too_big = await http.post(
            "/v1/events",
            content=b"[" + b" " * settings.ingest_max_body_bytes + b"]",
            headers={**headers, **BATCH},
        )
        assert too_big.status_code == 413
        wrong_media = await http.post("/v1/events", json=good, headers=headers)
        assert wrong_media.status_code == 415
        unscoped = token("partner", partner_id="port-booking", scope="events:read")
        assert (await send(http, unscoped, good)).status_code == 403


async def test_the_rate_limit_and_the_daily_quota_answer_429_with_retry_after(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    settings = make_settings(PartnersSettings)
    async with serve(partners_app(settings)) as http:
        limited = await http.patch(
            "/v1/partners/volunteer-team",
            json={"quotas": {"rate_per_second": 1000, "daily": 3}},
            headers=token(),
        )
        assert limited.status_code == 200, limited.text
        headers = token("partner", partner_id="volunteer-team", scope="events:write")

        def logged() -> dict[str, Any]:
            return {
                "id": str(uuid.uuid4()),
                "type": "volunteer.logged.v1",
                "subject": "drv_quota",
                "time": "2026-11-23T08:15:00Z",
                "data": {"activity": "traffic guidance", "hours": 2},
            }

        assert [(await send(http, headers, logged())).status_code for _ in range(3)] == [202] * 3
        over = await send(http, headers, logged())
        assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
        await http.patch(
            "/v1/partners/volunteer-team",
            json={"quotas": {"rate_per_second": 2, "daily": 1000}},
            headers=token(),
        )
        await asyncio.sleep(1.1)  # a fresh second for the rate limit
        statuses = [
            a.status_code
            for a in await asyncio.gather(*(send(http, headers, logged()) for _ in range(6)))
        ]
        assert statuses.count(429) >= 1 and statuses.count(202) >= 1
