"""Party-member life (issue 17; docs/party-life.md) over HTTP and the real broker: the registry's
branch, secretary, members and party_life consent reach cases through registry.events; the party
platform's joins, leaves and learning time arrive on its partner topic; cases counts minutes,
keeps member points in a ledger of its own, lets each secretary read only their branch, and
forgets it all with the driver. One registry, one cases and one notify serve the module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
from fastapi import FastAPI

from cases.app import create_app as cases_app
from cases.settings import CasesSettings
from common.auth import issue_token
from common.events import CloudEvent, new_event
from common.events.partner import PartyLearningRecorded, PartyMeetingAttendance, VolunteerLogged
from common.settings import ServiceSettings
from common.testing import (
    Infra,
    dead_letters,
    drop_run,
    grant_run,
    headers_of,
    read_topic,
    revoke_run,
    unexpected_dead_letters,
    unique_name,
    wait_until,
)
from notify.app import create_app as notify_app
from notify.settings import NotifySettings
from registry.app import create_app as registry_app
from registry.settings import RegistrySettings
from tests.integration.test_registry_rules import driver
from tests.support import approved, produce, serve, settings_builder

Json = dict[str, Any]
PLATFORM = "partner/party-platform"
OUT_OF_RANGE = "event_time_out_of_range"


def auth(role: str = "operator", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(ServiceSettings(), role=role, **claims)}"}


def secretary(person_id: str) -> dict[str, str]:
    return auth(roles=["branch_secretary"], person_id=person_id)


@dataclass
class Party:
    infra: Infra
    registry: httpx.AsyncClient
    cases: httpx.AsyncClient
    notify: httpx.AsyncClient
    cases_app: FastAPI
    settings: CasesSettings

    async def post(self, path: str, body: Json) -> Json:
        answer = await self.registry.post(path, json=body, headers=auth())
        assert answer.status_code == 201, answer.text
        created: Json = answer.json()
        return created

    async def send(self, data: Any, driver_id: str, *, event_id: str | None = None) -> CloudEvent:
        event = new_event(data, source=PLATFORM, subject=driver_id, event_id=event_id)
        await self.resend(event)
        return event

    async def resend(self, event: CloudEvent) -> None:
        topic = self.settings.topic("partner.party-platform.events")
        key = event.subject.encode()
        await produce(self.infra.kafka_bootstrap, topic, event.to_bytes(), key=key)

    def db(self) -> Any:
        return self.cases_app.state.runtime.db

    async def cases_events(self, kind: str, min_records: int = 1) -> list[CloudEvent]:
        records = await read_topic(
            self.infra.kafka_bootstrap, self.settings.topic("cases.events"), min_records=1
        )
        found = [CloudEvent.model_validate_json(r.value) for r in records]
        return [e for e in found if e.type == kind]


@pytest.fixture(scope="module")
async def p(infra: Infra) -> AsyncIterator[Party]:
    run = unique_name("t")
    grants = await grant_run(infra, run)

    settings = settings_builder(infra, run)

    cases_settings = settings(CasesSettings)
    app = cases_app(cases_settings, scan=False)
    try:
        async with (
            serve(registry_app(settings(RegistrySettings))) as registry,
            serve(app) as cases,
            serve(notify_app(settings(NotifySettings))) as notify,
        ):
            yield Party(infra, registry, cases, notify, app, cases_settings)
    finally:
        try:
            report = unexpected_dead_letters(
                await dead_letters(infra.kafka_bootstrap, f"{run}."),
                ("unknown_meeting", OUT_OF_RANGE),
            )
        finally:
            await drop_run(infra, run)
            await revoke_run(infra, grants)
    assert not report, report


@dataclass
class Branch:
    branch_id: str
    other_id: str
    secretary: str
    other_secretary: str
    member: str  # consents
    silent: str  # a member without the consent
    outsider: str  # consents, in no branch


async def _branch(p: Party, serial: int) -> Branch:
    """A driver branch (地缘型) and another, each with a social-worker secretary (000:43)."""
    community = (
        await p.post(
            "/v1/organisations",
            {"name": "霞浦物流工业社区党委", "kind": "community_party_organisation"},
        )
    )["organisation_id"]
    ids = []
    for name in ("集卡司机之家党支部", "龙星物流党支部"):
        body = {"name": name, "kind": "party_branch", "parent_id": community}
        ids.append(
            (await p.post("/v1/organisations", body | {"branch_type": "geographic"}))[
                "organisation_id"
            ]
        )
    people = []
    for branch_id, name in zip(ids, ("徐丹丹", "钟波"), strict=True):
        person = (await p.post("/v1/people", {"name": name, "kind": "social_worker"}))["person_id"]
        put = await p.registry.put(
            f"/v1/organisations/{branch_id}/people/{person}",
            json={"role": "secretary"},
            headers=auth(),
        )
        assert put.status_code == 201, put.text
        people.append(person)
    drivers = [(await p.post("/v1/drivers", driver(serial + i)))["driver_id"] for i in range(3)]
    member, silent, outsider = drivers
    for driver_id in (member, silent):
        joined = await p.registry.post(
            f"/v1/organisations/{ids[0]}/members", json={"driver_id": driver_id}, headers=auth()
        )
        assert joined.status_code == 201, joined.text
    for driver_id in (member, outsider):
        consent = await p.registry.put(
            f"/v1/drivers/{driver_id}/consents/party_life",
            json={"granted": True, "channel": "app"},
            headers=auth("driver", driver_id=driver_id),
        )
        assert consent.status_code == 200, consent.text
    db = p.db()

    async def followed() -> bool:
        roles = await db["party_roles"].count_documents({"person_id": {"$in": people}})
        consenting = {"_id": {"$in": [member, outsider]}, "consent": True}
        consents = await db["party_members"].count_documents(consenting)
        known = await db["driver_units"].count_documents({"organisations": ids[0]})
        placed = {"unit_id": {"$in": ids}, "org_kind": "party_branch"}
        kinds = await db["unit_tree"].count_documents(placed)
        return roles == 2 and consents == 2 and known == 2 and kinds == 2

    await wait_until(followed)
    return Branch(ids[0], ids[1], people[0], people[1], member, silent, outsider)


async def test_a_branch_meeting_counts_consenting_members_minutes_and_earns_member_points(
    p: Party,
) -> None:
    b = await _branch(p, 7301)
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(minutes=60), now - timedelta(minutes=1)
    body = {
        "branch_id": b.branch_id,
        "kind": "party_day",
        "title": "28日党员活动日",
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "join_ref": "meet-2026-28",
    }
    # Who may schedule: the branch's own secretary, not another branch's, not a clerk or driver.
    refusals = [
        await p.cases.post("/v1/party/meetings", json=body, headers=h)
        for h in (
            secretary(b.other_secretary),
            auth(roles=["registry_clerk"]),
            auth("driver", driver_id=b.member),
        )
    ]
    assert [r.status_code for r in refusals] == [403, 403, 403], [r.text for r in refusals]
    assert refusals[1].json()["missing_scope"] == "party:branch"
    made = await p.cases.post("/v1/party/meetings", json=body, headers=secretary(b.secretary))
    assert made.status_code == 201, made.text
    meeting = made.json()
    assert meeting["invited"] == 1  # the consenting member only
    meeting_id = meeting["id"]

    def mark(action: Literal["joined", "left"], minute: int) -> PartyMeetingAttendance:
        at = start + timedelta(minutes=minute)
        return PartyMeetingAttendance(meeting_id=meeting_id, action=action, at=at)

    # Out of order (a leave before its join), a duplicate join, and a redelivered event.
    await p.send(mark("left", 20), b.member)
    await p.send(mark("joined", 0), b.member)
    again = await p.send(mark("joined", 30), b.member)
    await p.send(mark("joined", 31), b.member)
    await p.resend(again)
    await p.send(mark("left", 50), b.member)
    await p.send(mark("joined", 0), b.silent)  # no consent: not kept
    await p.send(mark("joined", 0), b.outsider)  # not of this branch: not kept
    unknown = PartyMeetingAttendance(meeting_id="PM-nope", action="joined", at=start)
    await p.send(unknown, b.member)  # dead-lettered: unknown_meeting

    async def minutes() -> list[Json] | None:
        answer = await p.cases.get(
            f"/v1/party/meetings/{meeting_id}", headers=secretary(b.secretary)
        )
        assert answer.status_code == 200, answer.text
        rows: list[Json] = answer.json()["attendance"]
        return rows if rows and rows[0]["minutes"] == 40 else None

    rows = await wait_until(minutes)
    assert [r["driver_id"] for r in rows] == [b.member]
    assert await p.db()["party_attendance"].count_documents({}) == 1

    held = await p.cases.post(
        f"/v1/party/meetings/{meeting_id}/held", headers=secretary(b.secretary)
    )
    assert held.status_code == 200 and held.json()["attended"] == 1, held.text
    twice = await p.cases.post(
        f"/v1/party/meetings/{meeting_id}/held", headers=secretary(b.secretary)
    )
    assert twice.status_code == 409

    # Learning time (掌上课堂): 45 minutes earns, 10 minutes is under the rule's minimum.
    for minutes_learnt in (45, 10):
        learnt = PartyLearningRecorded(
            course_ref="zhangshang-ketang-12", minutes=minutes_learnt, learned_at=now
        )
        await p.send(learnt, b.member)
    learnt_silently = PartyLearningRecorded(course_ref="c", minutes=60, learned_at=now)
    await p.send(learnt_silently, b.silent)

    year = f"{start:%Y}"

    async def statement() -> Json | None:
        answer = await p.cases.get(
            f"/v1/party/members/{b.member}/statement",
            params={"year": year},
            headers=auth("driver", driver_id=b.member),
        )
        assert answer.status_code == 200, answer.text
        doc: Json = answer.json()
        return doc if doc["learning_minutes"] == 55 and len(doc["entries"]) == 2 else None

    mine = await wait_until(statement)
    assert (mine["points"], mine["meetings"]) == (5 + 2, 1)
    assert {(e["cause"], e["points"]) for e in mine["entries"]} == {
        ("attendance", 5),
        ("learning", 2),
    }
    # Nobody else reads a member's statement: another driver, another branch's secretary, even
    # when that secretary also leads a union the member belongs to (no party branch of theirs).
    union = (await p.post("/v1/organisations", {"name": "北仑集卡司机工会", "kind": "union"}))[
        "organisation_id"
    ]
    appointed = await p.registry.put(
        f"/v1/organisations/{union}/people/{b.other_secretary}",
        json={"role": "secretary"},
        headers=auth(),
    )
    joined = await p.registry.post(
        f"/v1/organisations/{union}/members", json={"driver_id": b.member}, headers=auth()
    )
    assert (appointed.status_code, joined.status_code) == (201, 201), joined.text

    async def union_followed() -> bool:
        db = p.db()
        role = {"organisation_id": union, "person_id": b.other_secretary, "held": True}
        roles = await db["party_roles"].count_documents(role)
        known = await db["driver_units"].count_documents({"organisations": union})
        placed = await db["unit_tree"].count_documents({"unit_id": union, "org_kind": "union"})
        return (roles, known, placed) == (1, 1, 1)

    await wait_until(union_followed)
    for headers in (auth("driver", driver_id=b.silent), secretary(b.other_secretary)):
        refused = await p.cases.get(f"/v1/party/members/{b.member}/statement", headers=headers)
        assert refused.status_code == 403, refused.text

    figures = await p.cases.get(
        f"/v1/party/branches/{b.branch_id}/figures",
        params={"year": year},
        headers=secretary(b.secretary),
    )
    assert figures.status_code == 200, figures.text
    fig = figures.json()
    assert [m["driver_id"] for m in fig["members"]] == [b.member]
    assert (fig["meetings_held"], fig["points"], fig["learning_met"]) == (1, 7, 0)
    assert fig["members"][0]["learning_required_minutes"] == 32 * 60
    other = await p.cases.get(
        f"/v1/party/branches/{b.branch_id}/figures", headers=secretary(b.other_secretary)
    )
    assert other.status_code == 403

    # Events: held, the attendance recorded, member points awarded; never service points.
    awarded = await wait_until(lambda: p.cases_events("party.points.awarded.v1") or None)
    assert {e.data["cause"] for e in awarded} <= {"attendance", "learning"}
    assert [e.data["attended"] for e in await p.cases_events("party.meeting.held.v1")] == [1]
    recorded = await p.cases_events("party.attendance.recorded.v1")
    assert [(e.subject, e.data["minutes"]) for e in recorded] == [(b.member, 40)]
    assert await p.db()["party_learning"].count_documents({"driver_id": b.silent}) == 0

    # The reminder reached the consenting member's inbox (notify's template).
    async def invited() -> list[Json] | None:
        answer = await p.notify.get(
            f"/v1/drivers/{b.member}/inbox", headers=auth("driver", driver_id=b.member)
        )
        items = [i for i in answer.json()["items"] if "28日党员活动日" in i["title"]]
        return items or None

    assert len(await wait_until(invited)) == 1

    # A dismissed secretary reads nothing any more (registry -> organisation.person_dismissed).
    gone = await p.registry.delete(
        f"/v1/organisations/{b.branch_id}/people/{b.secretary}", headers=auth()
    )
    assert gone.status_code == 204

    async def revoked() -> bool:
        answer = await p.cases.get(
            f"/v1/party/branches/{b.branch_id}/figures", headers=secretary(b.secretary)
        )
        return answer.status_code == 403

    await wait_until(revoked)

    # Erased with the driver: every party record goes, cases confirms.
    asked = await p.registry.post(
        f"/v1/drivers/{b.member}/erasure", json={"reason": "on_request"}, headers=auth()
    )
    await approved(p.registry, asked, auth())

    async def forgotten() -> bool:
        db = p.db()
        left = [
            await db[name].count_documents({"driver_id": b.member})
            for name in ("party_attendance", "party_learning", "member_points", "member_point_caps")
        ]
        return left == [0, 0, 0, 0] and not await db["party_members"].find_one({"_id": b.member})

    await wait_until(forgotten)


async def test_member_point_rules_are_the_committees_and_capped_per_month(p: Party) -> None:
    b = await _branch(p, 7311)
    rule = {"cause": "learning", "points": 3, "min_minutes": 20, "cap_per_month": 7}
    refused = await p.cases.put(
        "/v1/party/rules/learning", json=rule, headers=secretary(b.secretary)
    )
    assert refused.status_code == 403 and refused.json()["missing_scope"] == "party:manage"
    admin = auth(roles=["party_admin"])
    bad = await p.cases.put(
        "/v1/party/rules/learning", json=rule | {"cap_per_month": 2}, headers=admin
    )
    assert bad.status_code == 422, bad.text
    put = await p.cases.put("/v1/party/rules/learning", json=rule, headers=admin)
    assert put.status_code == 200 and put.json()["updated_by"], put.text
    now = datetime.now(UTC)
    for _ in range(4):  # 4 x 3 points against a cap of 7: 3 + 3 + 1 + 0
        await p.send(
            PartyLearningRecorded(course_ref="c-7", minutes=25, learned_at=now), b.outsider
        )
        await p.send(PartyLearningRecorded(course_ref="c-7", minutes=25, learned_at=now), b.member)

    async def capped() -> list[int] | None:
        answer = await p.cases.get(f"/v1/party/members/{b.member}/statement", headers=admin)
        assert answer.status_code == 200, answer.text
        got = sorted(e["points"] for e in answer.json()["entries"])
        return got if sum(got) == 7 else None

    assert await wait_until(capped) == [1, 3, 3]
    # The outsider consents but belongs to no party organisation: nothing is recorded.
    assert await p.db()["member_points"].count_documents({"driver_id": b.outsider}) == 0
    rules = await p.cases.get("/v1/party/rules", headers=secretary(b.secretary))
    assert {r["id"] for r in rules.json()} >= {"attendance", "learning", "volunteer"}
    default = {"cause": "learning", "points": 2, "min_minutes": 30, "cap_per_month": 10}
    restored = await p.cases.put("/v1/party/rules/learning", json=default, headers=admin)
    assert restored.status_code == 200  # the module's other tests earn by the default


async def test_a_report_interrupted_before_the_points_is_finished_when_reported_again(
    p: Party,
) -> None:
    b = await _branch(p, 7321)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    body = {
        "branch_id": b.branch_id,
        "kind": "party_lecture",
        "title": "党课:安全行车",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=20)).isoformat(),
        "join_ref": "meet-lecture",
    }
    made = await p.cases.post("/v1/party/meetings", json=body, headers=secretary(b.secretary))
    assert made.status_code == 201, made.text
    meeting_id = made.json()["id"]
    joined = PartyMeetingAttendance(meeting_id=meeting_id, action="joined", at=start)
    await p.send(joined, b.member)
    db = p.db()
    key = f"{meeting_id}:{b.member}"
    await wait_until(lambda: db["party_attendance"].find_one({"_id": key, "minutes": 20}))
    # The process died right after the report was stored: held, nothing judged, no points.
    await db["party_meetings"].update_one(
        {"_id": meeting_id}, {"$set": {"status": "held", "held_at": datetime.now(UTC)}}
    )
    again = await p.cases.post(
        f"/v1/party/meetings/{meeting_id}/held", headers=secretary(b.secretary)
    )
    assert again.status_code == 409
    entry = await db["member_points"].find_one({"_id": f"{b.member}:attendance:{meeting_id}"})
    assert entry is not None and entry["points"] == 5
    assert (await db["party_attendance"].find_one({"_id": key}))["counted"] is True


async def test_a_mark_read_before_the_meeting_was_reported_held_still_counts(p: Party) -> None:
    """The mark's handler reads the meeting as scheduled; the report lands (judging every
    attendance stored, not yet this one) before the mark is stored: the mark counts anyway."""
    b = await _branch(p, 7331)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    body = {
        "branch_id": b.branch_id,
        "kind": "party_lecture",
        "title": "党课:防疲劳驾驶",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=20)).isoformat(),
        "join_ref": "meet-fatigue",
    }
    made = await p.cases.post("/v1/party/meetings", json=body, headers=secretary(b.secretary))
    assert made.status_code == 201, made.text
    meeting_id = made.json()["id"]
    party = p.cases_app.state.party
    before = await party._store.meeting(meeting_id)
    held = await p.cases.post(
        f"/v1/party/meetings/{meeting_id}/held", headers=secretary(b.secretary)
    )
    assert held.status_code == 200, held.text
    real = party._store.meeting
    stale = [before]

    async def read_before_the_report(wanted: str) -> Any:
        return stale.pop() if stale else await real(wanted)

    party._store.meeting = read_before_the_report
    try:
        joined = PartyMeetingAttendance(
            driver_id=b.member, meeting_id=meeting_id, action="joined", at=start
        )
        await party.record_mark(new_event(joined, source=PLATFORM, subject=b.member), joined)
    finally:
        party._store.meeting = real
    entry = await p.db()["member_points"].find_one({"_id": f"{b.member}:attendance:{meeting_id}"})
    assert entry is not None and entry["points"] == 5


async def test_partner_facts_dated_outside_the_window_are_dead_lettered_not_capped_anew(
    p: Party,
) -> None:
    """Member points are capped per month of the partner fact's own date: a fact dated in a
    month long gone or still to come would open a fresh cap of its own, so only facts from the
    last ``party_event_max_age_days`` (up to a few minutes ahead) are taken; a late one inside
    that window still counts in its own month."""
    b = await _branch(p, 7341)
    now = datetime.now(UTC).replace(microsecond=0)
    late = now - timedelta(days=40)
    made_up = [
        datetime(1990, 1, 15, 9, tzinfo=UTC),
        datetime(2099, 12, 15, 9, tzinfo=UTC),
        now - timedelta(days=100),
        now + timedelta(hours=1),
    ]
    volunteers = p.settings.partner_topic("volunteer-team")

    async def volunteer(at: datetime) -> CloudEvent:
        data = VolunteerLogged(activity="港区道路清洁", hours=2, logged_at=at)
        event = new_event(data, source="partner/volunteer-team", subject=b.member)
        key = b.member.encode()
        await produce(p.infra.kafka_bootstrap, volunteers, event.to_bytes(), key=key)
        return event

    refused = [
        *[
            await p.send(
                PartyLearningRecorded(course_ref="c-x", minutes=45, learned_at=at), b.member
            )
            for at in made_up
        ],
        await volunteer(made_up[0]),
    ]
    for at in (late, now):
        await p.send(PartyLearningRecorded(course_ref="c-x", minutes=45, learned_at=at), b.member)
    await volunteer(now)
    db = p.db()

    async def earned() -> list[tuple[str, str]] | None:
        entries = await db["member_points"].find({"driver_id": b.member}).to_list()
        found = sorted((e["cause"], e["period"]) for e in entries)
        return found if len(found) >= 3 else None

    async def dead_lettered() -> set[str] | None:
        records = await dead_letters(p.infra.kafka_bootstrap, p.settings.topic_prefix)
        ids = {
            CloudEvent.model_validate_json(r.value or b"").id
            for r in records
            if headers_of(r).get("dlq-reason") == OUT_OF_RANGE
        }
        return ids if len(ids) >= len(refused) else None

    assert await wait_until(dead_lettered) == {e.id for e in refused}
    assert await wait_until(earned) == sorted(
        [("learning", f"{late:%Y-%m}"), ("learning", f"{now:%Y-%m}"), ("volunteer", f"{now:%Y-%m}")]
    )
    learnt = await db["party_learning"].find({"driver_id": b.member}).to_list()
    assert sorted(d["learned_at"] for d in learnt) == [late, now]
    caps = await db["member_point_caps"].find({"driver_id": b.member}).to_list()
    assert sorted(c["_id"] for c in caps) == sorted(
        f"{b.member}:{rule}:{at:%Y-%m}"
        for rule, at in (("learning", late), ("learning", now), ("volunteer", now))
    ), "no cap of a made-up month"
