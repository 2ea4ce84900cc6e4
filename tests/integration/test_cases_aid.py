"""Aid applications (cases service) over HTTP and events on the real store and broker: the
kinds' eligibility rules with the credit grade followed from points, two different reviewers,
the granted amount, the applicant's history, events without household facts, and erasure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from cases.settings import CasesSettings
from common.events import CloudEvent, new_event
from common.events.points import GradeChanged
from common.events.registry import DriverDeactivated
from common.testing import unique_name, wait_until
from notify.app import create_app as notify_app
from notify.settings import NotifySettings
from tests.integration.stations_harness import read_whole_topic
from tests.integration.test_cases_loop import Clock, Headers, running
from tests.support import produce, serve

FINDINGS = "Roof leaks, the son needs school fees"
STATEMENT = "My wife is in hospital in Beilun since March"
DIGEST = "sha256:" + "ab" * 32


def doc(kind: str, name: str = "scan.pdf") -> dict[str, Any]:
    return {"name": name, "type": kind, "size": 120_000, "digest": DIGEST}


def living(driver: str, **extra: Any) -> dict[str, Any]:
    body = {
        "driver_id": driver,
        "kind": "living",
        "household": {"members": 3, "monthly_income_yuan": 3600},
        "documents": [doc("income_statement", "wage-slip-li.pdf"), doc("household_register")],
        "statement": STATEMENT,
    }
    return body | extra


async def aid_events(settings: CasesSettings, driver: str) -> list[CloudEvent]:
    raw = await read_whole_topic(settings.kafka_bootstrap, settings.topic("cases.events"))
    events = [CloudEvent.model_validate_json(v) for v in raw]
    # At least once: the relay may publish an event twice; its id is the same.
    return list(
        {e.id: e for e in events if e.type.startswith("aid.") and e.subject == driver}.values()
    )


async def review(
    client: httpx.AsyncClient, headers: dict[str, str], app_id: str, **body: Any
) -> httpx.Response:
    return await client.post(f"/v1/aid/applications/{app_id}/review", json=body, headers=headers)


async def test_aid_is_checked_reviewed_by_two_people_granted_told_and_forgotten(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    settings: CasesSettings = make_settings(CasesSettings)
    notify_settings: NotifySettings = make_settings(NotifySettings, dispatch_interval_seconds=0.1)
    clock = Clock(datetime.now(UTC))
    driver, other = unique_name("drv_aid"), unique_name("drv_oth")
    as_driver = token("driver", driver_id=driver, sub=f"sub-{driver}")
    as_other = token("driver", driver_id=other, sub=f"sub-{other}")
    care1 = token("operator", roles=["case_care"], sub="care-1")
    care2 = token("operator", roles=["case_care"], sub="care-2")
    no_aid = token("operator", roles=["mutual_help", "case_handler"], sub="helper-1")
    async with (
        running(settings, clock) as (_, client),
        serve(notify_app(notify_settings)) as notify,
    ):
        kinds = (await client.get("/v1/aid/kinds", headers=as_driver)).json()
        assert {k["kind"] for k in kinds} == {"living", "study", "serious_illness", "elderly_care"}

        # Eligibility: every failed rule is named; nothing is stored.
        poor = living(driver, documents=[], household={"members": 1, "monthly_income_yuan": 9000})
        answer = await client.post("/v1/aid/applications", json=poor, headers=as_driver)
        assert answer.status_code == 422, answer.text
        for reason in ("income per member", "income_statement", "household_register"):
            assert reason in answer.text
        study = living(
            driver,
            kind="study",
            household={"members": 4, "monthly_income_yuan": 6000, "children_in_school": 1},
            documents=[doc("enrolment_certificate"), doc("income_statement")],
        )
        answer = await client.post("/v1/aid/applications", json=study, headers=as_driver)
        assert answer.status_code == 422 and "grade A below AA" in answer.text, answer.text

        # The grade follows points.grade_changed.v1: at AA the study aid is open to the driver.
        grade = new_event(
            GradeChanged(
                driver_id=driver,
                old_grade="A",
                new_grade="AA",
                earned_last_12_months=900,
                reasons=["earned 900"],
                changed_at=clock.now,
            ),
            source="driverhome/points",
            subject=driver,
        )
        topic = settings.topic("points.events")
        await produce(settings.kafka_bootstrap, topic, grade.to_bytes(), key=driver.encode())
        grades = mongo[settings.mongo_db]["aid_grades"]
        await wait_until(lambda: grades.find_one({"_id": driver, "grade": "AA"}))
        answer = await client.post("/v1/aid/applications", json=study, headers=as_driver)
        assert answer.status_code == 201, answer.text
        study_id = answer.json()["application_id"]

        # Who applies: the driver, or care staff for them; never another driver.
        refused = await client.post("/v1/aid/applications", json=living(driver), headers=as_other)
        assert refused.status_code == 403, refused.text
        answer = await client.post("/v1/aid/applications", json=living(driver), headers=care1)
        assert answer.status_code == 201 and answer.json()["on_behalf"] is True, answer.text
        living_id = answer.json()["application_id"]
        again = await client.post("/v1/aid/applications", json=living(driver), headers=as_driver)
        assert again.status_code == 409, again.text

        # Two different reviewers; only aid:review reviews; the amount within the kind's limit.
        assert (await review(client, no_aid, study_id, decision="approve")).status_code == 403
        first = await review(client, care1, study_id, decision="approve", amount_yuan=3000)
        assert first.status_code == 200 and first.json()["status"] == "first_approved", first.text
        same = await review(client, care1, study_id, decision="approve")
        assert same.status_code == 403 and "another person" in same.text, same.text
        too_much = await review(client, care2, study_id, decision="approve", amount_yuan=9000)
        assert too_much.status_code == 422, too_much.text
        granted = await review(client, care2, study_id, decision="approve", amount_yuan=2500)
        assert granted.status_code == 200, granted.text
        assert granted.json()["status"] == "granted" and granted.json()["amount_yuan"] == 2500
        late = await review(client, care1, study_id, decision="reject")
        assert late.status_code == 409, late.text
        rejected = await review(client, care2, living_id, decision="reject", note="income too high")
        assert rejected.json()["status"] == "rejected", rejected.text

        # The history: the driver's own (reviewers unnamed), staff's (named), nobody else's.
        path = f"/v1/aid/drivers/{driver}/applications"
        mine = (await client.get(path, headers=as_driver)).json()
        assert {(a["kind"], a["status"]) for a in mine} == {
            ("study", "granted"),
            ("living", "rejected"),
        }
        assert all("by" not in r for a in mine for r in a["reviews"])
        assert [r["note"] for a in mine for r in a["reviews"] if a["kind"] == "living"] == [
            "income too high"
        ]
        staff = (await client.get(path, headers=care1)).json()
        assert {r["by"] for a in staff for r in a["reviews"]} == {"care-1", "care-2"}
        assert (await client.get(path, headers=as_other)).status_code == 403
        hidden = await client.get(f"/v1/aid/applications/{study_id}", headers=as_other)
        assert hidden.status_code == 404 and STATEMENT not in hidden.text
        queue = (await client.get("/v1/aid/applications?status=granted", headers=care2)).json()
        assert study_id in [a["application_id"] for a in queue]

        campaign_id = await festival_campaign(client, token, (driver, other), care1)
        visit = {
            "driver_id": driver,
            "visited_on": clock.now.date().isoformat(),
            "visitors": ["霞浦街道 care-1"],
            "findings": FINDINGS,
            "follow_up": "aid",
        }
        refused = await client.post("/v1/aid/visits", json=visit, headers=as_driver)
        assert refused.status_code == 403, refused.text
        answer = await client.post("/v1/aid/visits", json=visit, headers=care1)
        assert answer.status_code == 201, answer.text
        visits = (await client.get(f"/v1/aid/drivers/{driver}/visits", headers=care2)).json()
        assert [v["findings"] for v in visits] == [FINDINGS]

        # One event per step, about the driver, without household facts, documents or notes.
        events = await wait_until(
            lambda: _when(aid_events(settings, driver), lambda found: len(found) == 8)
        )
        gifts = sorted(e.type for e in events if e.data.get("campaign_id") == campaign_id)
        assert gifts == ["aid.gift_allotted.v1", "aid.gift_delivered.v1"]
        [visited] = [e for e in events if e.type == "aid.hardship_visited.v1"]
        assert visited.data["follow_up"] == "aid" and FINDINGS not in visited.model_dump_json()
        events = [e for e in events if "application_id" in e.data]
        by_app = {(e.data["application_id"], e.type) for e in events}
        assert by_app == {
            (study_id, "aid.applied.v1"),
            (study_id, "aid.first_approved.v1"),
            (study_id, "aid.granted.v1"),
            (living_id, "aid.applied.v1"),
            (living_id, "aid.rejected.v1"),
        }
        [grant] = [e for e in events if e.type == "aid.granted.v1"]
        assert grant.data["amount_yuan"] == 2500 and grant.data["kind"] == "study"
        for event in events:
            raw = event.model_dump_json()
            for secret in (STATEMENT, "wage-slip-li", "income too high", "3600"):
                assert secret not in raw

        # Notify tells the driver: received (twice), granted with the amount, rejected, the gift.
        async def inbox() -> list[str] | None:
            answer = await notify.get(f"/v1/drivers/{driver}/inbox", headers=as_driver)
            bodies = [i["body"] for i in answer.json()["items"] if i["category"] == "case"]
            return bodies if len(bodies) >= 5 else None

        bodies = " ".join(await wait_until(inbox))
        assert study_id in bodies and "2500" in bodies and living_id in bodies
        assert "棉大衣" in bodies and "st-aid-1" in bodies and STATEMENT not in bodies

        # Erasure: the applications stay (kind, status, amount) under a pseudonym, without
        # the household, documents, statement or notes; the followed grade goes.
        erased = new_event(
            DriverDeactivated(
                driver_id=driver, deactivated_at=clock.now, reason="erasure", erased=True
            ),
            source="driverhome/registry",
            subject=driver,
        )
        await produce(
            settings.kafka_bootstrap,
            settings.topic("registry.events"),
            erased.to_bytes(),
            key=driver.encode(),
        )
        db = mongo[settings.mongo_db]
        apps, gifts, visits_kept = db["aid_applications"], db["aid_deliveries"], db["aid_visits"]

        async def forgotten() -> bool:
            # Every step of the one erasure: applications, grade, gifts, visits.
            left = [
                await apps.count_documents({"driver_id": driver}),
                await grades.count_documents({"_id": driver}),
                await gifts.count_documents({"driver_id": driver}),
                await visits_kept.count_documents({"driver_id": driver}),
                await visits_kept.count_documents({"findings": FINDINGS}),
            ]
            return not any(left)

        await wait_until(forgotten)
        kept = await apps.find_one({"_id": study_id}, {"outbox": 0})
        assert kept["amount_yuan"] == 2500 and kept["status"] == "granted"
        assert kept["household"] == {} and kept["documents"] == [] and kept["statement"] == ""
        assert driver not in str(kept) and STATEMENT not in str(kept)
        kept_gift = await gifts.find_one({"campaign_id": campaign_id, "status": "delivered"})
        assert kept_gift["driver_id"] != driver and driver not in str(kept_gift)
        assert await visits_kept.count_documents({"follow_up": "aid", "visitors": []}) >= 1


async def festival_campaign(
    client: httpx.AsyncClient, token: Headers, drivers: tuple[str, str], care: dict[str, str]
) -> str:
    """冬送温暖 to two drivers, collected at one station, which alone confirms, once."""
    driver, other = drivers
    as_driver = token("driver", driver_id=driver, sub=f"sub-{driver}")
    station = token("station", station_id="st-aid-1", sub="station-aid-1")
    elsewhere = token("station", station_id="st-aid-2", sub="station-aid-2")
    body = {
        "season": "winter_warmth",
        "title": "冬送温暖",
        "gift": "棉大衣",
        "station_id": "st-aid-1",
        "collect_by": "2099-01-31T17:00:00+08:00",
        "driver_ids": [driver, other],
    }
    refused = await client.post("/v1/aid/campaigns", json=body, headers=as_driver)
    assert refused.status_code == 403, refused.text
    answer = await client.post("/v1/aid/campaigns", json=body, headers=care)
    assert answer.status_code == 201 and answer.json()["recipients"] == 2, answer.text
    campaign_id: str = answer.json()["campaign_id"]
    [mine] = (await client.get("/v1/aid/campaigns/mine", headers=as_driver)).json()
    assert mine["gift"] == "棉大衣" and mine["status"] == "allotted"

    path = f"/v1/aid/campaigns/{campaign_id}/deliveries/{driver}/confirm"
    assert (await client.post(path, headers=elsewhere)).status_code == 403
    assert (await client.post(path, headers=as_driver)).status_code == 403
    done = await client.post(path, headers=station)
    assert done.status_code == 200 and done.json()["status"] == "delivered", done.text
    assert (await client.post(path, headers=station)).status_code == 409
    stranger = f"/v1/aid/campaigns/{campaign_id}/deliveries/nobody/confirm"
    assert (await client.post(stranger, headers=station)).status_code == 409
    seen = (await client.get(f"/v1/aid/campaigns/{campaign_id}", headers=care)).json()
    assert {d["driver_id"]: d["status"] for d in seen["deliveries"]} == {
        driver: "delivered",
        other: "allotted",
    }
    return campaign_id


async def _when(found: Any, check: Callable[[Any], bool]) -> Any:
    value = await found
    return value if value is not None and check(value) else None


async def test_a_campaign_with_ids_or_amounts_no_gift_event_can_carry_is_refused_up_front(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    """An empty driver id (an event's subject must not be empty) used to escape as an error
    while the gift events were built; such bodies are now a 422 problem, valid ones launch."""
    care = token("operator", roles=["case_care"], sub="care-1")
    longest = unique_name("drv_long").ljust(64, "x")
    body = {
        "season": "spring_jobs",
        "title": "春送岗位",
        "gift": "招聘会入场券",
        "station_id": "st-aid-1",
        "collect_by": "2099-03-31T17:00:00+08:00",
        "driver_ids": [longest],
    }
    bad = [
        {"driver_ids": [""]},
        {"driver_ids": [longest + "x"]},
        {"amount_yuan": 2**63},
        {"unit": "grid", "unit_id": ""},
    ]
    async with running(make_settings(CasesSettings), Clock(datetime.now(UTC))) as (_, client):
        for change in bad:
            answer = await client.post("/v1/aid/campaigns", json=body | change, headers=care)
            assert answer.status_code == 422, (change, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
        answer = await client.post(
            "/v1/aid/campaigns", json=body | {"amount_yuan": 1_000_000}, headers=care
        )
        assert answer.status_code == 201, answer.text
        seen = await client.get(f"/v1/aid/campaigns/{answer.json()['campaign_id']}", headers=care)
        assert [d["driver_id"] for d in seen.json()["deliveries"]] == [longest]


async def test_staff_who_applied_for_a_driver_review_neither_stage_of_that_application(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    """Four eyes: the staff member who put the driver's facts forward is the maker; both
    reviews are other people's, or one person would apply and grant alone."""
    settings: CasesSettings = make_settings(CasesSettings)
    driver = unique_name("drv_aid")
    applicant, first_reviewer, second_reviewer = (
        token("operator", roles=["case_care"], sub=f"care-{n}") for n in ("app", "1st", "2nd")
    )
    async with running(settings, Clock(datetime.now(UTC))) as (_, client):
        answer = await client.post("/v1/aid/applications", json=living(driver), headers=applicant)
        assert answer.status_code == 201 and answer.json()["on_behalf"] is True, answer.text
        app_id = answer.json()["application_id"]

        own_first = await review(client, applicant, app_id, decision="approve", amount_yuan=800)
        first = await review(client, first_reviewer, app_id, decision="approve", amount_yuan=800)
        own_second = await review(client, applicant, app_id, decision="approve")
        pending = await client.get(f"/v1/aid/applications/{app_id}", headers=second_reviewer)
        granted = await review(client, second_reviewer, app_id, decision="approve")

    for refused in (own_first, own_second):
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "applied for the driver" in refused.json()["detail"]
    assert first.status_code == 200 and first.json()["status"] == "first_approved", first.text
    assert pending.json()["status"] == "first_approved", "a refused review changed nothing"
    assert [r["stage"] for r in pending.json()["reviews"]] == ["first"]
    assert granted.status_code == 200, granted.text
    assert granted.json()["status"] == "granted" and granted.json()["amount_yuan"] == 800
    assert [r["by"] for r in granted.json()["reviews"]] == ["care-1st", "care-2nd"]


async def test_a_driver_and_care_staff_applying_at_once_open_one_application(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    """Both pass the check for an open application of the kind at the same moment; the store
    keeps one (two open could both be granted), and once decided the driver may apply again."""
    settings: CasesSettings = make_settings(CasesSettings)
    driver = unique_name("drv_aid")
    as_driver = token("driver", driver_id=driver, sub=f"sub-{driver}")
    care = [token("operator", roles=["case_care"], sub=f"care-{n}") for n in (1, 2)]
    # Reviews by staff who applied in none of the rounds: an applicant never reviews.
    reviewer = token("operator", roles=["case_care"], sub="care-3")
    async with running(settings, Clock(datetime.now(UTC))) as (_, client):
        for _round in range(3):
            answers = await asyncio.gather(
                *(
                    client.post("/v1/aid/applications", json=living(driver), headers=who)
                    for who in (as_driver, care[0], care[1], as_driver)
                )
            )
            assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [
                a.text for a in answers
            ]
            [opened] = [a.json()["application_id"] for a in answers if a.status_code == 201]
            refused = await review(client, reviewer, opened, decision="reject", note="材料不全")
            assert refused.status_code == 200, refused.text
    applications = mongo[settings.mongo_db]["aid_applications"]
    assert await applications.count_documents({"driver_id": driver}) == 3
