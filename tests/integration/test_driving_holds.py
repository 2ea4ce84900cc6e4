"""Never during driving for non-urgent messages, on the real broker and store: stations turns a
partner's driving session into the position-free ``driving.reported.v1`` (only with location
consent), notify holds a non-urgent SMS while the driver drives (the inbox item is there at
once), lets an urgent one through, releases the held one when the drive ends - after a restart
of notify, exactly once - or when the driving state goes stale."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common.clock import ManualClock
from common.events import CloudEvent, EventData, new_event
from common.events.partner import DrivingSession
from common.events.registry import DriverRegistered, DriverUpdated
from common.events.stations import RestNudged
from common.testing import Infra, read_topic, synthetic_phone, unique_name, wait_until
from notify.app import create_app as notify_app
from notify.settings import NotifySettings
from stations.app import create_app as stations_app
from stations.settings import StationsSettings
from tests.integration.test_notify_delivery import Receiver, awarded, notifications
from tests.support import produce, serve

Headers = Callable[..., dict[str, str]]
PARTNER_TOPIC = "partner.port-booking.events"


def _event(data: EventData, subject: str, source: str) -> CloudEvent:
    return new_event(data, source=source, subject=subject)


def _session(driver_id: str, trip: str, *, ended: bool = False) -> CloudEvent:
    data = DrivingSession(
        driver_id=driver_id,
        session_id=trip,
        continuous_minutes=95,
        lat=29.9,
        lng=121.86,
        reported_at=datetime.now(UTC),
        ended=ended,
    )
    return _event(data, driver_id, "partner/port-booking")


def _nudge(driver_id: str) -> CloudEvent:
    now = datetime.now(UTC)
    data = RestNudged(
        driver_id=driver_id,
        nudge_id=unique_name("rn_"),
        continuous_minutes=250,
        station_id="stn_x",
        station_name="霞浦集卡司机之家",
        distance_km=2.1,
        travel_minutes=4,
        check_in_by=now + timedelta(hours=4),
        nudged_at=now,
    )
    return _event(data, driver_id, "driverhome/stations")


async def test_a_non_urgent_sms_waits_while_the_driver_drives_and_goes_once_after(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any, token: Headers
) -> None:
    stations_settings: StationsSettings = make_settings(StationsSettings)
    clock = ManualClock(datetime.now(UTC))
    with Receiver(answer={"code": "OK", "biz_id": "B-1"}) as gateway:
        notify_settings: NotifySettings = make_settings(
            NotifySettings,
            dispatch_interval_seconds=0.1,
            sms_gateway_url=gateway.url,
            sms_api_key="gw-key",
        )

        async def publish(topic: str, cloud_event: CloudEvent) -> None:
            await produce(
                infra.kafka_bootstrap,
                stations_settings.topic(topic),
                cloud_event.to_bytes(),
                key=cloud_event.subject.encode(),
            )

        async def sms(driver_id: str, status: str) -> list[Any] | None:
            query = {"driver_id": driver_id, "channel": "sms", "category": "points"}
            docs = await notifications(mongo, notify_settings, status=status, **query)
            return docs or None

        async def driving_known(driver_id: str, driving: bool) -> bool:
            facts = await mongo[notify_settings.mongo_db]["drivers"].find_one({"_id": driver_id})
            return bool(facts) and (facts.get("driving_until") is not None) == driving

        stations_service = stations_app(stations_settings)
        driver, refusing = unique_name("drv_"), unique_name("drv_")
        async with serve(stations_service):
            async with serve(notify_app(notify_settings, clock=clock)) as n:
                now = datetime.now(UTC)
                for who in (driver, refusing):
                    registered = DriverRegistered(
                        driver_id=who, channel="operator", registered_at=now, language="en"
                    )
                    await publish("registry.events", _event(registered, who, "driverhome/registry"))
                    prefs = await n.put(
                        f"/v1/drivers/{who}/preferences",
                        json={
                            "sms_phone": synthetic_phone(),
                            "channels": {"points": ["inbox", "sms"]},
                        },
                        headers=token("driver", driver_id=who),
                    )
                    assert prefs.status_code == 200, prefs.text
                consent = DriverUpdated(
                    driver_id=driver,
                    changed_fields=["consents.location"],
                    updated_at=now,
                    consents={"location": True},
                )
                await publish("registry.events", _event(consent, driver, "driverhome/registry"))
                stations_db = stations_service.state.runtime.db

                async def consent_known() -> bool:
                    query = {"_id": driver, "consents.location": True}
                    return await stations_db["drivers"].count_documents(query) == 1

                await wait_until(consent_known)
                await wait_until(lambda: driving_known(refusing, False))  # notify knows both

                # Both drive; only the consenting driver's drive is announced, and without position.
                await publish(PARTNER_TOPIC, _session(driver, "trip-1"))
                await publish(PARTNER_TOPIC, _session(refusing, "trip-7"))
                await wait_until(lambda: driving_known(driver, True))
                driving = stations_service.state.stations.driving
                assert (
                    await driving.on_session(
                        DrivingSession.model_validate(_session(refusing, "trip-7").data)
                    )
                    is None
                )

                await publish("points.events", awarded(driver, amount=3))
                await publish("points.events", awarded(refusing, amount=3))
                await publish("stations.events", _nudge(driver))
                # Not driving as far as notify knows: the SMS goes at once.
                await wait_until(lambda: sms(refusing, "sent"))
                [held] = await wait_until(lambda: sms(driver, "held"))
                assert held["hold_reason"] == "driving"

                # The inbox copies do not wait for the drive (the nudge comes on its own topic, so
                # it may land after the held SMS).
                async def inbox_has_both() -> bool:
                    page = (
                        await n.get(
                            f"/v1/drivers/{driver}/inbox", headers=token("driver", driver_id=driver)
                        )
                    ).json()
                    return {"points", "rest"} <= {i["category"] for i in page["items"]}

                await wait_until(inbox_has_both)

                # The urgent rest nudge went through by SMS during the drive.
                async def nudge_sent() -> list[Any] | None:
                    query = {"driver_id": driver, "channel": "sms", "category": "rest"}
                    return (
                        await notifications(mongo, notify_settings, status="sent", **query) or None
                    )

                await wait_until(nudge_sent)
                assert held["_id"] not in _sent_ids(gateway)

            # notify restarts while the SMS is held (stations runs on); the drive ends;
            # the SMS goes once.
            async with serve(notify_app(notify_settings, clock=clock)):
                await publish(PARTNER_TOPIC, _session(driver, "trip-1", ended=True))
                [sent] = await wait_until(lambda: sms(driver, "sent"))
                assert sent["_id"] == held["_id"]
                assert [h["reason"] for h in sent["history"]][:2] == ["driving", "driving_over"]
                assert _sent_ids(gateway).count(held["_id"]) == 1

                # A new drive whose reports stop: the hold ends when the state goes stale.
                await publish(PARTNER_TOPIC, _session(driver, "trip-2"))
                await wait_until(lambda: driving_known(driver, True))
                await publish("points.events", awarded(driver, amount=4))
                await wait_until(lambda: _held_count(mongo, notify_settings, driver, 1))
                clock.advance(timedelta(minutes=notify_settings.driving_stale_minutes + 1))
                await wait_until(lambda: _held_count(mongo, notify_settings, driver, 0))
                assert len(await wait_until(lambda: _two(sms(driver, "sent")))) == 2

    records = await read_topic(
        infra.kafka_bootstrap, stations_settings.topic("stations.events"), min_records=4
    )
    reports = [json.loads(r.value or b"") for r in records]
    # Once per id, as consumers see them: a flush racing the sweeper may send one twice.
    once: dict[str, Any] = {}
    for report in reports:
        if report["type"] == "driving.reported.v1":
            once.setdefault(report["id"], report)
    reports = list(once.values())
    assert {r["subject"] for r in reports} == {driver}  # none for the refusing driver
    assert [r["data"]["state"] for r in reports] == ["driving", "ended", "driving"]
    assert not {"lat", "lng"} & {k for r in reports for k in r["data"]}


async def _two(docs: Any) -> list[Any] | None:
    found = await docs
    return found if found and len(found) == 2 else None


def _sent_ids(gateway: Receiver) -> list[str]:
    return [json.loads(body)["out_id"] for _, body, _ in gateway.requests]


async def _held_count(mongo: Any, settings: NotifySettings, driver_id: str, n: int) -> bool:
    query = {"driver_id": driver_id, "channel": "sms", "status": "held"}
    return len(await notifications(mongo, settings, **query)) == n
