"""Four eyes beyond points (issue 14, "One god role"), on the real store and broker: erasure,
urgent broadcasts, partner account changes and large goodwill compensation each wait for a
second person with the area's scope; the maker cannot approve, an approval runs once, a refusal
runs nothing, and what stays below a threshold works as before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from cases.settings import CasesSettings
from notify.app import create_app as notify_app
from notify.settings import NotifySettings
from partners.app import create_app as partners_app
from partners.settings import PartnersSettings
from registry.app import create_app as registry_app
from registry.settings import RegistrySettings
from tests.integration.test_cases_loop import SH, Actors, Clock, act, open_case, running
from tests.integration.test_registry_rules import driver
from tests.support import serve

Token = Callable[..., dict[str, str]]


def person(token: Token, sub: str, *scopes: str) -> dict[str, str]:
    return token("operator", sub=sub, scope=" ".join(scopes))


async def decide(
    http: httpx.AsyncClient, proposed: httpx.Response, verb: str, who: dict[str, str]
) -> httpx.Response:
    body = {"reason": "不同意"} if verb == "refuse" else None
    url = f"/v1/approvals/{proposed.json()['approval_id']}/{verb}"
    return await http.post(url, json=body, headers=who)


def refusals(*answers: httpx.Response) -> list[tuple[int, str]]:
    return [(a.status_code, a.json().get("missing_scope") or a.json()["code"]) for a in answers]


async def test_erasure_starts_only_when_a_second_security_officer_approves(
    make_settings: Callable[..., RegistrySettings], token: Token
) -> None:
    maker = person(token, "officer-a", "drivers:erase", "drivers:read")
    checker = person(token, "officer-b", "drivers:erase")
    clerk = person(token, "clerk-c", "drivers:write", "drivers:read")
    async with serve(registry_app(make_settings(RegistrySettings))) as http:
        ids = [
            (await http.post("/v1/drivers", json=driver(n), headers=token())).json()["driver_id"]
            for n in (71, 72)
        ]
        asked = [
            await http.post(
                f"/v1/drivers/{i}/erasure", json={"reason": "on_request"}, headers=maker
            )
            for i in ids
        ]
        pending = await http.get(f"/v1/drivers/{ids[0]}", headers=token())
        own = await decide(http, asked[0], "approve", maker)
        unscoped = await decide(http, asked[0], "approve", clerk)
        runs = [await decide(http, asked[0], "approve", checker) for _ in range(2)]
        refused = await decide(http, asked[1], "refuse", checker)
        late = await decide(http, asked[1], "approve", checker)
        views = [(await http.get(f"/v1/drivers/{i}", headers=token())).json() for i in ids]
        audit = await http.get(f"/v1/approvals/{asked[0].json()['approval_id']}", headers=maker)
    assert [a.status_code for a in asked] == [202, 202]
    assert pending.json()["erased"] is False and pending.json()["name"] is not None
    assert refusals(own, unscoped) == [(403, "maker_is_checker"), (403, "drivers:erase")]
    assert [r.json()["state"] for r in runs] == ["executed", "executed"]
    assert runs[0].json()["result"] == {"driver_id": ids[0], "erased": True}
    assert refused.json()["state"] == "refused" and late.status_code == 409
    assert [(v["erased"], v["name"] is None) for v in views] == [(True, True), (False, False)]
    assert [s["by"] for s in audit.json()["audit"]] == ["officer-a", "officer-b", "system"]


async def test_an_urgent_broadcast_goes_out_only_when_a_second_person_approves(
    make_settings: Callable[..., NotifySettings], token: Token
) -> None:
    maker = person(token, "editor-a", "notify:broadcast", "notify:urgent")
    checker = person(token, "editor-b", "notify:urgent")
    plain = person(token, "editor-c", "notify:broadcast")

    def message(category: str, title: str) -> dict[str, Any]:
        return {
            "category": category,
            "segment": {"kind": "everyone"},
            "content": {"zh-CN": {"title": title, "body": "请留意。"}},
        }

    async with serve(notify_app(make_settings(NotifySettings))) as http:
        normal = await http.post("/v1/broadcasts", json=message("policy", "新规"), headers=plain)
        urgent = await http.post(
            "/v1/broadcasts", json=message("road_closure", "大桥封闭"), headers=maker
        )
        also_urgent = await http.post(
            "/v1/broadcasts", json=message("severe_weather", "台风"), headers=maker
        )
        before = (await http.get("/v1/broadcasts", headers=maker)).json()["items"]
        own = await decide(http, urgent, "approve", maker)
        unscoped = await decide(http, urgent, "approve", plain)
        runs = [await decide(http, urgent, "approve", checker) for _ in range(2)]
        await decide(http, also_urgent, "refuse", checker)
        after = (await http.get("/v1/broadcasts", headers=maker)).json()["items"]
    assert (normal.status_code, urgent.status_code, also_urgent.status_code) == (201, 202, 202)
    assert [b["broadcast_id"] for b in before] == [normal.json()["broadcast_id"]]
    assert refusals(own, unscoped) == [(403, "maker_is_checker"), (403, "notify:urgent")]
    made = {r.json()["result"]["broadcast_id"] for r in runs}
    assert len(made) == 1
    assert sorted(b["broadcast_id"] for b in after) == sorted(
        [normal.json()["broadcast_id"], *made]
    )
    assert {b["category"] for b in after} == {"policy", "road_closure"}


async def test_partner_creation_type_changes_and_suspension_need_a_second_person(
    make_settings: Callable[..., PartnersSettings], token: Token
) -> None:
    maker = person(token, "sec-a", "partners:manage")
    checker = person(token, "sec-b", "partners:manage")
    keys_only = person(token, "sec-c", "keys:manage")
    new = {"partner_id": "tally-yard", "name": "理货场", "allowed_types": ["service.used.v1"]}
    async with serve(partners_app(make_settings(PartnersSettings))) as http:
        created = await http.post("/v1/partners", json=new, headers=maker)
        missing = await http.get("/v1/partners/tally-yard", headers=maker)
        own = await decide(http, created, "approve", maker)
        unscoped = await decide(http, created, "approve", keys_only)
        runs = [await decide(http, created, "approve", checker) for _ in range(2)]
        taken = await http.post("/v1/partners", json=new, headers=maker)

        renamed = await http.patch(
            "/v1/partners/tally-yard", json={"contact": "ops@tally.example"}, headers=maker
        )
        widened = await http.patch(
            "/v1/partners/tally-yard",
            json={"allowed_types": ["service.used.v1", "volunteer.logged.v1"]},
            headers=maker,
        )
        still = (await http.get("/v1/partners/tally-yard", headers=maker)).json()
        await decide(http, widened, "approve", checker)
        suspend = await http.post(
            "/v1/partners/tally-yard/suspend", json={"reason": "合同到期"}, headers=maker
        )
        await decide(http, suspend, "refuse", checker)
        final = (await http.get("/v1/partners/tally-yard", headers=maker)).json()
    assert created.status_code == 202 and missing.status_code == 404
    assert refusals(own, unscoped) == [(403, "maker_is_checker"), (403, "partners:manage")]
    assert [r.json()["result"]["version"] for r in runs] == [1, 1]
    assert taken.status_code == 409
    assert renamed.status_code == 200 and renamed.json()["contact"] == "ops@tally.example"
    assert widened.status_code == 202 and still["allowed_types"] == ["service.used.v1"]
    assert suspend.status_code == 202
    assert final["allowed_types"] == ["service.used.v1", "volunteer.logged.v1"]
    assert final["status"] == "active", "the suspension was refused"


async def test_goodwill_above_the_threshold_needs_a_second_supervisor(
    make_settings: Callable[..., CasesSettings], token: Token
) -> None:
    settings = make_settings(CasesSettings, goodwill_approval_threshold=100)
    clock = Clock(datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    who = Actors(token, "drv_goodwill")
    handler = who.unit(token, "U1")
    async with running(settings, clock) as (_, client):
        case = await open_case(client, who.driver, "drv_goodwill", category="programme_points")
        cid = case["case_id"]
        assert (await act(client, cid, "dispatch", who.dispatcher, unit_ids=["U1"])).is_success
        assert (await act(client, cid, "accept", handler)).is_success
        done = await act(client, cid, "resolve", handler, outcome="upheld", note="积分漏记")
        assert done.status_code == 200, done.text
        url = f"/v1/cases/{cid}/compensation"
        small = await client.post(
            url, json={"kind": "restoration", "amount": 300}, headers=who.sup1
        )
        big = await client.post(url, json={"kind": "goodwill", "amount": 101}, headers=who.sup1)
        pending = (await client.get(f"/v1/cases/{cid}", headers=who.sup1)).json()
        own = await decide(client, big, "approve", who.sup1)
        unscoped = await decide(client, big, "approve", who.dispatcher)
        runs = [await decide(client, big, "approve", who.sup2) for _ in range(2)]
        granted = (await client.get(f"/v1/cases/{cid}", headers=who.sup1)).json()
    assert small.status_code == 200, "restoration never waits"
    assert big.status_code == 202
    assert [c["kind"] for c in pending["compensations"]] == ["restoration"]
    assert refusals(own, unscoped) == [(403, "maker_is_checker"), (403, "cases:supervise")]
    assert [r.json()["state"] for r in runs] == ["executed", "executed"]
    goodwill = [c for c in granted["compensations"] if c["kind"] == "goodwill"]
    assert [(c["amount"], c["by"], c["approval"]) for c in goodwill] == [
        (101, "supervisor-2", ["supervisor-1", "supervisor-2"])
    ]
