"""The mutual-help board (cases service) over HTTP and events on the real store and broker:
contacts hidden until the claim and only between the two parties, the unclaimed deadline
opening a case, points for a completed help counted once, and erasure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cases.settings import CasesSettings
from cases.store.needs import NeedStore
from common.events import CloudEvent, new_event
from common.events.registry import DriverDeactivated
from common.testing import unique_name, wait_until
from notify.app import create_app as create_notify
from notify.settings import NotifySettings
from points.app import create_app as create_points
from points.settings import PointsSettings
from tests.integration.stations_harness import read_whole_topic
from tests.integration.test_cases_loop import Clock, Headers, running
from tests.support import produce, serve

POSTER_CONTACT = "wechat poster-li"
HELPER_CONTACT = "wechat helper-wang"
DETAILS = "Grandmother at home, building 3"


def need(driver: str, start: datetime, **extra: Any) -> dict[str, Any]:
    body = {
        "driver_id": driver,
        "category": "family",
        "area": "Beilun, Xiapu",
        "summary": "Someone to check on my mother while I am on the road",
        "window_start": (start + timedelta(hours=4)).isoformat(),
        "window_end": (start + timedelta(hours=8)).isoformat(),
        "contact": POSTER_CONTACT,
        "details": DETAILS,
    }
    return body | extra


async def post(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    answer = await client.post("/v1/help/needs", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["contact"] is None  # nobody reads it back before the claim
    need_id: str = answer.json()["need_id"]
    return need_id


async def events_of(settings: CasesSettings, need_id: str) -> list[CloudEvent]:
    """A need's events, once per id as consumers see them: a flush and a sweep racing may both
    send one (at least once), never under another id."""
    raw = await read_whole_topic(settings.kafka_bootstrap, settings.topic("cases.events"))
    events = [CloudEvent.model_validate_json(v) for v in raw]
    once: dict[str, CloudEvent] = {}
    for event in events:
        if event.data.get("need_id") == need_id:
            once.setdefault(event.id, event)
    return list(once.values())


async def test_contacts_are_shown_to_the_two_parties_only_and_a_help_earns_points_once(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    settings: CasesSettings = make_settings(CasesSettings)
    points_settings: PointsSettings = make_settings(PointsSettings)
    clock = Clock(datetime.now(UTC))
    poster, helper, stranger = (unique_name(p) for p in ("drv_p", "drv_h", "drv_s"))
    as_poster = token("driver", driver_id=poster, sub=f"sub-{poster}")
    as_helper = token("driver", driver_id=helper, sub=f"sub-{helper}")
    as_stranger = token("driver", driver_id=stranger, sub=f"sub-{stranger}")
    clerk = token("operator", scope="cases:dispatch", sub="clerk-1")
    points_app = create_points(points_settings)
    async with running(settings, clock) as (_, client), serve(points_app):
        await points_app.state.service.open_account(helper, datetime.now(UTC))
        # Only the driver posts their own need (or staff with help:manage).
        refused = await client.post(
            "/v1/help/needs", json=need(poster, clock.now), headers=as_helper
        )
        assert refused.status_code == 403, refused.text
        nid = await post(client, as_poster, need(poster, clock.now))

        # The board: public fields only, for everyone signed in.
        board = (await client.get("/v1/help/needs?area=Beilun, Xiapu", headers=as_stranger)).json()
        [listed] = [n for n in board if n["need_id"] == nid]
        assert listed["summary"].startswith("Someone to check")
        assert listed["driver_id"] is None and listed["contact"] is None
        before = (await client.get(f"/v1/help/needs/{nid}", headers=as_helper)).json()
        assert before["contact"] is None and before["details"] is None

        # Who may claim: not an operator without help:claim, not the poster.
        answer = await client.post(
            f"/v1/help/needs/{nid}/claim",
            json={"contact": "x", "helper_kind": "unit"},
            headers=clerk,
        )
        assert answer.status_code == 403, answer.text
        answer = await client.post(
            f"/v1/help/needs/{nid}/claim", json={"contact": "x"}, headers=as_poster
        )
        assert answer.status_code == 422, answer.text
        claimed = await client.post(
            f"/v1/help/needs/{nid}/claim", json={"contact": HELPER_CONTACT}, headers=as_helper
        )
        assert claimed.status_code == 200, claimed.text
        assert claimed.json()["contact"] == POSTER_CONTACT
        assert claimed.json()["details"] == DETAILS

        # After the claim: the two parties see each other's contact, a stranger sees nothing.
        mine = (await client.get(f"/v1/help/needs/{nid}", headers=as_poster)).json()
        assert mine["helper_contact"] == HELPER_CONTACT and mine["helper_id"] == helper
        assert mine["contact"] is None
        theirs = (await client.get(f"/v1/help/needs/{nid}", headers=as_helper)).json()
        assert theirs["contact"] == POSTER_CONTACT and theirs["helper_contact"] is None
        for path in (f"/v1/help/needs/{nid}", f"/v1/help/needs/{nid}/claim"):
            body = {"contact": "y"} if path.endswith("claim") else None
            call = client.post if body else client.get
            hidden = await call(path, headers=as_stranger, **({"json": body} if body else {}))
            assert hidden.status_code == 404, hidden.text
            assert POSTER_CONTACT not in hidden.text and HELPER_CONTACT not in hidden.text
        gone = (await client.get("/v1/help/needs", headers=as_stranger)).json()
        assert nid not in [n["need_id"] for n in gone]

        # The helper cannot confirm their own help; the driver does, once.
        done = {"outcome": "done", "rating": 5, "comment": "谢谢王师傅"}
        answer = await client.post(f"/v1/help/needs/{nid}/close", json=done, headers=as_helper)
        assert answer.status_code == 403, answer.text
        answer = await client.post(f"/v1/help/needs/{nid}/close", json=done, headers=as_poster)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "done"
        again = await client.post(f"/v1/help/needs/{nid}/close", json=done, headers=as_poster)
        assert again.status_code == 409, again.text

        # One event per step, none carrying a contact or the details.
        events = await wait_until(
            lambda: _when(events_of(settings, nid), lambda found: len(found) == 3)
        )
        assert [e.type for e in events] == [
            "help.posted.v1",
            "help.claimed.v1",
            "help.completed.v1",
        ]
        assert all(e.subject == poster for e in events)
        for event in events:
            raw = event.model_dump_json()
            assert POSTER_CONTACT not in raw and HELPER_CONTACT not in raw and DETAILS not in raw
        completed = events[-1]
        assert completed.data["helper_kind"] == "driver" and completed.data["helper_id"] == helper

        # Points: the helper earns by the mutual-help rule, once, even when redelivered.
        accounts = mongo[points_settings.mongo_db]["accounts"]

        async def balance() -> int | None:
            doc = await accounts.find_one({"_id": helper})
            return doc["balance"] if doc and doc["balance"] else None

        assert await wait_until(balance) == 30
        await produce(
            settings.kafka_bootstrap,
            settings.topic("cases.events"),
            completed.to_bytes(),
            key=poster.encode(),
        )
        await asyncio.sleep(2)  # the redelivery consumed (as the ledger tests wait)
        ledger = mongo[points_settings.mongo_db]["ledger"]
        same = {"driver_id": helper, "cause.event_id": completed.id}
        assert await ledger.count_documents(same) == 1
        # A second help earns again (under the daily cap of 60).
        await _second_help(client, clock, as_poster, as_helper, poster)
        assert await wait_until(lambda: _when(balance(), lambda b: b == 60)) == 60
        awards = [e async for e in ledger.find({"driver_id": helper})]
        assert sorted(e["amount"] for e in awards) == [30, 30]
        assert {e["rule_id"] for e in awards} == {"mutual-help"}
        assert (
            await accounts.count_documents({"_id": poster}) == 0
        )  # the driver helped earns nothing


async def _second_help(
    client: httpx.AsyncClient,
    clock: Clock,
    as_poster: dict[str, str],
    as_helper: dict[str, str],
    poster: str,
) -> None:
    nid = await post(client, as_poster, need(poster, clock.now, category="transport"))
    answer = await client.post(
        f"/v1/help/needs/{nid}/claim", json={"contact": HELPER_CONTACT}, headers=as_helper
    )
    assert answer.status_code == 200, answer.text
    answer = await client.post(
        f"/v1/help/needs/{nid}/close", json={"outcome": "done"}, headers=as_poster
    )
    assert answer.status_code == 200, answer.text


async def _when(found: Any, check: Callable[[Any], bool]) -> Any:
    value = await found
    return value if value is not None and check(value) else None


async def test_an_unclaimed_need_becomes_a_case_once_and_erasure_forgets_the_board(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    settings: CasesSettings = make_settings(CasesSettings)
    clock = Clock(datetime.now(UTC))
    poster, helper = unique_name("drv_p"), unique_name("drv_h")
    as_poster = token("driver", driver_id=poster, sub=f"sub-{poster}")
    as_helper = token("driver", driver_id=helper, sub=f"sub-{helper}")
    committee = token("operator", roles=["mutual_help"], sub="committee-1")
    supervisor = token("operator", scope="cases:supervise", sub="supervisor-1")
    notify_app = create_notify(make_settings(NotifySettings))
    async with running(settings, clock) as (app, client), serve(notify_app) as notify:
        # Staff post for a driver who called in; nobody claims it by its deadline.
        claim_by = clock.now + timedelta(hours=1)
        body = need(poster, clock.now, claim_by=claim_by.isoformat(), category="health")
        lonely = await post(client, committee, body)
        stalled = await post(client, committee, body)
        # A party member (help:claim) takes another need of the same driver.
        taken = await post(client, as_poster, need(poster, clock.now))
        answer = await client.post(
            f"/v1/help/needs/{taken}/claim",
            json={"contact": HELPER_CONTACT, "helper_kind": "party_member"},
            headers=committee,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["contact"] == POSTER_CONTACT

        # "Mine": the committee's posted and claimed needs, the driver's own, a stranger's none.
        for headers in (committee, as_poster):
            mine = (await client.get("/v1/help/needs/mine", headers=headers)).json()
            assert {n["need_id"] for n in mine} == {lonely, stalled, taken}
        assert (await client.get("/v1/help/needs/mine", headers=as_helper)).json() == []
        assert await app.state.help.hand_over_unclaimed() == 0  # nothing is due yet
        clock.now += timedelta(hours=2)
        late = await client.post(
            f"/v1/help/needs/{lonely}/claim", json={"contact": "z"}, headers=as_helper
        )
        assert late.status_code == 409, late.text
        # An instance marked one handover and crashed before opening its case.
        assert await NeedStore(app.state.runtime.db).hand_over(stalled, clock.now)
        assert await app.state.help.hand_over_unclaimed() == 1
        assert await app.state.help.hand_over_unclaimed() == 0  # once
        clock.now += timedelta(minutes=6)  # the stalled one is taken up again, once
        assert await app.state.help.hand_over_unclaimed() == 1
        assert await app.state.help.hand_over_unclaimed() == 0
        again = (await client.get(f"/v1/help/needs/{stalled}", headers=as_poster)).json()
        assert again["status"] == "unclaimed" and again["case_id"]

        mine = (await client.get(f"/v1/help/needs/{lonely}", headers=as_poster)).json()
        assert mine["status"] == "unclaimed" and mine["case_id"]
        case = (await client.get(f"/v1/cases/{mine['case_id']}", headers=supervisor)).json()
        assert case["kind"] == "help_request" and case["category"] == "health"
        assert case["driver_id"] == poster and case["status"] == "received"
        events = await wait_until(
            lambda: _when(events_of(settings, lonely), lambda found: len(found) == 2)
        )
        assert [e.type for e in events] == ["help.posted.v1", "help.unclaimed.v1"]
        assert events[1].data["case_id"] == mine["case_id"]
        raw = await read_whole_topic(settings.kafka_bootstrap, settings.topic("cases.events"))
        opened = [CloudEvent.model_validate_json(v) for v in raw]
        assert any(
            e.type == "case.opened.v1" and e.data["case_id"] == mine["case_id"] for e in opened
        )

        # notify tells the driver in their language (zh-CN by default): posted, handed over.
        async def titles() -> list[str] | None:
            answer = await notify.get(f"/v1/drivers/{poster}/inbox", headers=as_poster)
            found = [item["title"] for item in answer.json()["items"]]
            return found if "互助需求转交办理" in found else None

        inbox = await wait_until(titles)
        assert "互助需求已发布" in inbox and "互助需求已有人认领" in inbox

        # Erasure: the needs the driver posted go; where the driver helped, only a pseudonym.
        helped = await post(client, token("driver", driver_id=helper), need(helper, clock.now))
        answer = await client.post(
            f"/v1/help/needs/{helped}/claim", json={"contact": POSTER_CONTACT}, headers=as_poster
        )
        assert answer.status_code == 200, answer.text
        erased = new_event(
            DriverDeactivated(
                driver_id=poster, deactivated_at=clock.now, reason="erasure", erased=True
            ),
            source="driverhome/registry",
            subject=poster,
        )
        await produce(
            settings.kafka_bootstrap,
            settings.topic("registry.events"),
            erased.to_bytes(),
            key=poster.encode(),
        )
        needs = mongo[settings.mongo_db]["help_needs"]

        async def forgotten() -> bool:
            return await needs.count_documents({"driver_id": poster}) == 0

        await wait_until(forgotten)
        kept = await wait_until(
            lambda: needs.find_one({"_id": helped, "helper.id": {"$ne": poster}})
        )
        assert kept["helper"]["contact"] is None and kept["driver_id"] == helper
        assert poster not in str(kept)
