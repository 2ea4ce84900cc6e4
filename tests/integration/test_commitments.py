"""三亮三比 public commitments (cases; docs/commitments.md) over HTTP and the real broker: the
registry's branches, memberships and secretaries reach cases through registry.events; a member
publishes their own commitment and their branch's secretary one for another member (nobody
else may), both appear on the public list without ids or notes, notes are kept, the driver's
self-assessment and the branch's evaluation come in the period's last month, the evaluation
nominates for an honour, the events carry no texts, and erasure forgets the driver's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cases.settings import CasesSettings
from common.events import CloudEvent, EventData, new_event
from common.events.registry import (
    DriverDeactivated,
    DriverUpdated,
    OrganisationPlaced,
    PersonAppointed,
)
from common.testing import synthetic_phone, unique_name, wait_until
from tests.integration.stations_harness import read_whole_topic
from tests.integration.test_cases_loop import Clock, Headers, running
from tests.support import produce

PERIOD = "2026-11"
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _pledges(**extra: str) -> dict[str, str]:
    return {
        "identity": "共产党员,集卡司机",
        "standard": "车辆整洁、文明行车、按时到港",
        "promise": "本月义务帮扶新司机两次,零违章",
    } | extra


async def test_a_member_and_their_secretary_publish_compare_and_the_branch_nominates(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    settings: CasesSettings = make_settings(CasesSettings)
    branch, other_branch, union = (unique_name(p) for p in ("org_pb", "org_pb2", "org_un"))
    member, mate = unique_name("drv_m"), unique_name("drv_n")
    person, other_person = unique_name("psn_"), unique_name("psn_")
    me = token("driver", driver_id=member, sub=f"sub-{member}")
    mate_token = token("driver", driver_id=mate, sub=f"sub-{mate}")
    secretary = token("operator", roles=["branch_secretary"], person_id=person, sub="sec-a")
    stranger = token("operator", roles=["branch_secretary"], person_id=other_person, sub="sec-b")
    clerk = token("operator", roles=["registry_clerk"], sub="clerk")
    async with running(settings, Clock(NOW)) as (app, client):
        await _district(settings, mongo, (branch, other_branch, union), (member, mate))
        for org, who in ((branch, person), (other_branch, other_person)):
            await _emit(
                settings,
                PersonAppointed(
                    organisation_id=org, person_id=who, role="secretary", appointed_at=NOW
                ),
                org,
            )
        db = app.state.runtime.db

        async def secretaries_known() -> bool:
            query = {"person_id": {"$in": [person, other_person]}, "held": True}
            return await db["party_roles"].count_documents(query) == 2

        await wait_until(secretaries_known)

        def publish(headers: dict[str, str], **body: Any) -> Any:
            payload = {"organisation_id": branch, "period": PERIOD, "display_name": "王师傅"}
            return client.post("/v1/commitments", json=payload | _pledges() | body, headers=headers)

        assert (
            await publish(me, promise=f"有事打 {synthetic_phone()}")
        ).status_code == 422  # a number
        phone = synthetic_phone()
        spaced = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
        assert (await publish(me, promise=f"有事打{spaced}")).status_code == 422  # as written
        assert (await publish(me, organisation_id=union)).status_code == 422  # not a party org
        assert (await publish(me, driver_id=mate)).status_code == 404  # not for another driver
        assert (await publish(stranger, driver_id=mate)).status_code == 403  # not their branch
        assert (await publish(clerk, driver_id=mate)).status_code == 403  # no party scope
        mine = await publish(me)
        assert mine.status_code == 201, mine.text
        own = mine.json()
        assert own["published_by"] == "driver" and own["state"] == "published"
        assert (await publish(me)).status_code == 409  # one per organisation and period
        theirs = await publish(secretary, driver_id=mate, display_name="李师傅", period="2026")
        assert theirs.status_code == 201, theirs.text
        mates = theirs.json()
        assert mates["published_by"] == "organisation"

        path, mate_path = (
            f"/v1/commitments/{own['commitment_id']}",
            f"/v1/commitments/{mates['commitment_id']}",
        )
        revised = await client.put(
            f"{mate_path}/pledges", json=_pledges(promise="带徒一名"), headers=mate_token
        )
        assert revised.status_code == 200 and revised.json()["pledges"]["promise"] == "带徒一名"
        assert (
            await client.put(f"{mate_path}/pledges", json=_pledges(), headers=me)
        ).status_code == 404
        assert (await client.get(mate_path, headers=me)).status_code == 404
        for headers, text in ((me, "11月5日帮扶新司机小张熟悉港区"), (secretary, "支部核实属实")):
            noted = await client.post(f"{path}/notes", json={"text": text}, headers=headers)
            assert noted.status_code == 201, noted.text
        assert [n["by"] for n in noted.json()["notes"]] == ["driver", "organisation"]

        public = await client.get(
            "/v1/commitments",
            params={"organisation_id": branch, "period": PERIOD},
            headers=token("station", station_id="BL-XP-000"),
        )
        assert public.status_code == 200, public.text
        [listed] = public.json()
        assert listed["display_name"] == "王师傅" and listed["pledges"] == own["pledges"]
        assert member not in public.text and "帮扶新司机小张" not in public.text
        assert own["commitment_id"] not in public.text and "commitment_id" not in listed

        scores = {"service": 5, "skill": 4, "practice": 5}
        assessed = await client.post(
            f"{path}/self-assessment", json={"scores": scores, "text": "基本做到"}, headers=me
        )
        assert assessed.status_code == 201, assessed.text
        assert (
            await client.post(
                f"{path}/self-assessment", json={"scores": scores, "text": "x"}, headers=secretary
            )
        ).status_code == 403  # the driver's own
        early = await client.post(
            f"{mate_path}/self-assessment", json={"scores": scores, "text": "x"}, headers=mate_token
        )
        assert early.status_code == 409  # a year's comparison comes in December

        evaluation = {"scores": scores, "grade": "excellent", "nominate": "monthly_star"}
        for headers in (stranger, me):
            refused = await client.post(f"{path}/evaluation", json=evaluation, headers=headers)
            assert refused.status_code == 403
        evaluated = await client.post(f"{path}/evaluation", json=evaluation, headers=secretary)
        assert evaluated.status_code == 201, evaluated.text
        assert evaluated.json()["evaluation"]["nominated_for"] == "monthly_star"
        again = await client.post(f"{path}/evaluation", json=evaluation, headers=secretary)
        assert again.status_code == 409
        assert (await client.put(f"{path}/pledges", json=_pledges(), headers=me)).status_code == 409

        nominations = await client.get(
            "/v1/honours/nominations",
            params={"category": "monthly_star", "period": PERIOD},
            headers=token("operator", roles=["honours_panel"], sub="panel-1"),
        )
        [nominated] = [n for n in nominations.json() if n["driver_id"] == member]
        assert nominated["nominators"][0]["kind"] == "organisation"
        assert nominated["nominators"][0]["id"] == branch

        async def announced() -> list[CloudEvent] | None:
            raw = await read_whole_topic(settings.kafka_bootstrap, settings.topic("cases.events"))
            found = [CloudEvent.model_validate_json(v) for v in raw]
            kept = [e for e in found if e.type.startswith("commitment.")]
            return kept if len(kept) == 4 else None

        events = await wait_until(announced)
        assert sorted(e.type for e in events) == [
            "commitment.evaluated.v1",
            "commitment.published.v1",
            "commitment.published.v1",
            "commitment.self_assessed.v1",
        ]
        assert not any(
            "帮扶" in e.model_dump_json() or "王师傅" in e.model_dump_json() for e in events
        )  # ids, scores and the grade only

        erased = DriverDeactivated(
            driver_id=member, deactivated_at=NOW, reason="erasure", erased=True
        )
        await _emit(settings, erased, member)

        async def forgotten() -> bool:
            return await db["commitments"].count_documents({"driver_id": member}) == 0

        await wait_until(forgotten)
        assert await db["commitments"].count_documents({"driver_id": mate}) == 1


async def _emit(settings: CasesSettings, data: EventData, subject: str) -> None:
    event = new_event(data, source="driverhome/registry", subject=subject)
    await produce(
        settings.kafka_bootstrap,
        settings.topic("registry.events"),
        event.to_bytes(),
        key=subject.encode(),
    )


async def _district(
    settings: CasesSettings, mongo: Any, orgs: tuple[str, str, str], drivers: tuple[str, str]
) -> None:
    """Two party branches and a union; both drivers members of the first branch (and the
    union, for the first), as the registry announces them."""
    branch, other_branch, union = orgs
    for org, kind in (
        (branch, "party_branch"),
        (other_branch, "party_branch"),
        (union, "trade_union"),
    ):
        await _emit(
            settings, OrganisationPlaced(organisation_id=org, kind=kind, placed_at=NOW), org
        )
    for driver_id, member_of in ((drivers[0], [branch, union]), (drivers[1], [branch])):
        joined = DriverUpdated(
            driver_id=driver_id,
            changed_fields=["memberships"],
            updated_at=NOW,
            organisation_ids=member_of,
        )
        await _emit(settings, joined, driver_id)
    db = mongo[settings.mongo_db]

    async def known() -> bool:
        members = await db["driver_units"].count_documents({"organisations": branch})
        placed = await db["unit_tree"].count_documents({"unit_id": {"$in": list(orgs)}})
        return members == 2 and placed == 3

    await wait_until(known)
