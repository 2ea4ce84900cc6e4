"""Registry rules over HTTP against the real store and broker: identity, plates, formats,
access and search."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from common.testing import id_check_digit, with_wrong_check_digit
from registry.app import create_app
from registry.settings import RegistrySettings
from tests.support import serve

Headers = Callable[..., dict[str, str]]


def national_id(serial: int, area: str = "330206") -> str:
    body = f"{area}1980{1 + serial % 12:02d}{1 + serial % 28:02d}{serial % 1000:03d}"
    return body + id_check_digit(body)


def _month_13() -> str:
    body = "3302061980" + "13" + "01" + "001"
    return body + id_check_digit(body)


def driver(serial: int, **overrides: Any) -> dict[str, Any]:
    return {
        "name": f"王{'建国志强海平'[serial % 6]}",
        "phone": f"139{serial:08d}",
        "national_id": national_id(serial),
        "plate": f"浙B{serial:05d}",
        **overrides,
    }


@asynccontextmanager
async def registry(
    make_settings: Callable[..., RegistrySettings],
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        yield http


async def register(http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    answer = await http.post("/v1/drivers", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    driver_id: str = answer.json()["driver_id"]
    return driver_id


async def test_a_second_registration_with_other_details_changes_nothing_and_queues_a_review(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    async with registry(make_settings) as http:
        first = await register(http, token(), driver(1))
        again = await http.post(
            "/v1/drivers", json=driver(1, name="王小明", phone="13900000999"), headers=token()
        )
        fetched = await http.get(f"/v1/drivers/{first}", headers=token())
        reviews = await http.get("/v1/reviews", params={"driver_id": first}, headers=token())
    assert again.status_code == 200 and again.json()["driver_id"] == first
    assert fetched.json()["name"] == driver(1)["name"]
    assert fetched.json()["phone"] == "139****0001"
    queued = {(r["field"], r["reason"]) for r in reviews.json()["items"]}
    assert queued == {("name", "differs"), ("phone", "differs")}
    assert "13900000999" not in reviews.text, "a proposed phone is shown masked"


async def test_a_plate_held_by_an_active_driver_cannot_be_registered_or_added_to_another(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    async with registry(make_settings) as http:
        holder = await register(http, token(), driver(2, plate="浙B2M001"))
        refused = await http.post("/v1/drivers", json=driver(3, plate="浙B2M001"), headers=token())
        other = await register(http, token(), driver(3, plate="浙B2M002"))
        added = await http.post(
            f"/v1/drivers/{other}/vehicles", json={"plate": "浙B 2M001"}, headers=token()
        )
        by_plate = await http.get("/v1/drivers", params={"plate": "浙B2M001"}, headers=token())
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert added.status_code == 409, added.text
    assert [d["driver_id"] for d in by_plate.json()["items"]] == [holder]


async def test_a_deactivated_drivers_plate_can_go_to_another_driver_and_stays_there(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    async with registry(make_settings) as http:
        first = await register(http, token(), driver(4, plate="浙B4K004"))
        second = await register(http, token(), driver(5, plate="浙B5K005"))
        deactivated = await http.post(
            f"/v1/drivers/{first}/deactivation", json={"reason": "left_district"}, headers=token()
        )
        moved = await http.post(
            f"/v1/drivers/{second}/vehicles",
            json={"plate": "浙B4K004", "pass_number": "BL-2026-0004"},
            headers=token(),
        )
        back = await http.post(f"/v1/drivers/{first}/reactivation", headers=token())
        first_vehicles = await http.get(f"/v1/drivers/{first}/vehicles", headers=token())
        second_view = await http.get(f"/v1/drivers/{second}", headers=token())
    assert deactivated.json()["status"] == "deactivated" and deactivated.json()["plates"] == []
    assert moved.status_code == 201, moved.text
    assert back.json()["status"] == "active"
    assert first_vehicles.json() == []
    assert set(second_view.json()["plates"]) == {"浙B4K004", "浙B5K005"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("national_id", with_wrong_check_digit(national_id(900))),
        ("national_id", _month_13()),
        ("phone", "12812345678"),
        ("phone", "1391234567x"),
        ("plate", "浙I12345"),  # I is not an issuing-authority letter
        ("plate", "ZJB12345"),
    ],
)
async def test_invalid_ids_phones_and_plates_are_refused_without_echoing_them(
    make_settings: Callable[..., RegistrySettings], token: Headers, field: str, value: str
) -> None:
    async with registry(make_settings) as http:
        answer = await http.post("/v1/drivers", json=driver(6, **{field: value}), headers=token())
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"][-1] == field
    assert value not in answer.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/v1/drivers/{id}", {"nickname": "老王"}),
        ("patch", "/v1/drivers/{id}", {"name": {"$ne": ""}}),
        ("post", "/v1/drivers/search", {"phone": {"$regex": ".*"}}),
        ("post", "/v1/drivers/search", {"name_prefix": "$where"}),
        ("put", "/v1/drivers/{id}/consents/points", {"granted": True, "channel": "app", "x": 1}),
        ("post", "/v1/fleets", {"name": "龙星物流", "$set": {"verified": True}}),
        ("post", "/v1/organisations", {"name": "x", "kind": "party_branch", "color": "red"}),
    ],
)
async def test_unknown_fields_and_operators_are_refused_with_422(
    make_settings: Callable[..., RegistrySettings],
    token: Headers,
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    async with registry(make_settings) as http:
        driver_id = await register(http, token(), driver(7))
        answer = await http.request(
            method.upper(), path.format(id=driver_id), json=body, headers=token()
        )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


async def test_drivers_reach_only_their_own_records_and_others_look_missing(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    async with registry(make_settings) as http:
        me = await register(http, token(), driver(8))
        other = await register(http, token(), driver(9))
        mine = token("driver", driver_id=me)
        answers = [
            await http.get(f"/v1/drivers/{other}", headers=mine),
            await http.patch(f"/v1/drivers/{other}", json={"languages": ["zh"]}, headers=mine),
            await http.get(f"/v1/drivers/{other}/vehicles", headers=mine),
            await http.get(f"/v1/drivers/{other}/consents", headers=mine),
            await http.get(f"/v1/drivers/{other}/family", headers=mine),
            await http.put(
                f"/v1/drivers/{other}/consents/points",
                json={"granted": True, "channel": "app"},
                headers=mine,
            ),
            await http.get("/v1/drivers/drv_does_not_exist", headers=token()),
        ]
        own = await http.patch(f"/v1/drivers/{me}", json={"languages": ["zh", "yue"]}, headers=mine)
        own_name = await http.patch(f"/v1/drivers/{me}", json={"name": "王五"}, headers=mine)
        self_again = await http.post("/v1/drivers", json=driver(9), headers=token("driver"))
        own_again = await http.post("/v1/drivers", json=driver(8), headers=mine)
    assert self_again.status_code == 409 and other not in self_again.text
    assert own_again.status_code == 200 and own_again.json()["driver_id"] == me
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert len({a.json()["detail"] for a in answers[:1] + answers[-1:]}) == 1
    assert own.status_code == 200 and own.json()["languages"] == ["zh", "yue"]
    assert own_name.status_code == 403


async def test_partners_see_only_drivers_they_registered_or_who_confirmed_the_link(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    port = token("partner", partner_id="port-booking")
    kiosk = token("partner", partner_id="station-kiosk")
    async with registry(make_settings) as http:
        theirs = await http.post(
            "/v1/drivers", json=driver(10, partner_driver_ref="PB-10"), headers=port
        )
        not_theirs = await register(http, token(), driver(11))
        own_view = await http.get(f"/v1/drivers/{theirs.json()['driver_id']}", headers=port)
        cross = await http.get(f"/v1/drivers/{theirs.json()['driver_id']}", headers=kiosk)
        unlinked = await http.get(f"/v1/drivers/{not_theirs}", headers=port)
        # Knowing a known driver's full identity only asks for a link (issue 14): the driver
        # confirms it before the partner sees them.
        asked = await http.post("/v1/drivers", json=driver(11), headers=port)
        before_confirming = await http.get(f"/v1/drivers/{not_theirs}", headers=port)
        await http.post(
            f"/v1/drivers/{not_theirs}/partner-links/port-booking",
            headers=token("driver", driver_id=not_theirs),
        )
        after_link = await http.get(f"/v1/drivers/{not_theirs}", headers=port)
        ref_from_operator = await http.post(
            "/v1/drivers", json=driver(12, partner_driver_ref="X"), headers=token()
        )
    assert theirs.status_code == 201 and theirs.json()["channel"] == "partner"
    assert own_view.status_code == 200
    assert own_view.json()["partner_links"][0]["partner_driver_ref"] == "PB-10"
    assert cross.status_code == 404 and unlinked.status_code == 404
    assert asked.status_code == 202 and before_confirming.status_code == 404
    assert after_link.status_code == 200
    assert ref_from_operator.status_code == 403


async def test_station_staff_look_drivers_up_by_plate_phone_or_id_and_see_masked_values(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    station = token("station", station_id="st-beilun-01")
    async with registry(make_settings) as http:
        driver_id = await register(http, token(), driver(13))
        by_phone = await http.post(
            "/v1/drivers/search", json={"phone": "+86 139-0000-0013"}, headers=station
        )
        by_id = await http.post(
            "/v1/drivers/search", json={"national_id": national_id(13)}, headers=station
        )
        browse = await http.post("/v1/drivers/search", json={"status": "active"}, headers=station)
        listing = await http.get("/v1/drivers", headers=station)
        reveal = await http.post(
            f"/v1/drivers/{driver_id}/pii/reveal",
            json={"field": "phone", "purpose": "identity_check"},
            headers=token("station", station_id="st-beilun-01", scope="pii:read"),
        )
    assert [d["driver_id"] for d in by_phone.json()["items"]] == [driver_id]
    assert [d["driver_id"] for d in by_id.json()["items"]] == [driver_id]
    assert "13900000013" not in by_phone.text and national_id(13) not in by_id.text
    assert browse.status_code == 403 and listing.status_code == 403
    assert reveal.status_code == 403


async def test_operators_search_by_name_prefix_fleet_grid_organisation_and_status_page_by_page(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    async with registry(make_settings) as http:
        grid = (
            await http.post(
                "/v1/grids",
                json={"name": "霞浦第3网格", "community": "物流工业社区"},
                headers=token(),
            )
        ).json()["grid_id"]
        branch = (
            await http.post(
                "/v1/organisations",
                json={
                    "name": "集卡司机之家党支部",
                    "kind": "party_branch",
                    "branch_type": "business",
                },
                headers=token(),
            )
        ).json()["organisation_id"]
        ids = []
        for serial, name in enumerate(["李海平", "李小龙", "李春生", "张卫东"], start=20):
            ids.append(await register(http, token(), driver(serial, name=name, fleet="龙星物流")))
        for driver_id in ids[:3]:
            await http.patch(f"/v1/drivers/{driver_id}", json={"grid_id": grid}, headers=token())
        await http.post(
            f"/v1/organisations/{branch}/members",
            json={"driver_id": ids[1], "mobile": True, "home_organisation": "阜阳市某村党支部"},
            headers=token(),
        )
        await http.post(
            f"/v1/drivers/{ids[2]}/deactivation", json={"reason": "retired"}, headers=token()
        )
        fleet_id = (await http.get(f"/v1/drivers/{ids[0]}", headers=token())).json()["fleet_id"]

        async def found(**params: str) -> list[str]:
            answer = await http.get("/v1/drivers", params=params, headers=token())
            assert answer.status_code == 200, answer.text
            return sorted(d["driver_id"] for d in answer.json()["items"])

        first_page = await http.get(
            "/v1/drivers", params={"name_prefix": "李", "limit": 2}, headers=token()
        )
        second_page = await http.get(
            "/v1/drivers",
            params={"name_prefix": "李", "limit": 2, "cursor": first_page.json()["next_cursor"]},
            headers=token(),
        )
        results = {
            "name": await found(name_prefix="李"),
            "fleet": await found(fleet_id=fleet_id),
            "grid": await found(grid_id=grid),
            "organisation": await found(organisation_id=branch),
            "grid_active": await found(grid_id=grid, status="active"),
            "deactivated": await found(status="deactivated"),
        }
        members = await http.get(f"/v1/organisations/{branch}/members", headers=token())
    paged = [d["driver_id"] for d in first_page.json()["items"] + second_page.json()["items"]]
    assert sorted(paged) == sorted(ids[:3]) and len(set(paged)) == 3
    assert results["name"] == sorted(ids[:3])
    assert results["fleet"] == sorted(ids)
    assert results["grid"] == sorted(ids[:3])
    assert results["organisation"] == [ids[1]]
    assert results["grid_active"] == sorted(ids[:2])
    assert results["deactivated"] == [ids[2]]
    membership = members.json()["items"][0]["memberships"][0]
    assert membership["mobile"] is True and membership["home_organisation"] == "阜阳市某村党支部"


async def test_a_retried_registration_with_the_same_idempotency_key_answers_the_first_answer(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    headers = {**token(sub="operator-ningbo-7"), "Idempotency-Key": "reg-0001"}
    async with registry(make_settings) as http:
        first = await http.post("/v1/drivers", json=driver(30), headers=headers)
        retry = await http.post("/v1/drivers", json=driver(30), headers=headers)
        misuse = await http.post("/v1/drivers", json=driver(31), headers=headers)
    assert first.status_code == 201 and retry.status_code == 201
    assert retry.json() == first.json()
    assert misuse.status_code == 422


async def test_party_branches_name_their_type_and_other_organisations_do_not(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    async with registry(make_settings) as http:
        kinds = {}
        for kind, branch_type in [
            ("party_branch", "geographic"),
            ("party_branch", "business"),
            ("party_branch", "interest"),
            ("volunteer_team", None),
            ("union", None),
            ("service_team", None),
        ]:
            body = {"name": f"{kind}-{branch_type}", "kind": kind}
            if branch_type:
                body["branch_type"] = branch_type
            kinds[(kind, branch_type)] = await http.post(
                "/v1/organisations", json=body, headers=token()
            )
        untyped = await http.post(
            "/v1/organisations", json={"name": "x", "kind": "party_branch"}, headers=token()
        )
        typed_team = await http.post(
            "/v1/organisations",
            json={"name": "y", "kind": "union", "branch_type": "interest"},
            headers=token(),
        )
        branches = await http.get(
            "/v1/organisations", params={"kind": "party_branch"}, headers=token()
        )
    assert all(a.status_code == 201 for a in kinds.values())
    assert untyped.status_code == 422 and typed_team.status_code == 422
    assert {o["branch_type"] for o in branches.json()["items"]} == {
        "geographic",
        "business",
        "interest",
    }
