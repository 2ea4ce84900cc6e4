"""Erasure that reaches everything (issue 14): every service forgets an erased driver.

A driver uses every service (registered with a plate, earned points at a station and from the
port booking system, got notifications, opened a case with a description and notes); then the
registry erases them. Every service answers with its own ``<service>.erasure_completed.v1``,
the registry's receipt lists each confirmation, and a search of every collection of every
database of the run finds the driver's id, name, plate and texts only where the pseudonymous
ledger keeps them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cases.app import create_app as cases_app
from cases.settings import CasesSettings
from common.events import new_event
from common.events.partner import PartnerServiceUsed, PortAppointmentKept
from common.events.points import GradeChanged, PointsAwarded
from common.testing import (
    Infra,
    headers_of,
    read_topic,
    synthetic_national_id,
    synthetic_phone,
    unique_name,
    wait_until,
)
from notify.app import create_app as notify_app
from notify.settings import NotifySettings
from partners.app import create_app as partners_app
from partners.settings import PartnersSettings
from partners.store.links import GRADES
from partners.store.notices import NOTICES
from partners.store.receipts import RECEIPTS
from points.app import create_app as points_app
from points.settings import PointsSettings
from registry.app import create_app as registry_app
from registry.settings import RegistrySettings
from stations.app import create_app as stations_app
from stations.settings import StationsSettings
from tests.support import produce, serve, training_body

Headers = Callable[..., dict[str, str]]
SERVICES = ("points", "stations", "notify", "cases", "partners")
# Where the driver id may stay after erasure, and nothing else of the driver.
PSEUDONYMOUS = (
    "points.ledger",
    "points.accounts",
    "registry.drivers",
    "registry.erasure_receipts",
    "registry.approvals",
)
NAME = "骆振国"
PLATE = "浙B7Q418"
DESCRIPTION = "车队拖欠运费九十天未结清，调度员骆振国反映"
NOTE = "请提供九十天运单截图"
REPLY_NOTE = "已联系骆振国所在车队"
# The driver's account at the identity provider, as their app's token names it: nothing a
# service could find again, so no record may keep it.
DRIVER_SUB = f"idp-{uuid.uuid4().hex}"


@dataclass
class Platform:
    http: dict[str, httpx.AsyncClient]
    dbs: list[str]
    points: PointsSettings


@pytest.fixture
async def platform(make_settings: Callable[..., Any]) -> AsyncIterator[Platform]:
    settings = {
        "registry": make_settings(RegistrySettings),
        "points": make_settings(PointsSettings),
        "stations": make_settings(StationsSettings),
        "notify": make_settings(NotifySettings),
        "cases": make_settings(CasesSettings),
        "partners": make_settings(PartnersSettings),
    }
    apps = {
        "registry": registry_app(settings["registry"]),
        "points": points_app(settings["points"]),
        "stations": stations_app(settings["stations"]),
        "notify": notify_app(settings["notify"]),
        "cases": cases_app(settings["cases"], scan=False),
        "partners": partners_app(settings["partners"]),
    }
    async with AsyncExitStack() as stack:
        http = {name: await stack.enter_async_context(serve(app)) for name, app in apps.items()}
        yield Platform(http, [s.mongo_db for s in settings.values()], settings["points"])


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


async def use_every_service(
    p: Platform, token: Headers, infra: Infra, mongo: Any
) -> tuple[str, str]:
    """A driver who used every service; returns the driver id and the station's."""
    operator = token("operator")
    registered = ok(
        await p.http["registry"].post(
            "/v1/drivers",
            json={
                "name": NAME,
                "phone": synthetic_phone(),
                "national_id": synthetic_national_id(),
                "plate": PLATE,
            },
            headers={**operator, "Idempotency-Key": unique_name("reg")},
        ),
        201,
    )
    driver: str = registered["driver_id"]
    me = token("driver", driver_id=driver, sub=DRIVER_SUB)
    for purpose in ("points", "notifications", "location"):
        ok(
            await p.http["registry"].put(
                f"/v1/drivers/{driver}/consents/{purpose}",
                json={"granted": True, "channel": "app"},
                headers=me,
            )
        )

    async def account() -> bool:
        return (await p.http["points"].get(f"/v1/accounts/{driver}", headers=operator)).is_success

    await wait_until(account, timeout=30)

    station = unique_name("stn_")
    ok(
        await p.http["stations"].post(
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
                "kiosk_partners": ["station-kiosk"],
            },
            headers=operator,
        ),
        201,
    )
    desk = token("station", station_id=station, sub=f"desk-{station}")

    async def checked_in() -> bool:
        answer = await p.http["stations"].post(
            "/v1/checkins",
            json={"driver_id": driver, "station_id": station, "service_code": "shower"},
            headers=desk,
        )
        return answer.status_code == 201

    await wait_until(checked_in, timeout=30)
    # A training at the station: the driver registers and attends (the seat and the mark that
    # refuses a cancellation after it both name the driver on the activity).
    starts = datetime.now(UTC) + timedelta(hours=1)
    activity = ok(
        await p.http["stations"].post(
            f"/v1/stations/{station}/activities",
            json=training_body(starts, 5),
            headers=desk,
        ),
        201,
    )["activity_id"]
    ok(await p.http["stations"].post(f"/v1/activities/{activity}/registrations", headers=me))
    ok(
        await p.http["stations"].post(
            f"/v1/activities/{activity}/attendance", json={"driver_id": driver}, headers=desk
        ),
        201,
    )

    booking = token(
        "partner", partner_id="port-booking", scope="events:write events:read drivers:read"
    )
    kept = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "partner/port-booking",
        "type": "port.appointment.kept.v1",
        "subject": driver,
        "time": datetime.now(UTC).isoformat(),
        "data": {"appointment_id": "A-7781", "terminal": "BL2", "on_time": True},
    }
    ok(
        await p.http["partners"].post(
            "/v1/events",
            content=json.dumps(kept),
            headers={**booking, "Content-Type": "application/cloudevents+json"},
        ),
        202,
    )

    # A record of the partner's about the driver that its consumers refuse: the partners
    # service keeps the rejection and owes the partner a notice of it, naming the driver.
    refused = dict(kept, id=str(uuid.uuid4()), data={"appointment_id": "A-7782"})
    await produce(
        infra.kafka_bootstrap,
        p.points.topic("partner.port-booking.events"),
        json.dumps(refused).encode(),
        key=driver.encode(),
    )
    notices = mongo[p.dbs[SERVICES.index("partners") + 1]][NOTICES]

    async def rejection_noticed() -> bool:
        return await notices.count_documents({"body.rejection.subject": driver}) > 0

    await wait_until(rejection_noticed, timeout=30)

    case = ok(
        await p.http["cases"].post(
            "/v1/cases",
            json={
                "driver_id": driver,
                "kind": "complaint",
                "category": "freight_payment",
                "description": DESCRIPTION,
            },
            headers={**me, "Idempotency-Key": unique_name("case")},
        ),
        201,
    )["case"]
    case_id = case["case_id"]
    supervisor = token("operator", scope="cases:supervise", sub="supervisor-1")
    ok(
        await p.http["cases"].put(
            f"/v1/dossiers/{driver}/broker", json={"broker_id": "broker-7"}, headers=supervisor
        )
    )
    dispatcher = token("operator", scope="cases:dispatch", sub="dispatcher-1")
    handler = token("operator", scope="cases:handle cases:revisit", unit_id="U1", sub="h-U1")
    base = f"/v1/cases/{case_id}/transitions"
    ok(
        await p.http["cases"].post(
            f"{base}/dispatch", json={"unit_ids": ["U1"]}, headers=dispatcher
        )
    )
    ok(await p.http["cases"].post(f"{base}/accept", json={}, headers=handler))
    ok(await p.http["cases"].post(f"{base}/request_info", json={"note": NOTE}, headers=handler))
    ok(await p.http["cases"].post(f"{base}/driver_replied", json={}, headers=me))
    ok(await p.http["cases"].post(f"{base}/feedback", json={"note": REPLY_NOTE}, headers=handler))

    editor = token("operator", roles=["notify_editor"], sub="editor-1")
    broadcast = ok(
        await p.http["notify"].post(
            "/v1/broadcasts",
            json={
                "category": "policy",
                "segment": {"kind": "everyone"},
                "content": {"zh-CN": {"title": "港区限行新规", "body": "下周一起执行。"}},
            },
            headers=editor,
        ),
        201,
    )

    async def broadcast_done() -> bool:
        answer = await p.http["notify"].get(
            f"/v1/broadcasts/{broadcast['broadcast_id']}", headers=editor
        )
        return bool(answer.json()["status"] == "completed")

    await wait_until(broadcast_done, timeout=30)

    async def points_earned() -> bool:
        answer = await p.http["points"].get(f"/v1/accounts/{driver}/ledger", headers=operator)
        return answer.is_success and len(answer.json()["items"]) >= 2

    async def inbox_filled() -> bool:
        answer = await p.http["notify"].get(f"/v1/drivers/{driver}/inbox", headers=me)
        return answer.is_success and len(answer.json()["items"]) >= 2

    await wait_until(points_earned, timeout=30)
    await wait_until(inbox_filled, timeout=30)
    return driver, station


async def erase(p: Platform, token: Headers, driver: str) -> None:
    """Erasure as the registry runs it: one security officer proposes, another approves."""
    proposed = ok(
        await p.http["registry"].post(
            f"/v1/drivers/{driver}/erasure",
            json={"reason": "on_request"},
            headers=token("operator", sub="officer-maker"),
        ),
        202,
    )
    ok(
        await p.http["registry"].post(
            f"/v1/approvals/{proposed['approval_id']}/approve",
            json={},
            headers=token("operator", sub="officer-checker"),
        )
    )


async def remnants(mongo: Any, dbs: list[str], needles: list[str]) -> dict[str, set[str]]:
    """Each ``db.collection`` holding any of the needles anywhere in a document's JSON."""
    found: dict[str, set[str]] = {}
    for db_name in dbs:
        db = mongo[db_name]
        for collection in await db.list_collection_names():
            async for doc in db[collection].find({}):
                text = json.dumps(doc, default=str, ensure_ascii=False)
                for needle in needles:
                    if needle in text:
                        found.setdefault(f"{db_name.split('_', 1)[1]}.{collection}", set()).add(
                            needle
                        )
    return found


@pytest.mark.expects_dlq("driver_erased", "invalid_data")
async def test_an_erased_driver_who_used_every_service_is_forgotten_everywhere(
    platform: Platform, token: Headers, mongo: Any, infra: Infra
) -> None:
    p = platform
    driver, station = await use_every_service(p, token, infra, mongo)
    texts = [NAME, PLATE, DESCRIPTION, NOTE, REPLY_NOTE, DRIVER_SUB]
    before = await remnants(mongo, p.dbs, [driver, *texts])
    # The search finds what it looks for: each service held the driver before.
    assert {where.split(".")[0] for where in before} == {"registry", *SERVICES}, before
    assert {"notify.notifications", "stations.checkins", "cases.cases"} <= set(before)
    assert {"stations.activities", "stations.attendances"} <= set(before)
    assert "notify.broadcasts" not in before, "a completed broadcast keeps no resolution cursor"
    assert "cases.broker_rosters" in before, "the care broker's roster names the driver"
    assert f"partners.{NOTICES}" in before, "a rejection's notice names the driver"
    assert {DESCRIPTION, NOTE, REPLY_NOTE} <= before["cases.cases"]
    assert DESCRIPTION in before["cases.idempotency_keys"]

    reader = token("operator", roles=["auditor"], sub="auditor-1")
    not_yet = await p.http["registry"].get(f"/v1/drivers/{driver}/erasure", headers=reader)
    assert not_yet.status_code == 409, not_yet.text
    await erase(p, token, driver)

    async def receipt() -> dict[str, Any] | None:
        answer = await p.http["registry"].get(f"/v1/drivers/{driver}/erasure", headers=reader)
        body: dict[str, Any] = ok(answer)
        return body if body["complete"] else None

    done = await wait_until(receipt, timeout=40)
    confirmed = {c["service"]: c for c in done["confirmations"]}
    assert sorted(confirmed) == sorted(SERVICES) and done["waiting_for"] == []
    assert confirmed["notify"]["erased"]["inbox and deliveries"] >= 2
    assert confirmed["cases"]["erased"]["cases: descriptions, notes, attachments"] == 1
    assert confirmed["cases"]["erased"]["stored_replies"] == 1
    assert confirmed["stations"]["erased"]["visit history"] == 1
    assert confirmed["stations"]["erased"]["activity attendance marks"] == 1
    assert confirmed["points"]["erased"]["stations' counted attendances"] == 1
    assert confirmed["points"]["kept"] == ["ledger entries", "account balance and status"]

    # No text, name or plate anywhere; the id only in the pseudonymous ledger and the
    # registry's own proof of the erasure (its stub, the receipt, the approved request).
    left = await remnants(mongo, p.dbs, [driver, *texts])
    assert left == {where: {driver} for where in PSEUDONYMOUS}, left
    stub = await mongo[p.dbs[0]]["drivers"].find_one({"_id": driver})
    assert stub["erased"] and not {"name", "phone", "national_id"} & set(stub)

    for refused in (
        token("driver", driver_id=driver),
        token("operator", roles=["points_admin"], sub="points-admin-1"),
    ):
        answer = await p.http["registry"].get(f"/v1/drivers/{driver}/erasure", headers=refused)
        assert answer.status_code == 403, answer.text
    officer = token("operator", roles=["security_officer"], sub="officer-1")
    assert ok(await p.http["registry"].get(f"/v1/drivers/{driver}/erasure", headers=officer))[
        "complete"
    ]

    # A partner's event about the driver arriving after the erasure is refused, not parked:
    # parking would keep what it says about the driver.
    now = datetime.now(UTC)
    kept = PortAppointmentKept(
        driver_id=driver, appointment_id="A-7790", terminal="BL2", on_time=True, kept_at=now
    )
    late = new_event(kept, source="partner/port-booking", subject=driver, time=now)
    topic = p.points.topic("partner.port-booking.events")
    await produce(infra.kafka_bootstrap, topic, late.to_bytes(), key=driver.encode())

    async def dead_lettered() -> bool:
        letters = await read_topic(infra.kafka_bootstrap, f"{topic}.dlq")
        return any(headers_of(r)["dlq-reason"] == "driver_erased" for r in letters)

    await wait_until(dead_lettered, timeout=30)
    points_db = mongo[p.points.mongo_db]
    assert await points_db["parked"].count_documents({"driver_id": driver}) == 0

    # Notify skips what arrives late about the driver (an award announced before the erasure
    # but delivered after it); a control award on the same partition shows it was read.
    other = unique_name("drv_")
    for subject in (driver, other):
        award = PointsAwarded(
            driver_id=subject,
            entry_id=unique_name("ent_"),
            amount=5,
            balance_after=5,
            rule_id="volunteer",
            cause_source="partner/volunteer-team",
            cause_id=unique_name("e"),
            cause_type="volunteer.logged.v1",
            awarded_at=now,
        )
        event = new_event(award, source="driverhome/points", subject=subject)
        await produce(
            infra.kafka_bootstrap,
            p.points.topic("points.events"),
            event.to_bytes(),
            key=driver.encode(),
        )
    notifications = mongo[p.dbs[3]]["notifications"]

    async def control_notified() -> bool:
        return bool(await notifications.count_documents({"driver_id": other}) > 0)

    await wait_until(control_notified, timeout=30)
    assert await notifications.count_documents({"driver_id": driver}) == 0

    # Cases likewise: a grade change and a safety milestone announced before the erasure but
    # read after it follow nobody (a control driver's do).
    for subject in (driver, other):
        grade = GradeChanged(
            driver_id=subject,
            old_grade="A",
            new_grade="AA",
            earned_last_12_months=900,
            reasons=["earned 900"],
            changed_at=now,
        )
        milestone = PointsAwarded(
            driver_id=subject,
            entry_id=unique_name("ent_"),
            amount=50,
            balance_after=55,
            rule_id="safety",
            cause_source="partner/traffic-safety",
            cause_id=unique_name("m"),
            cause_type="safety.milestone.v1",
            awarded_at=now,
        )
        for data in (grade, milestone):
            event = new_event(data, source="driverhome/points", subject=subject)
            await produce(
                infra.kafka_bootstrap,
                p.points.topic("points.events"),
                event.to_bytes(),
                key=driver.encode(),
            )
    cases_db = mongo[p.dbs[SERVICES.index("cases") + 1]]

    async def control_followed() -> bool:
        grade_known = await cases_db["aid_grades"].count_documents({"_id": other}) > 0
        noted = await cases_db["honour_milestones"].count_documents({"_id": other}) > 0
        return grade_known and noted

    await wait_until(control_followed, timeout=30)
    assert await cases_db["aid_grades"].count_documents({"_id": driver}) == 0
    assert await cases_db["honour_milestones"].count_documents({"_id": driver}) == 0

    # The partner edge likewise: no grade lookup and no receipt naming the driver again.
    partners_db = mongo[p.dbs[SERVICES.index("partners") + 1]]

    async def partners_followed() -> bool:
        graded = await partners_db[GRADES].count_documents({"_id": other}) > 0
        applied = await partners_db[RECEIPTS].count_documents({"applied.driver_id": other}) > 0
        return graded and applied

    await wait_until(partners_followed, timeout=30)
    assert await partners_db[GRADES].count_documents({"_id": driver}) == 0
    assert await partners_db[RECEIPTS].count_documents({"applied.driver_id": driver}) == 0

    # Stations likewise: a kiosk's late report is not recorded, not even as refused.
    for subject in (driver, other):
        used = PartnerServiceUsed(
            driver_id=subject,
            station_id=station,
            service_code="shower",
            used_at=now,
            kiosk_id="kiosk-xp-01",
        )
        event = new_event(used, source="partner/station-kiosk", subject=subject, time=now)
        await produce(
            infra.kafka_bootstrap,
            p.points.topic("partner.station-kiosk.events"),
            event.to_bytes(),
            key=subject.encode(),  # a partner record is keyed by its subject (key_mismatch)
        )
    checkins = mongo[p.dbs[2]]["checkins"]

    async def control_recorded() -> bool:
        return bool(await checkins.count_documents({"driver_id": other}) > 0)

    await wait_until(control_recorded, timeout=30)
    assert await checkins.count_documents({"driver_id": driver}) == 0
