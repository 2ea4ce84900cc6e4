"""Notify on the real broker and store: events in, notifications out, exactly once per channel."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from common.clock import ManualClock
from common.events import EventData, new_event
from common.events.base import CloudEvent
from common.events.cases import CaseOpened
from common.events.points import PointsAwarded
from common.events.registry import DriverRegistered, DriverUpdated
from common.testing import Infra, read_topic, unique_name, wait_until
from notify.app import create_app
from notify.channels.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from notify.settings import NotifySettings
from tests.support import approved, problem_body, produce, serve

Headers = Callable[..., dict[str, str]]


class Receiver:
    """A local HTTP endpoint (webhook receiver, SMS gateway) that answers from a script."""

    def __init__(self, statuses: list[int] | None = None, answer: dict[str, Any] | None = None):
        self.statuses = list(statuses or [])
        self.answer = answer or {"ok": True}
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append((dict(self.headers.items()), body, status))
                payload = json.dumps(receiver.answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def accepted(self) -> list[tuple[dict[str, str], bytes, int]]:
        return [r for r in self.requests if 200 <= r[2] < 300]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def settings(make_settings: Callable[..., NotifySettings]) -> NotifySettings:
    return make_settings(
        NotifySettings,
        dispatch_interval_seconds=0.1,
        webhook_backoff_initial_seconds=0.05,
        webhook_backoff_max_seconds=0.2,
        webhook_allowed_networks=["127.0.0.1/32"],
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


async def emit(infra: Infra, settings: NotifySettings, topic: str, event: CloudEvent) -> None:
    await produce(
        infra.kafka_bootstrap, settings.topic(topic), event.to_bytes(), key=event.subject.encode()
    )


def awarded(driver_id: str, amount: int = 5, event_id: str | None = None) -> CloudEvent:
    return _event(
        PointsAwarded(
            driver_id=driver_id,
            entry_id=unique_name("ent_"),
            amount=amount,
            balance_after=amount,
            rule_id="volunteer",
            cause_source="partner/volunteer-team",
            cause_id=unique_name("v"),
            cause_type="volunteer.logged.v1",
            awarded_at=datetime.now(UTC),
        ),
        driver_id,
        "driverhome/points",
        event_id,
    )


def registered(
    driver_id: str, *, language: str | None = None, fleet: str | None = None
) -> CloudEvent:
    return _event(
        DriverRegistered(
            driver_id=driver_id,
            channel="operator",
            registered_at=datetime.now(UTC),
            fleet=fleet,
            language=language,
        ),
        driver_id,
        "driverhome/registry",
    )


def _event(data: EventData, subject: str, source: str, event_id: str | None = None) -> CloudEvent:
    return new_event(data, source=source, subject=subject, event_id=event_id)


async def inbox(http: httpx.AsyncClient, driver_id: str, token: Headers, **params: Any) -> Any:
    answer = await http.get(
        f"/v1/drivers/{driver_id}/inbox",
        params=params,
        headers=token("driver", driver_id=driver_id),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def notifications(mongo: Any, settings: NotifySettings, **query: Any) -> list[Any]:
    return await mongo[settings.mongo_db]["notifications"].find(query).to_list()


async def test_a_redelivered_event_gives_one_notification(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    driver = unique_name("drv_")
    event = awarded(driver, amount=20)
    async with serve(create_app(settings)) as http:
        for _ in range(3):
            await emit(infra, settings, "points.events", event)
        page = await wait_until(lambda: nonempty(inbox(http, driver, token)))
        await asyncio.sleep(1.5)  # time for the duplicates to be (not) applied
        page = await inbox(http, driver, token)
    assert len(page["items"]) == 1
    assert page["items"][0]["title"] == "积分到账 +20"
    assert page["unread"] == 1
    assert len(await notifications(mongo, settings, driver_id=driver)) == 1
    records = await read_topic(infra.kafka_bootstrap, settings.topic("notify.events"))
    delivered = {json.loads(r.value or b"")["data"]["notification_id"] for r in records}
    assert delivered == {page["items"][0]["notification_id"]}


async def test_the_welcome_comes_in_the_drivers_language_and_the_inbox_pages_newest_first(
    infra: Infra, settings: NotifySettings, token: Headers
) -> None:
    driver = unique_name("drv_")
    async with serve(create_app(settings)) as http:
        await emit(infra, settings, "registry.events", registered(driver, language="en"))
        await wait_until(lambda: nonempty(inbox(http, driver, token)))
        for amount in (1, 2, 3):
            await emit(infra, settings, "points.events", awarded(driver, amount))
        await wait_until(lambda: _at_least(inbox(http, driver, token), 4), timeout=30)
        first = await inbox(http, driver, token, limit=3)
        second = await inbox(http, driver, token, limit=3, cursor=first["next_cursor"])
        titles = [i["title"] for i in first["items"] + second["items"]]
        assert titles == ["+3 points", "+2 points", "+1 points", "Welcome to Driver's Home"]
        assert second["next_cursor"] is None

        newest = first["items"][0]["notification_id"]
        own = token("driver", driver_id=driver)
        base = f"/v1/drivers/{driver}/inbox/{newest}"
        assert (await http.post(f"{base}/read", headers=own)).json()["read"] is True
        assert (await inbox(http, driver, token))["unread"] == 3
        assert (await http.post(f"{base}/unread", headers=own)).json()["read"] is False
        assert (await http.post(f"{base}/archive", headers=own)).json()["archived"] is True
        assert len((await inbox(http, driver, token))["items"]) == 3
        assert len((await inbox(http, driver, token, archived=True))["items"]) == 1

        other = token("driver", driver_id=unique_name("drv_"))
        assert (await http.get(f"/v1/drivers/{driver}/inbox", headers=other)).status_code == 404
        assert (await http.post(f"{base}/read", headers=other)).status_code == 404
        # Another driver's notification answers exactly as one that does not exist.
        theirs = await http.get(f"/v1/notifications/{newest}", headers=other)
        missing = await http.get(f"/v1/notifications/{newest}x", headers=other)
        assert (theirs.status_code, missing.status_code) == (404, 404)
        assert problem_body(theirs) == problem_body(missing)
        assert (await http.get(f"/v1/notifications/{newest}", headers=own)).status_code == 200
        operator = await http.get(f"/v1/drivers/{driver}/inbox", headers=token("operator"))
        assert operator.status_code == 200
        partner = token("partner", partner_id="port-booking")
        assert (await http.get(f"/v1/drivers/{driver}/inbox", headers=partner)).status_code == 403


async def _at_least(page: Any, n: int) -> Any:
    result = await page
    return result if len(result["items"]) >= n else None


async def test_a_webhook_failing_three_times_then_succeeding_gets_one_signed_delivery(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    driver = unique_name("drv_")
    with Receiver(statuses=[500, 503, 502]) as hook:
        async with serve(create_app(settings)) as http:
            made = await http.post(
                "/v1/webhooks",
                json={"url": hook.url, "categories": ["points"]},
                headers=token("partner", partner_id="port-booking"),
            )
            assert made.status_code == 201, made.text
            secret = made.json()["secret"]
            # Webhooks carry only drivers linked to the partner who consent to notifications.
            for fact in linked_and_consenting(driver, "port-booking"):
                await emit(infra, settings, "registry.events", fact)
            await wait_until(lambda: audience_knows(mongo, settings, driver), timeout=30)
            await emit(infra, settings, "points.events", awarded(driver, amount=8))
            await wait_until(lambda: _delivered(mongo, settings, driver, "webhook"), timeout=30)
            await asyncio.sleep(0.5)
    assert [status for _, _, status in hook.requests] == [500, 503, 502, 200]
    [(headers, body, _)] = hook.accepted()
    assert verify(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    payload = json.loads(body)
    assert payload["driver_id"] == driver and payload["category"] == "points"
    [doc] = await notifications(mongo, settings, driver_id=driver, channel="webhook")
    assert doc["status"] == "delivered" and doc["attempts"] == 4
    assert [h["status"] for h in doc["history"]] == ["queued", "delivered"]


async def test_a_webhook_waiting_to_be_retried_is_not_sent_once_the_driver_withdraws(
    infra: Infra, make_settings: Callable[..., NotifySettings], mongo: Any, token: Headers
) -> None:
    """The link and the consent are checked when a webhook is planned, and again before each
    attempt: one waiting out a retry goes nowhere after the driver withdrew the consent."""
    settings = make_settings(
        NotifySettings,
        dispatch_interval_seconds=0.1,
        webhook_backoff_initial_seconds=8,
        webhook_backoff_max_seconds=8,
        webhook_allowed_networks=["127.0.0.1/32"],
    )
    driver = unique_name("drv_")
    with Receiver(statuses=[500]) as hook:
        async with serve(create_app(settings)) as http:
            made = await http.post(
                "/v1/webhooks",
                json={"url": hook.url, "categories": ["points"]},
                headers=token("partner", partner_id="port-booking"),
            )
            assert made.status_code == 201, made.text
            for fact in linked_and_consenting(driver, "port-booking"):
                await emit(infra, settings, "registry.events", fact)
            await wait_until(lambda: audience_knows(mongo, settings, driver), timeout=30)
            await emit(infra, settings, "points.events", awarded(driver, amount=8))

            async def first_attempt() -> Any:
                return hook.requests or None

            await wait_until(first_attempt, timeout=30)
            withdrawn = DriverUpdated(
                driver_id=driver,
                changed_fields=["consents.notifications"],
                updated_at=datetime.now(UTC),
                consents={"notifications": False},
            )
            withdrawal = _event(withdrawn, driver, "driverhome/registry")
            await emit(infra, settings, "registry.events", withdrawal)
            consents = mongo[settings.mongo_db]["webhook_consents"]
            await wait_until(lambda: consents.find_one({"_id": driver, "granted": False}))
            failed = await wait_until(
                lambda: _with_status(mongo, settings, driver, "failed"), timeout=30
            )
    assert [status for _, _, status in hook.requests] == [500], "nothing after the withdrawal"
    [doc] = failed
    assert doc["channel"] == "webhook" and doc["reason"] == "partner_no_longer_reaches_driver"


def linked_and_consenting(driver_id: str, partner_id: str) -> list[CloudEvent]:
    """The registry's announcements of a driver a partner registered, who consents."""
    now = datetime.now(UTC)
    registered = DriverRegistered(
        driver_id=driver_id, channel="partner", registered_at=now, partner_id=partner_id
    )
    consented = DriverUpdated(
        driver_id=driver_id,
        changed_fields=["consents.notifications"],
        updated_at=now,
        consents={"notifications": True},
    )
    return [_event(d, driver_id, "driverhome/registry") for d in (registered, consented)]


async def audience_knows(mongo: Any, settings: NotifySettings, driver: str) -> bool:
    db = mongo[settings.mongo_db]
    link = await db["partner_links"].find_one({"driver_id": driver, "linked": True})
    consent = await db["webhook_consents"].find_one({"_id": driver, "granted": True})
    return link is not None and consent is not None


async def _delivered(mongo: Any, settings: NotifySettings, driver: str, channel: str) -> Any:
    docs = await notifications(
        mongo, settings, driver_id=driver, channel=channel, status="delivered"
    )
    return docs or None


async def test_quiet_hours_hold_a_message_and_release_it_afterwards(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    # 23:00 in Shanghai; the driver's quiet hours are 22:00-06:00.
    clock = ManualClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
    driver = unique_name("drv_")
    async with serve(create_app(settings, clock=clock)) as http:
        answer = await http.put(
            f"/v1/drivers/{driver}/preferences",
            json={"quiet_hours": {"start": "22:00", "end": "06:00"}},
            headers=token("driver", driver_id=driver),
        )
        assert answer.status_code == 200, answer.text
        await emit(infra, settings, "points.events", awarded(driver))
        [held] = await wait_until(lambda: _with_status(mongo, settings, driver, "held"))
        assert held["hold_until"] == datetime(2026, 3, 10, 22, 0, tzinfo=UTC)
        assert (await inbox(http, driver, token))["items"] == []

        clock.advance(timedelta(hours=6, minutes=59))  # 05:59: still quiet
        await asyncio.sleep(0.5)
        assert (await inbox(http, driver, token))["items"] == []

        clock.advance(timedelta(minutes=1))  # 06:00
        page = await wait_until(lambda: nonempty(inbox(http, driver, token)))
        assert page["items"][0]["notification_id"] == held["_id"]
        tracked = await http.get(
            f"/v1/notifications/{held['_id']}", headers=token("driver", driver_id=driver)
        )
        assert [h["status"] for h in tracked.json()["history"]] == ["held", "delivered"]


async def _with_status(mongo: Any, settings: NotifySettings, driver: str, status: str) -> Any:
    return await notifications(mongo, settings, driver_id=driver, status=status) or None


async def nonempty(page: Any) -> Any:
    result = await page
    return result if result["items"] else None


async def test_an_urgent_broadcast_bypasses_quiet_hours_and_a_normal_one_waits(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    clock = ManualClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))  # 23:00 local
    driver = unique_name("drv_")
    async with serve(create_app(settings, clock=clock)) as http:
        await emit(infra, settings, "registry.events", registered(driver, fleet="北仑车队"))
        await wait_until(lambda: nonempty(inbox(http, driver, token)))
        await http.put(
            f"/v1/drivers/{driver}/preferences",
            json={"quiet_hours": {"start": "22:00", "end": "06:00"}},
            headers=token("driver", driver_id=driver),
        )
        operator = token("operator")
        urgent = await http.post(
            "/v1/broadcasts",
            json={
                "category": "road_closure",
                "urgency": "urgent",
                "segment": {"kind": "fleet", "value": "北仑车队"},
                "content": {"zh-CN": {"title": "穿山疏港高速封闭", "body": "大雾,请绕行。"}},
            },
            headers=operator,
        )
        normal = await http.post(
            "/v1/broadcasts",
            json={
                "category": "policy",
                "segment": {"kind": "everyone"},
                "content": {"zh-CN": {"title": "新政策", "body": "积分兑换规则更新。"}},
            },
            headers=operator,
        )
        # An urgent broadcast goes out once a second person approves it (four eyes).
        sent = await approved(http, urgent, token("operator"))
        assert normal.status_code == 201, normal.text
        urgent_id = sent.json()["result"]["broadcast_id"]
        normal_id = normal.json()["broadcast_id"]

        done = await wait_until(lambda: _broadcast(http, urgent_id, operator, "completed"))
        assert done["progress"]["targeted"] == 1 and done["progress"]["delivered"] == 1
        waiting = await wait_until(lambda: _broadcast(http, normal_id, operator, "completed"))
        assert waiting["progress"]["held"] == 1 and waiting["progress"]["delivered"] == 0
        titles = [i["title"] for i in (await inbox(http, driver, token))["items"]]
        assert "穿山疏港高速封闭" in titles and "新政策" not in titles

        clock.advance(timedelta(hours=7))
        released = await wait_until(lambda: _broadcast_delivered(http, normal_id, operator))
        assert released["progress"]["held"] == 0


async def _broadcast(http: httpx.AsyncClient, bid: str, headers: Any, status: str) -> Any:
    answer = (await http.get(f"/v1/broadcasts/{bid}", headers=headers)).json()
    return answer if answer["status"] == status else None


async def _broadcast_delivered(http: httpx.AsyncClient, bid: str, headers: Any) -> Any:
    answer = (await http.get(f"/v1/broadcasts/{bid}", headers=headers)).json()
    return answer if answer["progress"]["delivered"] == 1 else None


async def test_a_driver_hears_that_their_case_was_registered_and_when_it_is_due(
    infra: Infra, settings: NotifySettings, token: Headers
) -> None:
    driver = unique_name("drv_")
    now = datetime.now(UTC)
    opened = new_event(
        CaseOpened(
            case_id="case-42",
            driver_id=driver,
            kind="complaint",
            category="freight_payment",
            channel="app",
            priority="normal",
            emergency=False,
            opened_at=now,
            resolution_due=now + timedelta(days=7),
        ),
        source="driverhome/cases",
        subject=driver,
    )
    async with serve(create_app(settings)) as http:
        await emit(infra, settings, "cases.events", opened)
        page = await wait_until(lambda: nonempty(inbox(http, driver, token)))
    [item] = page["items"]
    assert item["title"] == "诉求已受理"
    assert "case-42" in item["body"]
