"""The district as the articles describe it (issue 16), over HTTP and registry.events: an
organisation tree with people who are not drivers in roles, grids down to micro-grids, route
grids drivers join by declaring routes, and notify targeting a subtree or a route grid from the
registry's events alone, and cases listing a subtree's or a route grid's cases. One registry,
one notify and one cases serve the whole module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cases.app import create_app as cases_app
from cases.settings import CasesSettings
from common.auth import issue_token
from common.events import CloudEvent
from common.settings import ServiceSettings
from common.testing import (
    Infra,
    dead_letters,
    drop_run,
    grant_run,
    revoke_run,
    unexpected_dead_letters,
    unique_name,
    wait_until,
)
from notify.app import create_app as notify_app
from notify.settings import NotifySettings
from registry.app import create_app as registry_app
from registry.settings import RegistrySettings
from tests.integration.stations_harness import read_whole_topic
from tests.integration.test_registry_rules import driver
from tests.support import serve, settings_builder

Json = dict[str, Any]


@dataclass
class District:
    infra: Infra
    registry: httpx.AsyncClient
    notify: httpx.AsyncClient
    cases: httpx.AsyncClient
    settings: RegistrySettings
    auth: Callable[..., dict[str, str]]

    async def post(self, path: str, body: Json) -> Json:
        answer = await self.registry.post(path, json=body, headers=self.auth())
        assert answer.status_code == 201, answer.text
        created: Json = answer.json()
        return created

    async def org(self, name: str, kind: str, parent: str | None = None, **more: Any) -> str:
        body = {"name": name, "kind": kind, "parent_id": parent, **more}
        return str((await self.post("/v1/organisations", body))["organisation_id"])

    async def grid(self, name: str, level: str, parent: str | None = None) -> str:
        body = {"name": name, "community": "物流工业社区", "level": level, "parent_id": parent}
        return str((await self.post("/v1/grids", body))["grid_id"])

    async def driver(self, serial: int, **patch: Any) -> str:
        driver_id = str((await self.post("/v1/drivers", driver(serial)))["driver_id"])
        if patch:
            answer = await self.registry.patch(
                f"/v1/drivers/{driver_id}", json=patch, headers=self.auth()
            )
            assert answer.status_code == 200, answer.text
        return driver_id

    async def get(self, path: str, **params: Any) -> Json:
        answer = await self.registry.get(path, params=params, headers=self.auth())
        assert answer.status_code == 200, answer.text
        found: Json = answer.json()
        return found

    async def events(self, kind: str) -> list[CloudEvent]:
        topic = self.settings.topic("registry.events")
        raw = await read_whole_topic(self.settings.kafka_bootstrap, topic)
        return [e for e in (CloudEvent.model_validate_json(v) for v in raw) if e.type == kind]


def _auth(role: str = "operator", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(ServiceSettings(), role=role, **claims)}"}


@pytest.fixture(scope="module")
async def d(infra: Infra) -> AsyncIterator[District]:
    run = unique_name("t")
    grants = await grant_run(infra, run)

    settings = settings_builder(infra, run)

    registry = settings(RegistrySettings)
    try:
        async with (
            serve(registry_app(registry)) as http,
            serve(notify_app(settings(NotifySettings))) as notify,
            serve(cases_app(settings(CasesSettings), scan=False)) as cases,
        ):
            yield District(infra, http, notify, cases, registry, _auth)
    finally:
        try:
            report = unexpected_dead_letters(
                await dead_letters(infra.kafka_bootstrap, f"{run}."), None
            )
        finally:
            await drop_run(infra, run)
            await revoke_run(infra, grants)
    assert not report, report


async def test_wenzhou_four_levels_form_a_tree_queried_by_subtree_and_moved_without_cycles(
    d: District,
) -> None:
    committee = await d.org("温州市交通运输行业党委", "industry_party_committee")
    association = await d.org("货运行业协会党总支", "industry_association", committee)
    branch = await d.org("传化公路港党支部", "enterprise_branch", association)
    other = await d.org(
        "瓯海区行业综合党委",
        "comprehensive_party_committee",
        None,
        departments=["发改", "工信", "商促", "市监", "邮政"],
    )
    member = await d.driver(601)
    joined = await d.registry.post(
        f"/v1/organisations/{branch}/members", json={"driver_id": member}, headers=d.auth()
    )
    assert joined.status_code == 201, joined.text

    tree = await d.get(f"/v1/organisations/{committee}/subtree")
    assert {o["organisation_id"] for o in tree["items"]} == {committee, association, branch}
    fetched = await d.get(f"/v1/organisations/{branch}")
    assert fetched["ancestor_ids"] == [committee, association]
    assert (await d.get(f"/v1/organisations/{other}"))["departments"][0] == "发改"
    direct = await d.get(f"/v1/organisations/{committee}/members")
    below = await d.get(f"/v1/organisations/{committee}/members", subtree="true")
    assert direct["items"] == []
    assert [m["driver_id"] for m in below["items"]] == [member]

    for target in (association, branch):  # under itself, under its own descendant
        refused = await d.registry.put(
            f"/v1/organisations/{association}/parent",
            json={"parent_id": target},
            headers=d.auth(),
        )
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    narrow = await d.registry.put(
        f"/v1/organisations/{association}/parent",
        json={"parent_id": other},
        headers=d.auth("operator", roles=["auditor"]),
    )
    assert narrow.status_code == 403 and "orgs:manage" in narrow.text

    moved = await d.registry.put(
        f"/v1/organisations/{association}/parent", json={"parent_id": other}, headers=d.auth()
    )
    assert moved.status_code == 200 and moved.json()["ancestor_ids"] == [other]
    assert (await d.get(f"/v1/organisations/{branch}"))["ancestor_ids"] == [other, association]
    left = await d.get(f"/v1/organisations/{committee}/subtree")
    assert [o["organisation_id"] for o in left["items"]] == [committee]

    async def announced() -> list[CloudEvent] | None:
        placed = [
            e
            for e in await d.events("organisation.placed.v1")
            if (e.data or {}).get("moved_root_id") == association
        ]
        return placed if len(placed) == 2 else None

    placed = {e.subject: e.data for e in await wait_until(announced)}
    assert placed[association]["previous_parent_id"] == committee
    assert placed[association]["ancestor_ids"] == [other]
    assert placed[branch]["ancestor_ids"] == [other, association]
    updates = [e.data for e in await d.events("driver.updated.v1") if e.subject == member]
    assert any(u.get("organisation_ids") == [branch] for u in updates if u)


async def test_beilun_mobile_branch_has_a_social_worker_secretary_instructors_and_mobile_members(
    d: District,
) -> None:
    community = await d.org("霞浦物流工业社区党委", "community_party_organisation")
    mobile = await d.org("集卡司机流动党支部一", "mobile_branch", community, branch_type="interest")
    no_type = await d.registry.post(
        "/v1/organisations",
        json={"name": "x", "kind": "mobile_branch", "parent_id": community},
        headers=d.auth(),
    )
    assert no_type.status_code == 422
    worker = (await d.post("/v1/people", {"name": "徐丹丹", "kind": "social_worker"}))["person_id"]
    second = (await d.post("/v1/people", {"name": "丁慈英", "kind": "official"}))["person_id"]
    mentor = (await d.post("/v1/people", {"name": "双指导员甲", "kind": "instructor"}))["person_id"]

    async def appoint(person: str, role: str) -> httpx.Response:
        return await d.registry.put(
            f"/v1/organisations/{mobile}/people/{person}", json={"role": role}, headers=d.auth()
        )

    assert (await appoint(worker, "secretary")).status_code == 201
    assert (await appoint(worker, "secretary")).status_code == 200
    taken = await appoint(second, "secretary")
    assert taken.status_code == 409, taken.text
    assert (await appoint(mentor, "dual_instructor")).status_code == 201

    member = await d.driver(602)
    placed = await d.registry.post(
        f"/v1/organisations/{mobile}/members",
        json={"driver_id": member, "mobile": True, "residence_organisation_id": community},
        headers=d.auth(),
    )
    assert placed.status_code == 201 and placed.json()["residence_organisation_id"] == community
    not_mobile = await d.registry.post(
        f"/v1/organisations/{mobile}/members",
        json={"driver_id": await d.driver(603), "residence_organisation_id": community},
        headers=d.auth(),
    )
    assert not_mobile.status_code == 422

    people = await d.get(f"/v1/organisations/{community}/people", subtree="true")
    roles = {(p["name"], p["role"], p["kind"]) for p in people["items"]}
    assert roles == {
        ("徐丹丹", "secretary", "social_worker"),
        ("双指导员甲", "dual_instructor", "instructor"),
    }
    assert (await d.get(f"/v1/organisations/{community}/people"))["items"] == []
    gone = await d.registry.delete(f"/v1/organisations/{mobile}/people/{worker}", headers=d.auth())
    assert gone.status_code == 204
    assert (await appoint(second, "secretary")).status_code == 201
    counted = await d.get("/v1/district/figures", organisation_id=community)
    assert counted["organisations_by_kind"] == {
        "community_party_organisation": 1,
        "mobile_branch": 1,
    }
    assert counted["branches_by_type"] == {"interest": 1}
    assert counted["people_by_role"] == {"secretary": 1, "dual_instructor": 1}


async def test_grids_reach_micro_grids_and_route_grids_gather_drivers_by_declared_routes(
    d: District,
) -> None:
    community = await d.grid("物流工业社区", "community")
    grid = await d.grid("第一网格", "grid", community)
    micro = await d.grid("第一网格-微网格1", "micro_grid", grid)
    flat = await d.post("/v1/grids", {"name": "旧网格", "community": "大碶"})
    assert flat["parent_id"] is None and flat["ancestor_ids"] == []
    resident = await d.driver(604, grid_id=micro)

    micro_only = await d.get(f"/v1/grids/{community}/subtree", level="micro_grid")
    assert [g["grid_id"] for g in micro_only["items"]] == [micro]
    drivers = await d.get(f"/v1/grids/{community}/drivers", subtree="true")
    assert [x["driver_id"] for x in drivers["items"]] == [resident]
    assert (await d.get(f"/v1/grids/{community}/drivers"))["items"] == []
    cycle = await d.registry.put(
        f"/v1/grids/{community}/parent", json={"parent_id": micro}, headers=d.auth()
    )
    assert cycle.status_code == 409

    corridor = await d.post(
        "/v1/route-grids", {"name": "鲁苏豫", "places": ["山东", "江苏", "河南"]}
    )
    yangtze = await d.post(
        "/v1/route-grids", {"name": "长江沿线", "places": ["上海", "湖北", "重庆"]}
    )
    unit = await d.org("枣庄国企联盟单位", "alliance_unit")
    allied = await d.registry.put(
        f"/v1/route-grids/{corridor['route_grid_id']}/alliance/{unit}", headers=d.auth()
    )
    assert allied.json()["alliance"] == [unit]

    trucker = await d.driver(605)
    own = _auth("driver", driver_id=trucker)
    routes = {"routes": [{"origin": "枣庄", "destination": "上海", "via": ["江苏"]}]}
    declared = await d.registry.put(f"/v1/drivers/{trucker}/routes", json=routes, headers=own)
    assert declared.status_code == 200, declared.text
    assert set(declared.json()["route_grid_ids"]) == {
        corridor["route_grid_id"],
        yangtze["route_grid_id"],
    }
    others = await d.registry.put(f"/v1/drivers/{resident}/routes", json=routes, headers=own)
    assert others.status_code == 404
    members = await d.get(f"/v1/route-grids/{corridor['route_grid_id']}/drivers")
    assert [x["driver_id"] for x in members["items"]] == [trucker]
    assert members["items"][0]["route_grid_ids"] == sorted(declared.json()["route_grid_ids"])

    figures = await d.get("/v1/district/figures")
    assert figures["grids_by_level"]["micro_grid"] >= 1
    assert figures["route_grids"] >= 2
    one = await d.get("/v1/district/figures", grid_id=community)
    assert one["grids_by_level"] == {"community": 1, "grid": 1, "micro_grid": 1}


async def _broadcast(d: District, segment: Json) -> int:
    body = {
        "category": "policy",
        "segment": segment,
        "content": {"zh-CN": {"title": "网格通知", "body": "本周六集中体检。"}},
    }
    headers = {**d.auth(), "Idempotency-Key": unique_name("k")}
    answer = await d.notify.post("/v1/broadcasts", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    bid = answer.json()["broadcast_id"]

    async def completed() -> Json | None:
        got: Json = (await d.notify.get(f"/v1/broadcasts/{bid}", headers=d.auth())).json()
        return got if got["status"] == "completed" else None

    targeted: int = (await wait_until(completed, timeout=45))["progress"]["targeted"]
    return targeted


async def test_notify_targets_a_grid_subtree_and_a_route_grid_from_registry_events(
    d: District, mongo: Any
) -> None:
    community = await d.grid("霞浦社区", "community")
    grids = [await d.grid(f"网格{i}", "grid", community) for i in (1, 2)]
    micro = await d.grid("微网格", "micro_grid", grids[1])
    outside = await d.grid("别处", "community")
    inside = [await d.driver(610, grid_id=grids[0]), await d.driver(611, grid_id=micro)]
    await d.driver(612, grid_id=outside)
    corridor = await d.post("/v1/route-grids", {"name": "东北", "places": ["辽宁", "吉林"]})
    await d.registry.put(
        f"/v1/drivers/{inside[0]}/routes",
        json={"routes": [{"origin": "宁波", "destination": "沈阳", "via": ["辽宁"]}]},
        headers=d.auth(),
    )
    facts = mongo[f"{d.settings.topic_prefix[:-1]}_notify"]

    async def learned() -> bool:
        first = await facts["drivers"].find_one({"_id": inside[0]})
        placed = await facts["units"].find_one({"_id": f"grid:{micro}"})
        return bool(
            first
            and first.get("route_grids") == [corridor["route_grid_id"]]
            and placed
            and placed["ancestor_ids"] == [community, grids[1]]
            and await facts["drivers"].count_documents({"grid": micro})
        )

    await wait_until(learned, timeout=45)
    assert await _broadcast(d, {"kind": "grid", "value": community, "subtree": True}) == 2
    assert await _broadcast(d, {"kind": "grid", "value": community}) == 0
    route = {"kind": "route_grid", "value": corridor["route_grid_id"]}
    assert await _broadcast(d, route) == 1


async def test_cases_list_a_grid_subtree_or_a_route_grid_from_registry_events(
    d: District, mongo: Any
) -> None:
    community = await d.grid("大碶社区", "community")
    micro = await d.grid("大碶微网格", "micro_grid", await d.grid("大碶第1网格", "grid", community))
    near, far = await d.driver(620, grid_id=micro), await d.driver(621)
    corridor = await d.post("/v1/route-grids", {"name": "京津冀", "places": ["北京", "河北"]})
    await d.registry.put(
        f"/v1/drivers/{far}/routes",
        json={"routes": [{"origin": "宁波", "destination": "北京"}]},
        headers=d.auth(),
    )
    learnt = mongo[f"{d.settings.topic_prefix[:-1]}_cases"]

    async def known() -> bool:
        placed = await learnt["unit_tree"].find_one({"_id": f"grid:{micro}"})
        routed = await learnt["driver_units"].find_one({"_id": far})
        dossier = await learnt["dossiers"].find_one({"_id": near})
        return bool(placed and routed and routed.get("route_grids") and dossier)

    await wait_until(known, timeout=45)
    opened = {}
    for who in (near, far):
        answer = await d.cases.post(
            "/v1/cases",
            json={
                "driver_id": who,
                "kind": "help_request",
                "category": "freight_payment",
                "description": "运费拖欠",
            },
            headers=_auth("driver", driver_id=who, sub=f"sub-{who}"),
        )
        assert answer.status_code == 201, answer.text
        opened[who] = answer.json()["case"]["case_id"]
    oversight = _auth("operator", scope="cases:supervise", sub="supervisor-d")

    async def listed(**params: Any) -> set[str]:
        answer = await d.cases.get("/v1/cases", params=params, headers=oversight)
        assert answer.status_code == 200, answer.text
        return {c["case_id"] for c in answer.json()["items"]}

    subtree = await listed(unit="grid", unit_id=community, subtree="true")
    assert subtree == {opened[near]}
    assert await listed(unit="grid", unit_id=community) == set()
    assert await listed(unit="route_grid", unit_id=corridor["route_grid_id"]) == {opened[far]}


async def test_notify_targets_drivers_of_a_kind_from_registry_events(
    d: District, mongo: Any
) -> None:
    taxi = str((await d.post("/v1/drivers", driver(640, kind="taxi")))["driver_id"])
    hailing = str((await d.post("/v1/drivers", driver(641, kind="taxi")))["driver_id"])
    moved = await d.registry.patch(
        f"/v1/drivers/{hailing}", json={"kind": "ride_hailing"}, headers=d.auth()
    )
    assert moved.status_code == 200, moved.text
    facts = mongo[f"{d.settings.topic_prefix[:-1]}_notify"]["drivers"]

    async def learned() -> bool:
        return (
            await facts.count_documents({"_id": taxi, "driver_kind": "taxi"}) == 1
            and await facts.count_documents({"_id": hailing, "driver_kind": "ride_hailing"}) == 1
        )

    await wait_until(learned, timeout=45)
    assert await _broadcast(d, {"kind": "driver_kind", "value": "taxi"}) == 1
    assert await _broadcast(d, {"kind": "driver_kind", "value": "ride_hailing"}) == 1
    trucks = await facts.count_documents({"driver_kind": {"$nin": ["taxi", "ride_hailing"]}})
    assert await _broadcast(d, {"kind": "driver_kind", "value": "container_truck"}) == trucks
    body = {
        "category": "policy",
        "segment": {"kind": "driver_kind", "value": "tractor"},
        "content": {"zh-CN": {"title": "通知", "body": "内容"}},
    }
    headers = {**d.auth(), "Idempotency-Key": unique_name("k")}
    refused = await d.notify.post("/v1/broadcasts", json=body, headers=headers)
    assert refused.status_code == 422


async def test_the_census_asks_routes_status_interests_needs_refers_a_need_and_feeds_back(
    d: District,
) -> None:
    campaign = (await d.post("/v1/census/campaigns", {"quarter": "2026Q3"}))["campaign_id"]
    grid = await d.grid("薛城陶庄网格", "grid")
    branch = await d.org("薛城业缘型支部甲", "party_branch", branch_type="business")
    driver_id = await d.driver(630, grid_id=grid)
    await d.registry.post(
        f"/v1/organisations/{branch}/members", json={"driver_id": driver_id}, headers=d.auth()
    )
    corridor = await d.post("/v1/route-grids", {"name": "鲁苏豫线", "places": ["山东", "河南"]})
    survey = {
        "routes": [{"origin": "枣庄", "destination": "郑州", "via": ["河南"]}],
        "political_status": "party_member",
        "interests": ["table_tennis", "reading"],
        "needs": [{"category": "schooling", "summary": "孩子转学 联系 13900000630"}],
    }
    path = f"/v1/drivers/{driver_id}/verifications"
    refused = await d.registry.post(
        path, json={"campaign_id": campaign, "survey": survey}, headers=d.auth()
    )
    assert refused.status_code == 422, "political status only with the driver's consent"
    consented = {**survey, "political_status_consent": True}
    answered = await d.registry.post(
        path, json={"campaign_id": campaign, "survey": consented}, headers=d.auth()
    )
    assert answered.status_code == 200, answered.text
    answers = await d.get(f"/v1/drivers/{driver_id}/census-answers")
    assert answers["political_status"] == "party_member"
    assert answers["interests"] == ["reading", "table_tennis"]
    need = answers["needs"][0]["need_id"]
    clerkless = await d.registry.get(
        f"/v1/drivers/{driver_id}/census-answers", headers=d.auth("operator", roles=["auditor"])
    )
    assert clerkless.status_code == 403

    referral = f"/v1/drivers/{driver_id}/census-needs/{need}/case"
    first = await d.registry.post(referral, headers=d.auth())
    again = await d.registry.post(referral, headers=d.auth())
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["referred_at"] == again.json()["referred_at"]
    oversight = _auth("operator", scope="cases:supervise", sub="supervisor-c")

    async def opened() -> list[Json] | None:
        answer = await d.cases.get("/v1/cases", params={"driver_id": driver_id}, headers=oversight)
        items: list[Json] = answer.json()["items"]
        return items or None

    cases = await wait_until(opened, timeout=45)
    assert [c["category"] for c in cases] == ["schooling"]
    assert "孩子转学" in cases[0]["description"]
    assert "13900000630" not in cases[0]["description"]

    report = await d.get(f"/v1/census/campaigns/{campaign}/report")
    by_grid = {g["unit_id"]: g for g in report["grids"]}
    assert by_grid[grid]["drivers_answered"] == 1
    assert by_grid[grid]["needs"] == {"schooling": 1}
    assert by_grid[grid]["needs_referred"] == 1
    assert by_grid[grid]["party_members"] == 1
    assert by_grid[grid]["route_grids"][corridor["route_grid_id"]] == 1
    assert {o["unit_id"] for o in report["organisations"]} == {branch}
    fed = await d.registry.post(f"/v1/census/campaigns/{campaign}/feedback", headers=d.auth())
    assert fed.status_code == 200, fed.text

    async def fed_back() -> list[CloudEvent] | None:
        found = await d.events("census.results_fed_back.v1")
        return found or None

    event = (await wait_until(fed_back))[0]
    assert event.subject == campaign
    assert [g["unit_id"] for g in (event.data or {})["grids"]] == [grid]
    assert driver_id not in event.model_dump_json()
