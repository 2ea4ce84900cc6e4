"""A marketing broadcast's SMS waiting out the driver's quiet hours is not sent once the driver
has withdrawn the ``notifications`` consent meanwhile; a consenting driver's is. A page fanned
out after a withdrawal stores no inbox item for that driver. Notify on the real broker and
store, an SMS gateway on the loopback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common.clock import ManualClock
from common.events import new_event
from common.events.registry import DriverUpdated
from common.testing import Infra, synthetic_phone, unique_name, wait_until
from notify.app import create_app
from notify.settings import NotifySettings
from tests.integration.test_notify_delivery import (
    Headers,
    Receiver,
    emit,
    notifications,
    registered,
)
from tests.support import serve


def clinic(fleet: str) -> dict[str, Any]:
    """A marketing broadcast (category ``activity``) to one fleet."""
    return {
        "category": "activity",
        "segment": {"kind": "fleet", "value": fleet},
        "content": {"zh-CN": {"title": "司机之家义诊", "body": "周六上午霞浦站。"}},
    }


def consent(driver: str, given: bool, at: datetime) -> Any:
    answer = DriverUpdated(
        driver_id=driver,
        changed_fields=["consents.notifications"],
        updated_at=at,
        consents={"notifications": given},
    )
    return new_event(answer, source="driverhome/registry", subject=driver)


async def test_a_held_marketing_sms_is_not_sent_after_the_consent_is_withdrawn(
    infra: Infra, make_settings: Callable[..., NotifySettings], mongo: Any, token: Headers
) -> None:
    clock = ManualClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai
    fleet = unique_name("车队-")
    withdrawing, staying = unique_name("drv_"), unique_name("drv_")
    with Receiver(answer={"code": "OK", "biz_id": "B-1"}) as gateway:
        settings = make_settings(
            NotifySettings,
            dispatch_interval_seconds=0.1,
            sms_gateway_url=gateway.url,
            sms_api_key="gw-key-123",
        )
        async with serve(create_app(settings, clock=clock)) as http:
            for driver in (withdrawing, staying):
                await emit(infra, settings, "registry.events", registered(driver, fleet=fleet))
                await emit(infra, settings, "registry.events", consent(driver, True, clock.now()))
                answer = await http.put(
                    f"/v1/drivers/{driver}/preferences",
                    json={
                        "sms_phone": synthetic_phone(),
                        "channels": {"activity": ["inbox", "sms"]},
                        "quiet_hours": {"start": "22:00", "end": "06:00"},
                    },
                    headers=token("driver", driver_id=driver),
                )
                assert answer.status_code == 200, answer.text

            async def both_consent() -> bool:
                facts = mongo[settings.mongo_db]["drivers"]
                found = await facts.count_documents(
                    {"_id": {"$in": [withdrawing, staying]}, "consents.notifications": True}
                )
                return bool(found == 2)

            await wait_until(both_consent, timeout=30)
            made = await http.post(
                "/v1/broadcasts",
                json=clinic(fleet),
                headers=token("operator"),
            )
            assert made.status_code == 201, made.text

            async def both_held() -> Any:
                held = await notifications(
                    mongo,
                    settings,
                    channel="sms",
                    status="held",
                    driver_id={"$in": [withdrawing, staying]},
                )
                return held if len(held) == 2 else None

            await wait_until(both_held, timeout=30)
            await emit(
                infra,
                settings,
                "registry.events",
                consent(withdrawing, False, clock.now() + timedelta(minutes=5)),
            )

            async def withdrawn() -> bool:
                facts = mongo[settings.mongo_db]["drivers"]
                doc = await facts.find_one({"_id": withdrawing})
                return bool(doc and doc["consents"]["notifications"] is False)

            await wait_until(withdrawn, timeout=30)
            clock.advance(timedelta(hours=7))  # 06:00: quiet hours over

            async def settled() -> Any:
                done = await notifications(
                    mongo, settings, channel="sms", driver_id={"$in": [withdrawing, staying]}
                )
                states = {d["driver_id"]: d for d in done if d["status"] in ("sent", "failed")}
                return states if len(states) == 2 else None

            states = await wait_until(settled, timeout=30)
    assert states[staying]["status"] == "sent"
    assert (states[withdrawing]["status"], states[withdrawing]["reason"]) == (
        "failed",
        "consent_withdrawn",
    )
    assert len(gateway.requests) == 1, "only the consenting driver's SMS reached the gateway"


async def test_a_marketing_page_fanned_out_after_a_withdrawal_leaves_that_inbox_out(
    infra: Infra, make_settings: Callable[..., NotifySettings], mongo: Any, token: Headers
) -> None:
    """The resolver picks a marketing broadcast's drivers by their consent; a page is fanned
    out later (a district's broadcast takes a while, and its work item carries the facts read
    then). A driver who withdrew in between gets no inbox item either."""
    now = datetime.now(UTC)
    fleet = unique_name("车队-")
    withdrawing, staying = unique_name("drv_"), unique_name("drv_")
    settings = make_settings(NotifySettings, dispatch_interval_seconds=0.1)
    app = create_app(settings)
    facts = mongo[settings.mongo_db]["drivers"]
    async with serve(app) as http:
        for driver in (withdrawing, staying):
            await emit(infra, settings, "registry.events", registered(driver, fleet=fleet))
            await emit(infra, settings, "registry.events", consent(driver, True, now))

        async def both_consent() -> bool:
            found = await facts.count_documents(
                {"_id": {"$in": [withdrawing, staying]}, "consents.notifications": True}
            )
            return bool(found == 2)

        await wait_until(both_consent, timeout=30)
        broadcasts = app.state.notify.broadcasts
        fan_out = broadcasts.fan_out

        async def withdrawn_first(batch: Any) -> None:
            # What the registry's consent event does to notify's facts, just before the page.
            await facts.update_one(
                {"_id": withdrawing}, {"$set": {"consents.notifications": False}}
            )
            await fan_out(batch)

        broadcasts.fan_out = withdrawn_first
        made = await http.post(
            "/v1/broadcasts",
            json=clinic(fleet),
            headers=token("operator"),
        )
        assert made.status_code == 201, made.text
        broadcast_id = made.json()["broadcast_id"]

        async def completed() -> bool:
            answer = await http.get(f"/v1/broadcasts/{broadcast_id}", headers=token("operator"))
            return bool(answer.json()["status"] == "completed")

        await wait_until(completed, timeout=30)
    inbox = await notifications(mongo, settings, channel="inbox", broadcast_id=broadcast_id)
    assert [d["driver_id"] for d in inbox] == [staying]
