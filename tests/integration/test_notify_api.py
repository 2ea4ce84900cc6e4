"""Notify's API on the real broker and store: templates, webhooks, SMS, rate limits, segments."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from common.events import new_event
from common.events.points import GradeChanged
from common.testing import Infra, read_topic, synthetic_phone, unique_name, wait_until
from notify.app import create_app
from notify.settings import NotifySettings
from tests.integration.test_notify_delivery import (
    Headers,
    Receiver,
    audience_knows,
    awarded,
    emit,
    inbox,
    linked_and_consenting,
    nonempty,
    notifications,
    registered,
)
from tests.support import serve

PHONE = synthetic_phone()  # generated per run


@pytest.fixture
def settings(make_settings: Callable[..., NotifySettings]) -> NotifySettings:
    return make_settings(
        NotifySettings,
        dispatch_interval_seconds=0.1,
        webhook_backoff_initial_seconds=0.05,
        webhook_backoff_max_seconds=0.1,
        webhook_max_attempts=3,
        webhook_allowed_networks=["127.0.0.1/32"],
    )


async def test_an_invalid_template_variable_is_refused_at_save_time(
    infra: Infra, settings: NotifySettings, token: Headers
) -> None:
    path = "/v1/templates/points.awarded.v1/zh-CN"
    operator = token("operator")
    driver = unique_name("drv_")
    async with serve(create_app(settings)) as http:
        refused = await http.put(
            path,
            json={"title": "积分 +$amount", "body": "$driver_name 您好,电话 $phone"},
            headers=operator,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["unknown_variables"] == ["driver_name", "phone"]
        malformed = await http.put(path, json={"title": "t", "body": "${amount"}, headers=operator)
        assert malformed.status_code == 422
        assert (await http.get(path, headers=operator)).json()["customised"] is False

        by_driver = await http.put(
            path, json={"title": "t", "body": "b"}, headers=token("driver", driver_id=driver)
        )
        assert by_driver.status_code == 403

        saved = await http.put(
            path,
            json={"title": "收到 $amount 分", "body": "余额 ${balance_after} 分"},
            headers=operator,
        )
        assert saved.status_code == 200 and saved.json()["customised"] is True
        preview = await http.post(
            f"{path}/preview", json={"variables": {"amount": "7"}}, headers=operator
        )
        assert preview.json()["title"] == "收到 7 分"
        assert preview.json()["body"] == "余额 <balance_after> 分"
        draft = await http.post(f"{path}/preview", json={"body": "$nope"}, headers=operator)
        assert draft.status_code == 422

        await emit(infra, settings, "points.events", awarded(driver, amount=7))
        page = await wait_until(lambda: nonempty(inbox(http, driver, token)))
        assert page["items"][0]["title"] == "收到 7 分"
        assert page["items"][0]["body"] == "余额 7 分"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/hook",
        "http://172.16.5.4/hook",
        "file:///etc/passwd",
    ],
)
async def test_ssrf_style_webhook_targets_are_refused(
    make_settings: Callable[..., NotifySettings], token: Headers, url: str
) -> None:
    settings = make_settings(NotifySettings)  # no allow-list: nothing internal is reachable
    async with serve(create_app(settings)) as http:
        answer = await http.post(
            "/v1/webhooks",
            json={"url": url, "categories": ["points"]},
            headers=token("partner", partner_id="port-booking"),
        )
    assert answer.status_code == 422, answer.text
    assert "refused" in answer.json()["detail"]


async def test_partners_manage_only_their_own_webhook_subscriptions(
    settings: NotifySettings, token: Headers
) -> None:
    mine, theirs = token("partner", partner_id="port-booking"), token("partner", partner_id="x")
    body = {"url": "http://127.0.0.1:9/hook", "categories": ["points"]}
    async with serve(create_app(settings)) as http:
        made = (await http.post("/v1/webhooks", json=body, headers=mine)).json()
        await http.post("/v1/webhooks", json=body, headers=theirs)
        listed = (await http.get("/v1/webhooks", headers=mine)).json()
        assert [w["subscription_id"] for w in listed] == [made["subscription_id"]]
        assert all(w["secret"] is None for w in listed)
        assert len((await http.get("/v1/webhooks", headers=token("operator"))).json()) == 2
        gone = f"/v1/webhooks/{made['subscription_id']}"
        assert (await http.delete(gone, headers=theirs)).status_code == 404
        assert (await http.delete(gone, headers=mine)).status_code == 204
        driver = token("driver", driver_id="d")
        assert (await http.post("/v1/webhooks", json=body, headers=driver)).status_code == 403


async def test_sms_goes_through_the_gateway_and_its_receipt_marks_it_delivered(
    infra: Infra, make_settings: Callable[..., NotifySettings], mongo: Any, token: Headers
) -> None:
    driver = unique_name("drv_")
    with Receiver(answer={"code": "OK", "biz_id": "B-1"}) as gateway:
        settings = make_settings(
            NotifySettings,
            dispatch_interval_seconds=0.1,
            sms_gateway_url=gateway.url,
            sms_api_key="gw-key-123",
        )
        async with serve(create_app(settings)) as http:
            own = token("driver", driver_id=driver)
            prefs = await http.put(
                f"/v1/drivers/{driver}/preferences",
                json={"sms_phone": PHONE, "channels": {"points": ["inbox", "sms"]}},
                headers=own,
            )
            assert prefs.json()["sms_phone"] == PHONE[:3] + "****" + PHONE[-4:]
            assert PHONE not in prefs.text
            await emit(infra, settings, "points.events", awarded(driver, amount=3))
            [sms] = await wait_until(
                lambda: _docs(mongo, settings, driver_id=driver, channel="sms", status="sent")
            )
            [(headers, body, _)] = gateway.requests
            assert headers["Authorization"] == "Bearer gw-key-123"
            assert json.loads(body)["phone_numbers"] == PHONE
            assert json.loads(body)["out_id"] == sms["_id"]

            receipt = {"out_id": sms["_id"], "status": "DELIVERED"}
            bad_key = {"Authorization": "Bearer wrong"}
            refused = await http.post("/v1/sms/receipts", json=receipt, headers=bad_key)
            assert refused.status_code == 401
            good_key = {"Authorization": "Bearer gw-key-123"}
            ok = await http.post("/v1/sms/receipts", json=receipt, headers=good_key)
            assert ok.status_code == 204
            tracked = (await http.get(f"/v1/notifications/{sms['_id']}", headers=own)).json()
            assert [h["status"] for h in tracked["history"]] == ["queued", "sent", "delivered"]
    stored = await mongo[settings.mongo_db]["preferences"].find_one({"_id": driver})
    assert PHONE not in json.dumps(stored, default=str)


async def _docs(mongo: Any, settings: NotifySettings, **query: Any) -> Any:
    return await notifications(mongo, settings, **query) or None


async def test_a_receiver_that_keeps_failing_ends_failed_with_its_reason_announced(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    driver = unique_name("drv_")
    with Receiver(statuses=[500] * 10) as hook:
        async with serve(create_app(settings)) as http:
            await http.post(
                "/v1/webhooks",
                json={"url": hook.url, "categories": ["points"]},
                headers=token("partner", partner_id="port-booking"),
            )
            for fact in linked_and_consenting(driver, "port-booking"):
                await emit(infra, settings, "registry.events", fact)
            await wait_until(lambda: audience_knows(mongo, settings, driver), timeout=30)
            await emit(infra, settings, "points.events", awarded(driver))
            [failed] = await wait_until(
                lambda: _docs(mongo, settings, driver_id=driver, status="failed")
            )
    assert failed["reason"] == "http_500" and failed["attempts"] == 3
    assert len(hook.requests) == 3
    records = await read_topic(
        infra.kafka_bootstrap, settings.topic("notify.events"), min_records=2
    )
    types = {json.loads(r.value or b"")["type"] for r in records}
    assert types == {"notification.delivered.v1", "notification.failed.v1"}


async def test_a_flood_is_rate_limited_into_quiet_inbox_items(
    infra: Infra, make_settings: Callable[..., NotifySettings], mongo: Any, token: Headers
) -> None:
    settings = make_settings(NotifySettings, rate_limit_per_window=2)
    driver = unique_name("drv_")
    async with serve(create_app(settings)) as http:
        await http.put(
            f"/v1/drivers/{driver}/preferences",
            json={"sms_phone": PHONE, "channels": {"points": ["inbox", "sms"]}},
            headers=token("driver", driver_id=driver),
        )
        for amount in range(1, 5):
            await emit(infra, settings, "points.events", awarded(driver, amount))
        await wait_until(lambda: _count(mongo, settings, 4, driver_id=driver, channel="inbox"))
    inboxed = await notifications(mongo, settings, driver_id=driver, channel="inbox")
    assert sorted(d.get("collapsed", False) for d in inboxed) == [False, False, True, True]
    assert len(await notifications(mongo, settings, driver_id=driver, channel="sms")) == 2


async def _count(mongo: Any, settings: NotifySettings, n: int, **query: Any) -> bool:
    return len(await notifications(mongo, settings, **query)) >= n


async def test_a_broadcast_to_a_grade_reaches_only_those_drivers_once_per_idempotency_key(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    top, other = unique_name("drv_"), unique_name("drv_")
    operator = {**token("operator"), "Idempotency-Key": unique_name("k")}
    body = {
        "category": "policy",
        "segment": {"kind": "grade", "value": "AAA"},
        "content": {
            "zh-CN": {"title": "AAA 司机优先预约", "body": "下周起生效。"},
            "en": {"title": "Priority booking for AAA", "body": "From next week."},
        },
    }
    async with serve(create_app(settings)) as http:
        await emit(infra, settings, "registry.events", registered(top, language="en"))
        await emit(infra, settings, "registry.events", registered(other))
        grade = GradeChanged(
            driver_id=top,
            old_grade="A",
            new_grade="AAA",
            earned_last_12_months=900,
            reasons=["volunteer"],
            changed_at=datetime.now(UTC),
        )
        await emit(
            infra,
            settings,
            "points.events",
            new_event(grade, source="driverhome/points", subject=top),
        )
        await wait_until(lambda: _count(mongo, settings, 2, driver_id=top, channel="inbox"))
        await wait_until(lambda: nonempty(inbox(http, other, token)))

        first = await http.post("/v1/broadcasts", json=body, headers=operator)
        again = await http.post("/v1/broadcasts", json=body, headers=operator)
        assert first.status_code == again.status_code == 201
        assert first.json()["broadcast_id"] == again.json()["broadcast_id"]
        bid = first.json()["broadcast_id"]
        assert (
            await http.post("/v1/broadcasts", json=body, headers=token("driver"))
        ).status_code == 403

        async def completed() -> Any:
            answer = (await http.get(f"/v1/broadcasts/{bid}", headers=operator)).json()
            return answer if answer["status"] == "completed" else None

        done = await wait_until(completed)
        assert done["progress"]["targeted"] == 1 and done["progress"]["delivered"] == 1
        top_titles = [i["title"] for i in (await inbox(http, top, token))["items"]]
        other_titles = [i["title"] for i in (await inbox(http, other, token))["items"]]
        assert "Priority booking for AAA" in top_titles
        assert all("AAA" not in t for t in other_titles)
        listed = (await http.get("/v1/broadcasts", headers=operator)).json()["items"]
        assert [b["broadcast_id"] for b in listed] == [bid]
        cancel = await http.post(f"/v1/broadcasts/{bid}/cancel", headers=operator)
        assert cancel.status_code == 409
