"""Partners reach only their drivers (issue 14, "Partners see everyone"), on the real broker
and store.

A partner reaches a driver it registered, or one who confirmed its link; the registry announces
links on ``registry.events`` and every service answering partners follows them. A respondent
learns who complains only where the driver agreed (no list by driver or unit, no merge link),
and intake's duplicate candidates reach only the driver and the caseworkers who see every case.
Each test is one finding: it failed on the code before the fix and passes after it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cases.app import create_app as cases_app
from cases.settings import CasesSettings
from common.events import CloudEvent, EventData, new_event
from common.events.points import PointsAwarded
from common.events.registry import (
    DriverPartnerLinked,
    DriverPartnerUnlinked,
    DriverRegistered,
    DriverUpdated,
)
from common.testing import Infra, read_topic, unique_name, wait_until
from notify.app import create_app as notify_app
from notify.settings import NotifySettings
from points.app import create_app as points_app
from points.settings import PointsSettings
from registry.app import create_app as registry_app
from registry.settings import RegistrySettings
from tests.integration.test_registry_rules import driver as new_driver
from tests.integration.test_registry_rules import national_id
from tests.support import produce, serve, webhook_receiver

Headers = Callable[..., dict[str, str]]
BOOKING = "port-booking"


def fact(driver_id: str, data: EventData) -> CloudEvent:
    return new_event(data, source="driverhome/registry", subject=driver_id)


def registered(
    driver_id: str, partner_id: str | None = None, at: datetime | None = None
) -> CloudEvent:
    return fact(
        driver_id,
        DriverRegistered(
            driver_id=driver_id,
            channel="partner" if partner_id else "operator",
            registered_at=at or datetime.now(UTC),
            partner_id=partner_id,
        ),
    )


def consent(driver_id: str, granted: bool) -> CloudEvent:
    """The registry's announcement of the driver's answer on notifications."""
    return fact(
        driver_id,
        DriverUpdated(
            driver_id=driver_id,
            changed_fields=["consents.notifications"],
            updated_at=datetime.now(UTC),
            consents={"notifications": granted},
        ),
    )


async def announce(infra: Infra, topic: str, *events: CloudEvent) -> None:
    for event in events:
        await produce(infra.kafka_bootstrap, topic, event.to_bytes(), key=event.subject.encode())


async def links_settled(mongo: Any, db: str, expected: dict[str, bool]) -> bool:
    """The service's link book holds exactly these (driver → linked to the booking system)."""
    docs = await mongo[db]["partner_links"].find({"partner_id": BOOKING}).to_list()
    return {d["driver_id"]: d["linked"] for d in docs} == expected


async def test_a_partner_webhook_carries_only_the_events_of_drivers_linked_to_it(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any, token: Headers
) -> None:
    settings = make_settings(
        NotifySettings,
        dispatch_interval_seconds=0.1,
        webhook_allowed_networks=["127.0.0.1/32"],
    )
    # Registered by the booking system; linked by the driver's consent; registered elsewhere
    # (the registry hides them from the partner); linked, then withdrawn by the driver; linked
    # but refusing notifications.
    own, agreed, stranger, withdrawn, silent = (unique_name(f"drv_{n}_") for n in "oaswx")
    # Every service keeps the newest fact about a link (by its time, common.partner_links), so
    # the history is dated as the registry would date it: registered, then linked or withdrawn
    # later. A withdrawal dated before its registration is rightly ignored (it used to be
    # dated so, and passed only when both fell in the same millisecond, the store's precision).
    now = datetime.now(UTC)
    later = now + timedelta(minutes=1)
    history = [
        *(consent(d, True) for d in (own, agreed, stranger, withdrawn)),
        registered(silent, BOOKING, now),
        consent(silent, False),
        registered(own, BOOKING, now),
        registered(agreed, at=now),
        fact(
            agreed,
            DriverPartnerLinked(
                driver_id=agreed, partner_id=BOOKING, basis="consent", linked_at=later
            ),
        ),
        registered(stranger, at=now),
        registered(withdrawn, BOOKING, now),
        fact(
            withdrawn,
            DriverPartnerUnlinked(driver_id=withdrawn, partner_id=BOOKING, unlinked_at=later),
        ),
    ]
    async with webhook_receiver() as hook, serve(notify_app(settings)) as http:
        made = await http.post(
            "/v1/webhooks",
            json={"url": hook.url, "categories": ["points"]},
            headers=token("partner", partner_id=BOOKING),
        )
        assert made.status_code == 201, made.text
        await announce(infra, settings.topic("registry.events"), *history)
        expected = {own: True, agreed: True, withdrawn: False, silent: True}
        await wait_until(lambda: links_settled(mongo, settings.mongo_db, expected), timeout=60)
        await wait_until(lambda: _consents(mongo, settings, 5), timeout=30)
        awards = [
            new_event(
                PointsAwarded(
                    driver_id=d,
                    entry_id=unique_name("ent_"),
                    amount=5,
                    balance_after=5,
                    rule_id="volunteer",
                    cause_source="partner/volunteer-team",
                    cause_id=unique_name("v"),
                    cause_type="volunteer.logged.v1",
                    awarded_at=now,
                ),
                source="driverhome/points",
                subject=d,
            )
            for d in (own, agreed, stranger, withdrawn, silent)
        ]
        await announce(infra, settings.topic("points.events"), *awards)

        async def both_delivered() -> bool:
            return len(hook.deliveries) >= 2

        await wait_until(both_delivered, timeout=60)
        # Every award is planned by now (inboxes filled); none more may reach the partner.
        await wait_until(lambda: _inboxes(mongo, settings, 5), timeout=30)
        await asyncio.sleep(1.0)
    posted = {json.loads(body)["driver_id"] for _, body in hook.deliveries}
    assert posted == {own, agreed}
    assert len(hook.deliveries) == 2


async def _consents(mongo: Any, settings: NotifySettings, count: int) -> bool:
    found: int = await mongo[settings.mongo_db]["webhook_consents"].count_documents({})
    return found >= count


async def _inboxes(mongo: Any, settings: NotifySettings, count: int) -> bool:
    found: int = await mongo[settings.mongo_db]["notifications"].count_documents(
        {"channel": "inbox"}
    )
    return found >= count


async def test_knowing_a_drivers_id_number_gives_a_partner_a_request_the_driver_answers(
    infra: Infra, make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    settings = make_settings(RegistrySettings)
    number = national_id(77)
    partner = token("partner", partner_id=BOOKING)
    async with serve(registry_app(settings)) as http:
        known = await http.post("/v1/drivers", json=new_driver(77), headers=token())
        driver_id = known.json()["driver_id"]
        mine = token("driver", driver_id=driver_id)
        claimed = await http.post(
            "/v1/drivers", json={**new_driver(77), "partner_driver_ref": "PB-77"}, headers=partner
        )
        peek = await http.get(f"/v1/drivers/{driver_id}", headers=partner)
        someone_else = await http.post(
            f"/v1/drivers/{driver_id}/partner-links/{BOOKING}",
            headers=token("driver", driver_id=unique_name("drv_")),
        )
        asked = (await http.get(f"/v1/drivers/{driver_id}/partner-links", headers=mine)).json()
        confirmed = await http.post(
            f"/v1/drivers/{driver_id}/partner-links/{BOOKING}", headers=mine
        )
        after = await http.get(f"/v1/drivers/{driver_id}", headers=partner)
        # A one-time code works once, and only for the partner it was given to.
        code = await http.post(
            f"/v1/drivers/{driver_id}/partner-link-codes",
            json={"partner_id": "traffic-safety"},
            headers=mine,
        )
        redeem = {"code": code.json()["code"]}
        wrong = await http.post(
            "/v1/partner-links/redeem",
            json=redeem,
            headers=token("partner", partner_id="volunteer-team"),
        )
        safety = token("partner", partner_id="traffic-safety")
        redeemed = await http.post("/v1/partner-links/redeem", json=redeem, headers=safety)
        again = await http.post("/v1/partner-links/redeem", json=redeem, headers=safety)
        withdrawn = await http.delete(
            f"/v1/drivers/{driver_id}/partner-links/{BOOKING}", headers=mine
        )
        gone = await http.get(f"/v1/drivers/{driver_id}", headers=partner)
        records = await read_topic(
            infra.kafka_bootstrap, settings.topic("registry.events"), min_records=4
        )
    assert claimed.status_code == 202, claimed.text
    assert "driver_id" not in claimed.text and number not in claimed.text
    assert peek.status_code == 404
    assert someone_else.status_code == 404
    assert [r["partner_id"] for r in asked["requests"]] == [BOOKING] and asked["links"] == []
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["basis"] == "consent"
    assert confirmed.json()["partner_driver_ref"] == "PB-77"
    assert after.status_code == 200
    assert wrong.status_code == 404
    assert redeemed.status_code == 200 and redeemed.json()["driver_id"] == driver_id
    assert again.status_code == 404
    assert withdrawn.status_code == 204 and gone.status_code == 404
    announced = [
        (json.loads(r.value or b"")["type"], json.loads(r.value or b"")["data"].get("partner_id"))
        for r in records
    ]
    assert [a for a in announced if a[0].startswith("driver.partner_")] == [
        ("driver.partner_linked.v1", BOOKING),
        ("driver.partner_linked.v1", "traffic-safety"),
        ("driver.partner_unlinked.v1", BOOKING),
    ]


async def test_a_partner_opens_cases_and_reads_accounts_only_of_drivers_linked_to_it(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any, token: Headers
) -> None:
    cases = make_settings(CasesSettings)
    points = make_settings(PointsSettings)
    own, stranger = unique_name("drv_o_"), unique_name("drv_s_")
    partner = token("partner", partner_id=BOOKING, scope="cases:open accounts:read grades:read")

    def complaint(driver_id: str, **more: Any) -> dict[str, Any]:
        return {
            "driver_id": driver_id,
            "kind": "complaint",
            "category": "freight_payment",
            "description": "运费拖欠三个月",
            **more,
        }

    async with serve(cases_app(cases, scan=False)) as c, serve(points_app(points)) as p:
        await announce(
            infra, cases.topic("registry.events"), registered(own, BOOKING), registered(stranger)
        )
        expected = {own: True}
        await wait_until(lambda: links_settled(mongo, cases.mongo_db, expected), timeout=60)
        await wait_until(lambda: links_settled(mongo, points.mongo_db, expected), timeout=60)
        await wait_until(lambda: _account(mongo, points, stranger), timeout=60)
        for_stranger = await c.post("/v1/cases", json=complaint(stranger), headers=partner)
        for_own = await c.post("/v1/cases", json=complaint(own), headers=partner)
        # Whether the respondent may learn who complains is the driver's decision alone.
        against = {"respondent": {"kind": "company", "id": "acme-logistics"}}
        named_by_partner = await c.post(
            "/v1/cases", json=complaint(own, identity_consent=True, **against), headers=partner
        )
        named_by_driver = await c.post(
            "/v1/cases",
            json=complaint(own, identity_consent=True, **against),
            headers=token("driver", driver_id=own),
        )
        stored = await mongo[cases.mongo_db]["cases"].count_documents({"driver_id": own})
        their_account = await p.get(f"/v1/accounts/{stranger}", headers=partner)
        their_grade = await p.get(f"/v1/accounts/{stranger}/grade", headers=partner)
        own_account = await p.get(f"/v1/accounts/{own}", headers=partner)
    assert for_stranger.status_code == 403, for_stranger.text
    assert for_own.status_code == 201, for_own.text
    assert for_own.json()["case"]["channel"] == "partner"
    assert named_by_partner.status_code == 403, named_by_partner.text
    assert named_by_partner.headers["content-type"] == "application/problem+json"
    assert named_by_driver.status_code == 201, named_by_driver.text
    assert named_by_driver.json()["case"]["identity_consent"] is True
    assert stored == 2, "the refused intake stored nothing"
    assert their_account.status_code == 404 and their_grade.status_code == 404
    assert own_account.status_code == 200, own_account.text


async def _account(mongo: Any, settings: PointsSettings, driver_id: str) -> bool:
    return await mongo[settings.mongo_db]["accounts"].find_one({"_id": driver_id}) is not None


RESPONDENT = "acme-logistics"


def _complaint(driver_id: str, **more: Any) -> dict[str, Any]:
    return {
        "driver_id": driver_id,
        "kind": "complaint",
        "category": "freight_payment",
        "description": "运费拖欠三个月",
        "respondent": {"kind": "company", "id": RESPONDENT},
        **more,
    }


async def test_a_respondent_narrows_no_case_list_to_a_driver_or_a_unit(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    """Whichever complaints such a list returned were filed by that driver (or a member of that
    unit): the respondent would learn who complains without the driver's consent."""
    driver = unique_name("drv_")
    respondent = token("partner", partner_id=RESPONDENT, scope="cases:respond")
    dispatcher = token("operator", scope="cases:dispatch", sub="dispatcher-1")
    async with serve(cases_app(make_settings(CasesSettings), scan=False)) as c:
        opened = await c.post(
            "/v1/cases", json=_complaint(driver), headers=token("driver", driver_id=driver)
        )
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["case"]["case_id"]
        filters = [
            {"driver_id": driver},
            {"unit": "grid", "unit_id": "G-harbour"},
            {"unit": "organisation", "unit_id": "O-fleet", "subtree": "true"},
            {"unit_id": "G-harbour"},
        ]
        refused = [await c.get("/v1/cases", params=q, headers=respondent) for q in filters]
        plain = await c.get("/v1/cases", headers=respondent)
        by_operator = await c.get("/v1/cases", params={"driver_id": driver}, headers=dispatcher)
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "respondent may not filter" in answer.json()["detail"]
    assert plain.status_code == 200, plain.text
    assert [(i["case_id"], i["driver_id"]) for i in plain.json()["items"]] == [(case_id, None)]
    assert [i["case_id"] for i in by_operator.json()["items"]] == [case_id]


async def test_a_respondent_sees_no_link_that_ties_an_anonymous_complaint_to_a_named_one(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    """Merged cases are one driver's, and consent is given case by case; a collective may hold
    complaints whose drivers agreed to be named. Neither link reaches the respondent where it
    would tie an anonymous complaint to a named driver."""
    named, other = unique_name("drv_n_"), unique_name("drv_o_")
    respondent = token("partner", partner_id=RESPONDENT, scope="cases:respond")
    dispatcher = token("operator", scope="cases:dispatch", sub="dispatcher-1")

    async def read(c: Any, case_id: str, headers: dict[str, str]) -> dict[str, Any]:
        answer = await c.get(f"/v1/cases/{case_id}", headers=headers)
        assert answer.status_code == 200, answer.text
        seen: dict[str, Any] = answer.json()
        return seen

    async with serve(cases_app(make_settings(CasesSettings), scan=False)) as c:
        ids = []
        for driver, consent in ((named, True), (named, False), (other, False), (other, True)):
            opened = await c.post(
                "/v1/cases",
                json=_complaint(driver, identity_consent=consent),
                headers=token("driver", driver_id=driver),
            )
            assert opened.status_code == 201, opened.text
            ids.append(opened.json()["case"]["case_id"])
        kept, absorbed, anonymous, consenting = ids
        merged = await c.post(
            f"/v1/cases/{absorbed}/transitions/merge",
            json={"target_case_id": kept},
            headers=dispatcher,
        )
        assert merged.status_code == 200, merged.text
        linked = await c.post(
            "/v1/collectives", json={"case_ids": [anonymous, consenting]}, headers=dispatcher
        )
        assert linked.status_code == 200, linked.text
        collective = linked.json()["collective_id"]
        staff = {cid: await read(c, cid, dispatcher) for cid in ids}
        seen = {cid: await read(c, cid, respondent) for cid in ids}
        listed = await c.get("/v1/cases", headers=respondent)
    # The links exist; the dispatcher sees them.
    assert staff[absorbed]["merged_into"] == kept and staff[kept]["absorbed"] == [absorbed]
    assert staff[anonymous]["collective_id"] == collective
    for view in (seen, {i["case_id"]: i for i in listed.json()["items"]}):
        assert view[kept]["driver_id"] == named, "the driver agreed to be named here"
        assert view[kept]["absorbed"] == [] and view[absorbed]["merged_into"] is None
        assert view[absorbed]["driver_id"] is None
        assert view[anonymous]["collective_id"] is None
        assert view[consenting]["collective_id"] == collective


async def test_only_the_driver_and_caseworkers_learn_which_cases_a_driver_has_open(
    infra: Infra, make_settings: Callable[..., Any], mongo: Any, token: Headers
) -> None:
    """Intake's duplicate candidates are the driver's open cases of the category, whichever
    channel opened them: a station (any driver) or a partner (its drivers) opening a case would
    learn in which sensitive categories the driver has cases. The driver's app, the
    dispatchers and supervisors who see every case, and the care broker the driver is named to
    (who sees the driver's cases anyway) get them; everyone else an empty list."""
    cases = make_settings(CasesSettings)
    driver = unique_name("drv_")
    health = {
        "driver_id": driver,
        "kind": "help_request",
        "category": "health",
        "description": "腰椎间盘突出, 需要休息",
    }
    openers = {
        "station": token("station", station_id="ST-any", sub="staff-any"),
        "partner": token("partner", partner_id=BOOKING, scope="cases:open"),
        "care broker": token("operator", scope="cases:care", sub="care-1"),
        "named broker": token("operator", scope="cases:care", sub="care-2"),
        "driver": token("driver", driver_id=driver, sub=f"sub-{driver}"),
        "dispatcher": token("operator", scope="cases:dispatch", sub="dispatcher-1"),
        "supervisor": token("operator", scope="cases:supervise", sub="supervisor-1"),
    }
    async with serve(cases_app(cases, scan=False)) as c:
        await announce(infra, cases.topic("registry.events"), registered(driver, BOOKING))
        await wait_until(lambda: links_settled(mongo, cases.mongo_db, {driver: True}), timeout=60)
        first = await c.post("/v1/cases", json=health, headers=openers["driver"])
        assert first.status_code == 201, first.text
        named = await c.put(
            f"/v1/dossiers/{driver}/broker",
            json={"broker_id": "care-2"},
            headers=openers["supervisor"],
        )
        assert named.status_code == 200, named.text
        answers = {
            who: await c.post("/v1/cases", json=health, headers=h) for who, h in openers.items()
        }
        stored = await mongo[cases.mongo_db]["cases"].count_documents({"driver_id": driver})
    first_id = first.json()["case"]["case_id"]
    for who, answer in answers.items():
        assert answer.status_code == 201, (who, answer.text)
    told = {who: answer.json()["duplicate_candidates"] for who, answer in answers.items()}
    hidden = {who: told[who] for who in ("station", "partner", "care broker")}
    assert hidden == {"station": [], "partner": [], "care broker": []}
    shown = ("driver", "dispatcher", "supervisor", "named broker")
    assert all(first_id in told[who] for who in shown), told
    assert stored == 1 + len(openers), "every opener's case was filed all the same"
