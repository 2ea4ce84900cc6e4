"""Rest nudges on the real broker and store, across stations, notify and points: a partner's
driving session past the threshold gives one urgent notification naming the nearest station
with room (only with location consent, no position kept), and a rest check-in there earns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from common.events import CloudEvent, EventData, new_event
from common.events.partner import DrivingSession
from common.events.registry import DriverRegistered, DriverUpdated
from common.testing import Infra, unique_name, wait_until
from notify.app import create_app as notify_app
from notify.settings import NotifySettings
from points.app import create_app as points_app
from points.settings import PointsSettings
from stations.app import create_app as stations_app
from stations.settings import StationsSettings
from tests.support import produce, serve

Headers = Callable[..., dict[str, str]]
STATION = (29.8880, 121.8450)
NEAR = (29.9000, 121.8600)  # about 2 km away
FAR = (30.6000, 122.6000)  # far out at sea: no station within 15 minutes


def event(data: EventData, subject: str, source: str) -> CloudEvent:
    return new_event(data, source=source, subject=subject)


async def test_a_long_drive_is_nudged_once_to_a_station_with_room_and_resting_there_earns(
    infra: Infra, make_settings: Callable[..., Any], token: Headers
) -> None:
    stations_settings: StationsSettings = make_settings(StationsSettings)
    notify_settings: NotifySettings = make_settings(NotifySettings, dispatch_interval_seconds=0.1)
    points_settings: PointsSettings = make_settings(PointsSettings)

    async def publish(topic: str, cloud_event: CloudEvent) -> None:
        await produce(
            infra.kafka_bootstrap,
            stations_settings.topic(topic),
            cloud_event.to_bytes(),
            key=cloud_event.subject.encode(),
        )

    stations_service = stations_app(stations_settings)
    async with (
        serve(stations_service) as stations,
        serve(notify_app(notify_settings)) as notify,
        serve(points_app(points_settings)) as points,
    ):
        full_id, station_id = unique_name("stn_"), unique_name("stn_")
        for sid, beds, parking, at in ((full_id, 0, 0, NEAR), (station_id, 4, 10, STATION)):
            made = await stations.post(
                "/v1/stations",
                json={
                    "station_id": sid,
                    "name": "霞浦集卡司机之家" if sid == station_id else "满员驿站",
                    "kind": "drivers_home",
                    "operator_org": "北仑区交通运输行业党委",
                    "address": "宁波市北仑区霞浦街道",
                    "location": {"lat": at[0], "lng": at[1]},
                    "hours": {"always_open": True},
                    "capacity": {"beds": beds, "parking": parking},
                    "services": [{"code": c} for c in ("rest", "parking")],
                },
                headers=token(),
            )
            assert made.status_code == 201, made.text

        consenting, refusing, distant = (unique_name("drv_") for _ in range(3))
        now = datetime.now(UTC)
        for driver_id in (consenting, refusing, distant):
            registered = DriverRegistered(
                driver_id=driver_id, channel="operator", registered_at=now, language="en"
            )
            await publish("registry.events", event(registered, driver_id, "driverhome/registry"))
        for driver_id in (consenting, distant):
            consent = DriverUpdated(
                driver_id=driver_id,
                changed_fields=["consents.location"],
                updated_at=now,
                consents={"location": True},
            )
            await publish("registry.events", event(consent, driver_id, "driverhome/registry"))

        db = stations_service.state.runtime.db

        async def consents_known() -> bool:
            query = {"_id": {"$in": [consenting, distant]}, "consents.location": True}
            return await db["drivers"].count_documents(query) == 2

        await wait_until(consents_known)
        await wait_until(lambda: _account(points, consenting, token))

        def session(
            driver_id: str, minutes: int, where: tuple[float, float], sid: str
        ) -> CloudEvent:
            data = DrivingSession(
                driver_id=driver_id,
                session_id=sid,
                continuous_minutes=minutes,
                lat=where[0],
                lng=where[1],
                reported_at=datetime.now(UTC),
            )
            return event(data, driver_id, "partner/port-booking")

        partner_topic = "partner.port-booking.events"
        await publish(partner_topic, session(consenting, 150, NEAR, "trip-1"))  # under 240
        await publish(partner_topic, session(consenting, 245, NEAR, "trip-1"))

        inbox = await wait_until(lambda: _rest_inbox(notify, consenting, token))
        assert len(inbox) == 1
        nudge = inbox[0]
        assert nudge["urgent"] is True and nudge["language"] == "en"
        assert "245 minutes" in nudge["title"]
        assert "霞浦集卡司机之家" in nudge["body"]  # the station with room, not the full one
        stored = await db["rest_nudges"].find({"driver_id": consenting}).to_list(None)
        assert len(stored) == 1 and stored[0]["station_id"] == station_id
        assert not {"lat", "lng", "position", "location"} & set(stored[0])  # no position kept

        # The same session again, no consent, nothing within the circle: no further nudge.
        rest = stations_service.state.stations.rest
        again = await rest.on_session(_data(session(consenting, 260, NEAR, "trip-1")))
        assert again == stored[0]["_id"]
        assert await rest.on_session(_data(session(refusing, 250, NEAR, "trip-9"))) is None
        assert await rest.on_session(_data(session(distant, 250, FAR, "trip-5"))) is None
        assert await db["rest_nudges"].count_documents({"driver_id": {"$ne": consenting}}) == 0
        assert await db["rest_nudges"].count_documents({"driver_id": consenting}) == 1
        assert len(await _rest_inbox(notify, consenting, token)) == 1

        # A rest check-in at the named station earns by the rule, once.
        checkin = await stations.post(
            "/v1/checkins",
            json={"driver_id": consenting, "station_id": station_id, "service_code": "rest"},
            headers=token("station", station_id=station_id),
        )
        assert checkin.status_code == 201, checkin.text
        entries = await wait_until(lambda: _rest_entries(points, consenting, token))
        assert [e["amount"] for e in entries] == [10]
        assert entries[0]["cause"]["event_type"] == "rest.taken.v1"
        taken = await db["rest_nudges"].find_one({"driver_id": consenting})
        assert taken["state"] == "taken"
        # Redelivered (the station's client retries with the same check-in): nothing more.
        await rest.on_checkin(
            await stations_service.state.stations.checkins.get_checkin(checkin.json()["checkin_id"])
        )
        assert len(await _rest_entries(points, consenting, token)) == 1


async def _account(points: httpx.AsyncClient, driver_id: str, token: Headers) -> bool:
    answer = await points.get(f"/v1/accounts/{driver_id}", headers=token())
    return answer.status_code == 200


def _data(cloud_event: CloudEvent) -> DrivingSession:
    return DrivingSession.model_validate(cloud_event.data)


async def _rest_inbox(
    notify: httpx.AsyncClient, driver_id: str, token: Headers
) -> list[dict[str, Any]]:
    answer = await notify.get(
        f"/v1/drivers/{driver_id}/inbox", headers=token("driver", driver_id=driver_id)
    )
    assert answer.status_code == 200, answer.text
    return [i for i in answer.json()["items"] if i["category"] == "rest"]


async def _rest_entries(
    points: httpx.AsyncClient, driver_id: str, token: Headers
) -> list[dict[str, Any]]:
    answer = await points.get(f"/v1/accounts/{driver_id}/ledger", headers=token())
    assert answer.status_code == 200, answer.text
    return [e for e in answer.json()["items"] if e["rule"] == "rest-after-nudge@v1"]
