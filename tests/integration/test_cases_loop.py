"""The cases service on the real store and broker, driven by a controllable clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from cases import domain
from cases.app import create_app
from cases.settings import CasesSettings
from common.events import CloudEvent
from common.testing import unique_name
from tests.integration.stations_harness import read_whole_topic
from tests.support import serve

SH = ZoneInfo("Asia/Shanghai")
Headers = Callable[..., dict[str, str]]
# Most tests start on an ordinary working morning.
MONDAY_MORNING = datetime(2026, 3, 2, 9, 30, tzinfo=SH)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, y: int, m: int, d: int, h: int = 9, minute: int = 0) -> None:
        self.now = datetime(y, m, d, h, minute, tzinfo=SH)


@contextlib.asynccontextmanager
async def running(
    settings: CasesSettings, clock: Clock
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, clock=clock, scan=False)
    async with serve(app) as client:
        yield app, client


class Actors:
    def __init__(self, token: Headers, driver: str) -> None:
        self.driver = token("driver", driver_id=driver, sub=f"sub-{driver}")
        self.dispatcher = token("operator", scope="cases:dispatch", sub="dispatcher-1")
        self.sup1 = token("operator", scope="cases:supervise", sub="supervisor-1")
        self.sup2 = token("operator", scope="cases:supervise", sub="supervisor-2")
        self.sup3 = token("operator", scope="cases:supervise", sub="supervisor-3")
        self.revisit = token("operator", scope="cases:revisit", sub="revisit-1")

    def unit(self, token: Headers, unit: str, sub: str | None = None) -> dict[str, str]:
        return token(
            "operator", scope="cases:handle cases:revisit", unit_id=unit, sub=sub or f"h-{unit}"
        )


def scene(
    make_settings: Callable[..., CasesSettings], token: Headers, at: datetime = MONDAY_MORNING
) -> tuple[CasesSettings, Clock, str, Actors]:
    """A test's cases settings, a clock at ``at``, and a fresh driver with the usual actors."""
    driver = unique_name("drv_")
    return make_settings(CasesSettings), Clock(at), driver, Actors(token, driver)


async def open_case(
    client: httpx.AsyncClient, headers: dict[str, str], driver: str, **body: Any
) -> dict[str, Any]:
    payload = {
        "driver_id": driver,
        "kind": "complaint",
        "category": "freight_payment",
        "description": "运费拖欠三个月",
    }
    payload.update(body)
    answer = await client.post("/v1/cases", json=payload, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()["case"]


async def act(
    client: httpx.AsyncClient, case_id: str, action: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/cases/{case_id}/transitions/{action}", json=body, headers=headers
    )


async def refused_everything_else(
    client: httpx.AsyncClient, case: dict[str, Any], headers: dict[str, str]
) -> int:
    """Every transition whose sources do not include the case's status is refused with 409."""
    count = 0
    for name, t in domain.TRANSITIONS.items():
        if case["status"] in t.sources:
            continue
        answer = await act(client, case["case_id"], name, headers)
        assert answer.status_code == 409, (name, case["status"], answer.text)
        assert "not allowed from" in answer.json()["detail"]
        count += 1
    return count


async def case_events(settings: CasesSettings, case_id: str) -> list[CloudEvent]:
    raw = await read_whole_topic(settings.kafka_bootstrap, settings.topic("cases.events"))
    events = [CloudEvent.model_validate_json(v) for v in raw]
    return [e for e in events if e.data.get("case_id") == case_id]


async def test_the_closed_loop_leaves_one_event_per_transition_and_refuses_the_rest(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings, clock, driver, who = scene(make_settings, token)
    u1, u2 = who.unit(token, "U1"), who.unit(token, "U2")
    async with running(settings, clock) as (_, client):
        case = await open_case(client, who.driver, driver)
        cid = case["case_id"]
        assert case["channel"] == "app" and case["status"] == "received"
        await refused_everything_else(client, case, who.sup1)
        answer = await act(client, cid, "dispatch", who.dispatcher, unit_ids=["U1", "U2"])
        assert answer.status_code == 200, answer.text
        await refused_everything_else(client, answer.json(), who.sup1)

        # Two units accept at once: one becomes the lead, the other gets a clear conflict.
        clock.now += timedelta(minutes=20)
        first, second = await asyncio.gather(
            act(client, cid, "accept", u1), act(client, cid, "accept", u2)
        )
        assert sorted([first.status_code, second.status_code]) == [200, 409]
        loser = first if first.status_code == 409 else second
        assert loser.headers["content-type"] == "application/problem+json"
        winner = (first if first.status_code == 200 else second).json()
        lead = winner["lead_unit_id"]
        handler = u1 if lead == "U1" else u2
        assert winner["clocks"]["acceptance"]["met_at"] is not None
        await refused_everything_else(client, winner, who.sup1)

        # Who may act is enforced, even where the state table allows the transition.
        assert (
            await act(client, cid, "resolve", who.driver, outcome="upheld", note="x")
        ).status_code == 403
        other = u2 if lead == "U1" else u1
        assert (
            await act(client, cid, "resolve", other, outcome="upheld", note="x")
        ).status_code == 403

        assert (
            await act(client, cid, "request_info", handler, note="请提供运单")
        ).status_code == 200
        clock.now += timedelta(hours=1)
        replied = await act(client, cid, "driver_replied", who.driver)
        assert replied.status_code == 200
        assert (await act(client, cid, "feedback", handler, note="已联系车队")).status_code == 200
        resolved = await act(client, cid, "resolve", handler, outcome="upheld", note="运费已结清")
        assert resolved.status_code == 200, resolved.text
        await refused_everything_else(client, resolved.json(), who.sup1)

        # The revisit is made by someone other than the handler.
        assert (
            await act(client, cid, "revisit", handler, satisfaction="satisfied", solved="solved")
        ).status_code == 403
        review = await act(
            client, cid, "revisit", who.revisit, satisfaction="not_satisfied", solved="partly"
        )
        assert review.json()["status"] == "review"
        assert (
            await act(client, cid, "propose_exemption", who.sup1, note="诉求超出政策")
        ).status_code == 200
        assert (await act(client, cid, "confirm_exemption", who.sup1)).status_code == 403

        # Two supervisors decide at once: one wins, the other gets a conflict; no lost update.
        a, b = await asyncio.gather(
            act(client, cid, "confirm_exemption", who.sup2),
            act(client, cid, "order_second_round", who.sup3),
        )
        assert sorted([a.status_code, b.status_code]) == [200, 409]
        final = (await client.get(f"/v1/cases/{cid}", headers=who.sup1)).json()
        assert final["status"] in ("closed", "in_progress")
        assert final["version"] == 10

        events = await case_events(settings, cid)
        ids = [e.id for e in events]
        assert len(set(ids)) == 10  # opened + 9 transitions (versions 2..10): one event each
        types = [
            e.type
            for e in sorted(
                {e.id: e for e in events}.values(), key=lambda e: e.data.get("version", 1)
            )
        ]
        assert types[0] == "case.opened.v1" and "case.resolved.v1" in types
        for event in events:
            assert "运费" not in event.to_bytes().decode()
            assert event.subject == driver

        # The figures say what they count.
        figures = (
            await client.get("/v1/figures", headers=who.sup1, params={"month": "2026-03"})
        ).json()
        row = figures["rows"][0]
        assert (
            row["timely_reply_rate"]["numerator"] == 1
            and row["timely_reply_rate"]["denominator"] == 1
        )
        assert "cohort" in row["revisit_rate"]


async def test_the_first_unit_to_accept_stays_responsible_and_a_second_return_goes_to_a_supervisor(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings, clock, driver, who = scene(make_settings, token)
    async with running(settings, clock) as (_, client):
        cid = (await open_case(client, who.driver, driver))["case_id"]
        await act(client, cid, "dispatch", who.dispatcher, unit_ids=["U1"])
        assert (
            await act(client, cid, "return", who.unit(token, "U1"))
        ).status_code == 422  # no reason
        back = await act(client, cid, "return", who.unit(token, "U1"), reason_code="not_our_remit")
        assert back.json()["status"] == "received" and back.json()["returns"] == 1
        await act(client, cid, "dispatch", who.dispatcher, unit_ids=["U2"])
        back = await act(client, cid, "return", who.unit(token, "U2"), reason_code="wrong_district")
        assert back.json()["needs_supervisor"] is True
        assert (
            await act(client, cid, "dispatch", who.dispatcher, unit_ids=["U3"])
        ).status_code == 403
        final = await act(client, cid, "dispatch", who.sup1, unit_ids=["U3"])
        assert final.json()["final_assignment"] is True
        refused = await act(
            client, cid, "return", who.unit(token, "U3"), reason_code="not_our_remit"
        )
        assert refused.status_code == 409 and "final" in refused.json()["detail"]
        assert (await act(client, cid, "accept", who.unit(token, "U3"))).status_code == 200
        moved = await act(client, cid, "transfer", who.unit(token, "U3"), unit_ids=["U4"])
        assert moved.json()["status"] == "assigned" and moved.json()["lead_unit_id"] == "U3"
        took = await act(client, cid, "accept", who.unit(token, "U4"))
        assert took.json()["unit_id"] == "U4" and took.json()["lead_unit_id"] == "U3"
        await act(client, cid, "transfer", who.sup1, unit_ids=["U5"])
        clock.now += timedelta(days=1)  # a whole office day later: the return window is closed
        late = await act(client, cid, "return", who.unit(token, "U5"), reason_code="not_our_remit")
        assert late.status_code == 409 and "within" in late.json()["detail"]
        # Units see the cases given to them, and only those.
        assert (
            await client.get(
                f"/v1/cases/{cid}", headers=token("operator", scope="cases:handle", unit_id="U9")
            )
        ).status_code == 404
        assert (
            await client.get(
                f"/v1/cases/{cid}", headers=token("operator", scope="cases:handle", unit_id="U1")
            )
        ).status_code == 200


async def test_clocks_across_the_spring_festival_with_a_pause_an_extension_and_a_breach_that_stays(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings = make_settings(CasesSettings)
    clock = Clock(datetime(2026, 2, 14, 10, 0, tzinfo=SH))  # the make-up Saturday before the break
    driver = unique_name("drv_")
    who = Actors(token, driver)
    handler = who.unit(token, "U1")
    async with running(settings, clock) as (app, client):
        scan = app.state.cases.breach_scan.scan
        cal = app.state.cases.records.calendar
        case = await open_case(client, who.driver, driver, kind="question")
        cid = case["case_id"]
        due = datetime.fromisoformat(case["clocks"]["resolution"]["due"])
        assert due == datetime(2026, 2, 28, 17, tzinfo=SH)  # 5 working days: 24..27, Sat 28
        await act(client, cid, "dispatch", who.dispatcher, unit_ids=["U1"])
        clock.set(2026, 2, 14, 11)
        await act(client, cid, "accept", handler)
        clock.set(2026, 2, 14, 15)
        await act(client, cid, "request_info", handler, note="请上传照片")
        clock.set(2026, 2, 24, 11)  # the driver answers after the break
        resumed = (await act(client, cid, "driver_replied", who.driver)).json()
        pushed = datetime.fromisoformat(resumed["clocks"]["resolution"]["due"])
        assert pushed == cal.add_business_seconds(due, 4 * 3600)  # 2 h on Sat 14 + 2 h on Tue 24
        first = resumed["clocks"]["first_response"]
        assert datetime.fromisoformat(first["met_at"]) == datetime(2026, 2, 14, 15, tzinfo=SH)

        # One extension per round, asked for and approved before the deadline.
        ask = await client.post(
            f"/v1/cases/{cid}/extension",
            json={"working_days": 3, "reason_code": "awaiting_third_party", "note": "等待港区回复"},
            headers=handler,
        )
        assert ask.status_code == 200, ask.text
        a, b = await asyncio.gather(
            client.post(
                f"/v1/cases/{cid}/extension/decision", json={"approve": True}, headers=who.sup1
            ),
            client.post(
                f"/v1/cases/{cid}/extension/decision", json={"approve": True}, headers=who.sup2
            ),
        )
        assert sorted([a.status_code, b.status_code]) == [200, 409]
        extended = (await client.get(f"/v1/cases/{cid}", headers=who.sup1)).json()
        new_due = datetime.fromisoformat(extended["clocks"]["resolution"]["due"])
        assert new_due == cal.working_days_after(pushed, 3)
        again = await client.post(
            f"/v1/cases/{cid}/extension",
            json={"working_days": 2, "reason_code": "complex_investigation", "note": "再延"},
            headers=handler,
        )
        assert again.status_code == 409 and "one extension per round" in again.json()["detail"]

        # Past the deadline: a breach, escalated once, compensated once.
        clock.now = new_due + timedelta(minutes=1)
        assert await scan() > 0
        breached = (await client.get(f"/v1/cases/{cid}", headers=who.sup1)).json()
        assert breached["clocks"]["resolution"]["breached"] is True
        assert await scan() == 0

        # A suspension and a resume do not clear it or move the deadline.
        await act(client, cid, "suspend", who.sup1, reason_code="third_party_investigation")
        clock.now += timedelta(days=7)
        after = (await act(client, cid, "resume", handler)).json()
        assert after["clocks"]["resolution"]["breached"] is True
        assert datetime.fromisoformat(after["clocks"]["resolution"]["due"]) == new_due
        late = (
            await act(client, cid, "resolve", handler, outcome="answered", note="已答复")
        ).json()
        assert late["clocks"]["resolution"]["breached"] is True

        events = await case_events(settings, cid)
        by_type: dict[str, set[str]] = {}
        for event in events:
            by_type.setdefault(event.type, set()).add(event.id)
        assert by_type["case.deadline_extended.v1"] == {f"{cid}:extended:r1"}
        assert f"{cid}:resolution:r1:breach1" in by_type["case.breached.v1"]
        assert by_type["case.compensation_granted.v1"] >= {f"{cid}:missed:resolution:r1"}
        resolved = [e for e in events if e.type == "case.resolved.v1"]
        assert resolved and resolved[0].data["within_limit"] is False


async def test_a_breach_is_announced_once_with_two_instances_and_after_a_crash(
    make_settings: Callable[..., CasesSettings], token: Headers, tmp_path: Any
) -> None:
    crashing = make_settings(
        CasesSettings, faults={"cases.scan.before_flush": f"raise_once:{tmp_path / 'crashed'}"}
    )
    healthy = make_settings(CasesSettings)
    clock = Clock(datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    driver = unique_name("drv_")
    who = Actors(token, driver)
    async with running(crashing, clock) as (app1, client), running(healthy, clock) as (app2, _):
        cids = [
            (await open_case(client, who.driver, driver, category=c))["case_id"]
            for c in ("health", "parking_rest")
        ]
        clock.set(2026, 3, 4, 10)  # acceptance and first response are past due for both
        results = await asyncio.gather(
            app1.state.cases.breach_scan.scan(),
            app2.state.cases.breach_scan.scan(),
            return_exceptions=True,
        )
        assert any(isinstance(r, Exception) for r in results) or sum(results) > 0  # type: ignore[arg-type]
        # Whatever was left half-done, both instances scanning again announce nothing twice.
        await asyncio.gather(
            app1.state.cases.breach_scan.scan(), app2.state.cases.breach_scan.scan()
        )
        for cid in cids:
            doc = (await app2.state.cases.store.get(cid)).doc
            assert len(doc["announced"]) == len(set(doc["announced"]))
            assert "first_response:r1:breach1" in doc["announced"]
        # The relay publishes what the crash left in the outbox.
        await asyncio.sleep(1.5)
        for cid in cids:
            events = await case_events(healthy, cid)
            breaches = {e.id for e in events if e.type == "case.breached.v1"}
            assert f"{cid}:first_response:r1:breach1" in breaches
            assert f"{cid}:acceptance:r1:breach1" in breaches
            comps = [e for e in events if e.type == "case.compensation_granted.v1"]
            assert {e.id for e in comps} == {f"{cid}:missed:first_response:r1"}
            doc = await app2.state.cases.store.collection.find_one({"_id": cid})
            assert doc["outbox"] == []


@pytest.mark.parametrize("content_type", ["application/x-msdownload"])
async def test_attachments_are_limited_and_respondents_do_not_see_the_complainant(
    make_settings: Callable[..., CasesSettings], token: Headers, content_type: str
) -> None:
    settings = make_settings(CasesSettings, attachment_max_bytes=1000)
    clock = Clock(datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    driver = unique_name("drv_")
    who = Actors(token, driver)
    att = {"name": "a", "content_type": "image/png", "size_bytes": 10, "storage_ref": "s3://x/a"}
    async with running(settings, clock) as (_, client):
        base = {
            "driver_id": driver,
            "kind": "complaint",
            "category": "platform_fees",
            "description": "平台乱收费",
        }
        bad = await client.post(
            "/v1/cases",
            json={**base, "attachments": [{**att, "content_type": content_type}]},
            headers=who.driver,
        )
        assert bad.status_code == 422
        big = await client.post(
            "/v1/cases",
            json={**base, "attachments": [{**att, "size_bytes": 5000}]},
            headers=who.driver,
        )
        assert big.status_code == 422
        someone_else = await client.post(
            "/v1/cases", json={**base, "driver_id": "other"}, headers=who.driver
        )
        assert someone_else.status_code == 403
        opened = await client.post(
            "/v1/cases",
            json={
                **base,
                "attachments": [att],
                "respondent": {"kind": "platform", "id": "freight-app"},
            },
            headers=who.driver,
        )
        cid = opened.json()["case"]["case_id"]
        dup = await client.post("/v1/cases", json=base, headers=who.driver)
        assert cid in dup.json()["duplicate_candidates"]
        respondent = token("partner", partner_id="freight-app", scope="cases:respond")
        seen = (await client.get(f"/v1/cases/{cid}", headers=respondent)).json()
        assert seen["driver_id"] is None and seen["attachments"] == []
        await client.put(
            f"/v1/cases/{cid}/consent", json={"reveal_identity": True}, headers=who.driver
        )
        assert (await client.get(f"/v1/cases/{cid}", headers=respondent)).json()[
            "driver_id"
        ] == driver
        stranger = token("partner", partner_id="other-app", scope="cases:respond")
        assert (await client.get(f"/v1/cases/{cid}", headers=stranger)).status_code == 404
        assert (
            await client.get(f"/v1/cases/{cid}", headers=token("driver", driver_id="x"))
        ).status_code == 404


async def test_merging_never_forms_a_cycle_and_can_be_undone(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings, clock, driver, who = scene(make_settings, token)
    async with running(settings, clock) as (_, client):
        a = (await open_case(client, who.driver, driver))["case_id"]
        b = (await open_case(client, who.driver, driver))["case_id"]
        first, second = await asyncio.gather(
            act(client, a, "merge", who.dispatcher, target_case_id=b),
            act(client, b, "merge", who.sup1, target_case_id=a),
        )
        assert 409 in (first.status_code, second.status_code) or 422 in (
            first.status_code,
            second.status_code,
        )
        docs = [(await client.get(f"/v1/cases/{c}", headers=who.sup1)).json() for c in (a, b)]
        assert [d["status"] for d in docs].count("merged") <= 1
        if "merged" not in [d["status"] for d in docs]:
            assert (
                await act(client, a, "merge", who.dispatcher, target_case_id=b)
            ).status_code == 200
        statuses = {
            c: (await client.get(f"/v1/cases/{c}", headers=who.sup1)).json()["status"]
            for c in (a, b)
        }
        merged = next(c for c, status in statuses.items() if status == "merged")
        back = await act(client, merged, "unmerge", who.dispatcher)
        assert back.status_code == 200 and back.json()["status"] == "received"
