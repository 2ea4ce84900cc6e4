"""Consents enforced where they apply (issue 14: "read by no other service" before).

The registry announces each consent given or withdrawn (``driver.updated.v1`` with
``consents``); points, notify and stations follow it: earning pauses without the points
consent, marketing broadcasts reach only drivers who gave the notifications consent, the
``near`` segment needs the location consent, and the stations' visit history names its driver
beyond its purpose only with that consent. One registry, points, notify and stations per test
on the real broker and store; each test uses its own drivers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from common.events import CloudEvent, new_event
from common.events.partner import VolunteerLogged
from common.events.registry import DriverRegistered, DriverUpdated
from common.testing import Infra, headers_of, read_topic, unique_name, wait_until
from notify.app import create_app as notify_app
from notify.segments import cell_of
from notify.settings import NotifySettings
from points.app import create_app as points_app
from points.settings import PointsSettings
from stations.app import create_app as stations_app
from stations.settings import StationsSettings
from tests.support import produce, serve

Headers = Callable[..., dict[str, str]]
VOLUNTEERS = "partner.volunteer-team.events"


@dataclass
class Platform:
    infra: Infra
    points: httpx.AsyncClient
    notify: httpx.AsyncClient
    stations: httpx.AsyncClient
    settings: PointsSettings
    dbs: dict[str, Any]

    async def send(self, topic: str, event: CloudEvent) -> None:
        await produce(
            self.infra.kafka_bootstrap,
            self.settings.topic(topic),
            event.to_bytes(),
            key=event.subject.encode(),
        )

    async def register(self, fleet: str) -> str:
        driver = unique_name("drv_")
        registered = DriverRegistered(
            driver_id=driver,
            channel="operator",
            registered_at=datetime.now(UTC),
            fleet=fleet,
        )
        await self.send("registry.events", fact(driver, registered))

        async def known() -> bool:
            return all(
                [
                    await self.dbs["points"]["accounts"].find_one({"_id": driver}),
                    await self.dbs["notify"]["drivers"].find_one({"_id": driver}),
                    await self.dbs["stations"]["drivers"].find_one({"_id": driver}),
                ]
            )

        await wait_until(known, timeout=30)
        return driver

    async def consent(self, driver: str, **answers: bool) -> None:
        """What the registry announces when the driver gives or withdraws consents."""
        changed = DriverUpdated(
            driver_id=driver,
            changed_fields=[f"consents.{purpose}" for purpose in answers],
            updated_at=datetime.now(UTC),
            consents=answers,
        )
        await self.send("registry.events", fact(driver, changed))


def fact(driver: str, data: Any) -> CloudEvent:
    return new_event(data, source="driverhome/registry", subject=driver)


@pytest.fixture
async def platform(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any
) -> AsyncIterator[Platform]:
    points = make_settings(PointsSettings)
    notify = make_settings(NotifySettings)
    # Visits name their driver 1 s beyond their purpose without the location consent.
    stations = make_settings(
        StationsSettings,
        retention_days={"visit purpose": 1 / 86_400},
        purge_interval_seconds=0.3,
    )
    async with AsyncExitStack() as stack:
        apps = [points_app(points), notify_app(notify), stations_app(stations)]
        p, n, s = [await stack.enter_async_context(serve(app)) for app in apps]
        dbs = {
            "points": mongo[points.mongo_db],
            "notify": mongo[notify.mongo_db],
            "stations": mongo[stations.mongo_db],
        }
        yield Platform(infra, p, n, s, points, dbs)


def volunteered(driver: str) -> CloudEvent:
    now = datetime.now(UTC)
    return new_event(
        VolunteerLogged(driver_id=driver, activity="港区道路清洁", hours=2, logged_at=now),
        source="partner/volunteer-team",
        subject=driver,
        time=now,
    )


@pytest.mark.expects_dlq("points_consent_withdrawn")
async def test_earning_pauses_while_the_points_consent_is_withdrawn(
    platform: Platform, token: Headers, infra: Infra
) -> None:
    p = platform
    driver = await p.register("龙星物流")
    await p.consent(driver, points=False)

    async def paused() -> bool:
        account = await p.dbs["points"]["accounts"].find_one({"_id": driver})
        return bool(account and account.get("earning_paused"))

    await wait_until(paused)
    refused = volunteered(driver)
    await p.send(VOLUNTEERS, refused)

    async def dead_lettered() -> list[Any]:
        found = await read_topic(infra.kafka_bootstrap, p.settings.topic(f"{VOLUNTEERS}.dlq"))
        return [r for r in found if headers_of(r)["dlq-reason"] == "points_consent_withdrawn"]

    [letter] = await wait_until(dead_lettered, timeout=30)
    assert refused.id.encode() in letter.value
    account = (await p.points.get(f"/v1/accounts/{driver}", headers=token())).json()
    assert account["balance"] == 0

    await p.consent(driver, points=True)
    await wait_until(lambda: _not(paused))
    await p.send(VOLUNTEERS, volunteered(driver))

    async def earned() -> int:
        answer = await p.points.get(f"/v1/accounts/{driver}", headers=token())
        return int(answer.json()["balance"])

    assert await wait_until(earned, timeout=30) > 0

    async def listed() -> list[Any]:
        # An entry is listed once marked applied, a step after the balance moves.
        answer = await p.points.get(f"/v1/accounts/{driver}/ledger", headers=token())
        return list(answer.json()["items"])

    items = await wait_until(listed, timeout=30)
    assert len(items) == 1, "the refused event never earns, also not after consent"


async def _not(check: Callable[[], Any]) -> bool:
    return not await check()


async def test_marketing_broadcasts_reach_only_drivers_who_gave_the_notifications_consent(
    platform: Platform, token: Headers
) -> None:
    p = platform
    fleet = unique_name("车队")
    willing, silent, withdrawn = [await p.register(fleet) for _ in range(3)]
    await p.consent(willing, notifications=True)
    await p.consent(withdrawn, notifications=True)
    await p.consent(withdrawn, notifications=False)

    async def followed() -> bool:
        facts = p.dbs["notify"]["drivers"]
        yes = await facts.find_one({"_id": willing, "consents.notifications": True})
        no = await facts.find_one({"_id": withdrawn, "consents.notifications": False})
        return bool(yes and no)

    await wait_until(followed)
    editor = token("operator", roles=["notify_editor"], sub="editor-1")

    async def broadcast(category: str, title: str) -> dict[str, Any]:
        body = {
            "category": category,
            "segment": {"kind": "fleet", "value": fleet},
            "content": {"zh-CN": {"title": title, "body": "详见站内公告。"}},
        }
        answer = await p.notify.post("/v1/broadcasts", json=body, headers=editor)
        assert answer.status_code == 201, answer.text
        bid = answer.json()["broadcast_id"]

        async def completed() -> dict[str, Any] | None:
            done: dict[str, Any] = (
                await p.notify.get(f"/v1/broadcasts/{bid}", headers=editor)
            ).json()
            return done if done["status"] == "completed" else None

        return await wait_until(completed, timeout=30)

    marketing = await broadcast("activity", "周末司机之家开放日")
    service = await broadcast("policy", "港区限行新规")
    assert marketing["progress"]["targeted"] == 1
    assert service["progress"]["targeted"] == 3

    async def titles(driver: str) -> list[str]:
        answer = await p.notify.get(
            f"/v1/drivers/{driver}/inbox", headers=token("driver", driver_id=driver)
        )
        return [item["title"] for item in answer.json()["items"]]

    assert "周末司机之家开放日" in await titles(willing)
    for driver in (silent, withdrawn):
        inbox = await titles(driver)
        assert "港区限行新规" in inbox and "周末司机之家开放日" not in inbox


async def test_location_is_used_only_with_the_location_consent(
    platform: Platform, token: Headers
) -> None:
    p = platform
    consenting, other = await p.register("甬舟物流"), await p.register("甬舟物流")
    await p.consent(consenting, location=True)
    facts = p.dbs["notify"]["drivers"]
    # Where a driver was last seen, as notify keeps it (a coarse cell) for the near segment.
    for driver in (consenting, other):
        await facts.update_one({"_id": driver}, {"$set": {"cell": cell_of(29.888, 121.845)}})

    async def followed() -> bool:
        return bool(await facts.find_one({"_id": consenting, "consents.location": True}))

    await wait_until(followed)
    near = {"kind": "near", "lat": 29.888, "lng": 121.845, "radius_km": 3}
    editor = token("operator", roles=["notify_editor"], sub="editor-2")
    answer = await p.notify.post(
        "/v1/broadcasts",
        json={
            "category": "policy",
            "segment": near,
            "content": {"zh-CN": {"title": "霞浦停车场施工", "body": "请绕行。"}},
        },
        headers=editor,
    )
    assert answer.status_code == 201, answer.text
    bid = answer.json()["broadcast_id"]

    async def targeted() -> int | None:
        done = (await p.notify.get(f"/v1/broadcasts/{bid}", headers=editor)).json()
        return int(done["progress"]["targeted"]) if done["status"] == "completed" else None

    assert await wait_until(targeted, timeout=30) == 1

    # Stations: a visit names its driver beyond its purpose only with the consent.
    station = unique_name("stn_")
    ok = await p.stations.post(
        "/v1/stations",
        json={
            "station_id": station,
            "name": "霞浦集卡司机之家",
            "kind": "drivers_home",
            "operator_org": "北仑区交通运输行业党委",
            "address": "宁波市北仑区霞浦街道",
            "location": {"lat": 29.888, "lng": 121.845},
            "hours": {"always_open": True},
            "capacity": {"beds": 10, "parking": 20, "showers": 4},
            "services": [{"code": "shower"}],
        },
        headers=token(),
    )
    assert ok.status_code == 201, ok.text
    desk = token("station", station_id=station, sub=f"desk-{station}")
    for driver in (consenting, other):
        checkin = await p.stations.post(
            "/v1/checkins",
            json={"driver_id": driver, "station_id": station, "service_code": "shower"},
            headers=desk,
        )
        assert checkin.status_code == 201, checkin.text
    visits = p.dbs["stations"]["checkins"]

    async def anonymised() -> bool:
        named = await visits.count_documents({"station_id": station, "driver_id": other})
        return bool(named == 0)

    await wait_until(anonymised, timeout=15)
    assert await visits.count_documents({"station_id": station, "driver_id": "anonymous"}) == 1
    assert await visits.count_documents({"station_id": station, "driver_id": consenting}) == 1

    # Withdrawn: the notify cell goes at once, the kept visit at the next purge.
    await p.consent(consenting, location=False)

    async def forgotten() -> bool:
        doc = await facts.find_one({"_id": consenting})
        named = await visits.count_documents({"station_id": station, "driver_id": consenting})
        return bool(doc and "cell" not in doc and named == 0)

    await wait_until(forgotten, timeout=15)
