"""Consent, family, audited reveal, the quarterly census and port passes, on the real store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common.testing import read_topic
from registry.app import create_app
from registry.consent import ChildInput, FamilyInput
from registry.oversight import current_quarter
from registry.records import Actor
from registry.settings import RegistrySettings
from tests.integration.test_registry_lifecycle import database_text, distinct
from tests.integration.test_registry_rules import driver, national_id
from tests.support import serve

Headers = Callable[..., dict[str, str]]


async def test_family_details_are_refused_without_the_family_services_consent(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    year = datetime.now(UTC).year
    family = {
        "spouse_name": "林秀兰",
        "children": [
            {"name": "刘子涵", "birth_year": year - 9},
            {"name": "刘子墨", "birth_year": year - 2},
        ],
    }
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        driver_id = (await http.post("/v1/drivers", json=driver(60), headers=token())).json()[
            "driver_id"
        ]
        me = token("driver", driver_id=driver_id)
        refused = await http.put(f"/v1/drivers/{driver_id}/family", json=family, headers=me)
        granted = await http.put(
            f"/v1/drivers/{driver_id}/consents/family_services",
            json={"granted": True, "channel": "app"},
            headers=me,
        )
        recorded = await http.put(f"/v1/drivers/{driver_id}/family", json=family, headers=me)
        withdrawn = await http.put(
            f"/v1/drivers/{driver_id}/consents/family_services",
            json={"granted": False, "channel": "app"},
            headers=me,
        )
        after_withdrawal = await http.get(f"/v1/drivers/{driver_id}/family", headers=me)
        refused_again = await http.put(
            f"/v1/drivers/{driver_id}/family", json=family, headers=token()
        )
    assert refused.status_code == 409, refused.text
    assert granted.json()["current"]["family_services"]["granted"] is True
    assert refused.json()["type"].endswith("consent-required")
    assert recorded.status_code == 200, recorded.text
    view = recorded.json()
    assert view["spouse_name"] == "林**"
    assert [(c["name"], c["school_age"]) for c in view["children"]] == [
        ("刘**", True),
        ("刘**", False),
    ]
    assert "林秀兰" not in recorded.text and "刘子涵" not in recorded.text
    history = withdrawn.json()["history"]
    assert [(h["purpose"], h["granted"], h["channel"]) for h in history] == [
        ("family_services", True, "app"),
        ("family_services", False, "app"),
    ]
    assert all(h["at"] for h in history)
    assert withdrawn.json()["current"]["family_services"]["granted"] is False
    assert after_withdrawal.json()["spouse_name"] is None
    assert after_withdrawal.json()["children"] == []
    assert refused_again.status_code == 409


async def test_a_child_keeps_its_id_when_the_family_is_rewritten(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        driver_id = (await http.post("/v1/drivers", json=driver(61), headers=token())).json()[
            "driver_id"
        ]
        await http.put(
            f"/v1/drivers/{driver_id}/consents/family_services",
            json={"granted": True, "channel": "paper"},
            headers=token(),
        )
        first = await http.put(
            f"/v1/drivers/{driver_id}/family",
            json={"children": [{"name": "徐一", "birth_year": 2015}]},
            headers=token(),
        )
        child_id = first.json()["children"][0]["child_id"]
        second = await http.put(
            f"/v1/drivers/{driver_id}/family",
            json={
                "children": [
                    {"name": "徐一", "birth_year": 2015, "child_id": child_id},
                    {"name": "徐二", "birth_year": 2019},
                ]
            },
            headers=token(),
        )
        foreign = await http.put(
            f"/v1/drivers/{driver_id}/family",
            json={"children": [{"name": "徐三", "birth_year": 2019, "child_id": "chd_other"}]},
            headers=token(),
        )
    assert second.json()["children"][0]["child_id"] == child_id
    assert second.json()["children"][1]["child_id"] != child_id
    assert foreign.status_code == 422


async def test_a_full_reveal_needs_pii_read_and_leaves_an_audit_record_without_the_value(
    make_settings: Callable[..., RegistrySettings], token: Headers, mongo: Any
) -> None:
    settings = make_settings(RegistrySettings)
    body = driver(62)
    ask = {"field": "national_id", "purpose": "case_handling", "case_ref": "CASE-2026-062"}
    async with serve(create_app(settings)) as http:
        driver_id = (await http.post("/v1/drivers", json=body, headers=token())).json()["driver_id"]
        # A registry clerk's roles hold no pii:read (common.authz).
        without_scope = await http.post(
            f"/v1/drivers/{driver_id}/pii/reveal",
            json=ask,
            headers=token(roles=["registry_clerk"]),
        )
        allowed = token(sub="care-worker-3", scope="pii:read")
        free_text = await http.post(
            f"/v1/drivers/{driver_id}/pii/reveal",
            json={**ask, "purpose": f"checking {body['phone']}"},
            headers=allowed,
        )
        revealed = await http.post(f"/v1/drivers/{driver_id}/pii/reveal", json=ask, headers=allowed)
        phone = await http.post(
            f"/v1/drivers/{driver_id}/pii/reveal",
            json={"field": "phone", "purpose": "identity_check"},
            headers=allowed,
        )
        audit = await http.get("/v1/pii-access", params={"driver_id": driver_id}, headers=token())
        as_driver = await http.get("/v1/pii-access", headers=token("driver", driver_id=driver_id))
    assert without_scope.status_code == 403
    assert free_text.status_code == 422
    assert revealed.json()["value"] == body["national_id"]
    assert phone.json()["value"] == body["phone"]
    entries = audit.json()["items"]
    assert [(e["by"], e["field"], e["purpose"], e["driver_id"]) for e in entries] == [
        ("care-worker-3", "national_id", "case_handling", driver_id),
        ("care-worker-3", "phone", "identity_check", driver_id),
    ]
    assert all(e["at"] for e in entries)
    stored = (await database_text(mongo, settings.mongo_db))["pii_access"]
    assert "care-worker-3" in stored
    assert body["national_id"] not in stored and body["phone"] not in stored
    assert body["name"] not in stored
    assert as_driver.status_code == 403


async def test_the_census_lists_unverified_drivers_by_grid_and_a_verification_takes_them_off(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any
) -> None:
    settings = make_settings(RegistrySettings)
    async with serve(create_app(settings)) as http:
        grids = [
            (
                await http.post(
                    "/v1/grids",
                    # The station's census assignment: its staff verify these grids' drivers.
                    json={"name": name, "community": "霞浦社区", "station_id": "st-beilun-01"},
                    headers=token(),
                )
            ).json()["grid_id"]
            for name in ("霞浦第1网格", "霞浦第2网格")
        ]
        ids = []
        for serial, grid in zip(range(63, 66), [grids[0], grids[0], grids[1]], strict=True):
            driver_id = (
                await http.post("/v1/drivers", json=driver(serial), headers=token())
            ).json()["driver_id"]
            await http.patch(f"/v1/drivers/{driver_id}", json={"grid_id": grid}, headers=token())
            ids.append(driver_id)
        started = await http.post("/v1/census/campaigns", json={}, headers=token())
        again = await http.post("/v1/census/campaigns", json={}, headers=token())
        campaign_id = started.json()["campaign_id"]
        pending_before = await http.get(
            f"/v1/census/campaigns/{campaign_id}/pending",
            params={"grid_id": grids[0]},
            headers=token(),
        )
        verified = await http.post(
            f"/v1/drivers/{ids[0]}/verifications",
            json={"campaign_id": campaign_id, "changes": {"home_province": "江西"}},
            headers=token("station", station_id="st-beilun-01", sub="station-clerk-5"),
        )
        pending_after = await http.get(
            f"/v1/census/campaigns/{campaign_id}/pending",
            params={"grid_id": grids[0]},
            headers=token(),
        )
        progress = await http.get(f"/v1/census/campaigns/{campaign_id}", headers=token())
        records = await read_topic(
            infra.kafka_bootstrap, settings.topic("registry.events"), min_records=7
        )
    assert started.status_code == 201 and again.status_code == 200
    assert (
        again.json()["campaign_id"] == campaign_id == f"census-{current_quarter(datetime.now(UTC))}"
    )
    assert sorted(d["driver_id"] for d in pending_before.json()["items"]) == sorted(ids[:2])
    assert verified.json()["last_verified_at"] is not None
    assert [d["driver_id"] for d in pending_after.json()["items"]] == [ids[1]]
    assert {
        (p["grid_id"], p["drivers"], p["verified"], p["pending"])
        for p in progress.json()["progress"]
    } == {
        (grids[0], 2, 1, 1),
        (grids[1], 1, 0, 1),
    }
    announced = [e for e in distinct(records) if e.type == "driver.verified.v1"]
    assert [(e.subject, e.data["verified_by"], e.data["changed_fields"]) for e in announced] == [
        (ids[0], "station-clerk-5", ["home_province"])
    ]


async def test_passes_due_for_annual_review_are_listed_soonest_first_page_by_page(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    today = date.today()
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        first = (await http.post("/v1/drivers", json=driver(66), headers=token())).json()[
            "driver_id"
        ]
        second = (await http.post("/v1/drivers", json=driver(67), headers=token())).json()[
            "driver_id"
        ]
        passes = [
            (first, "浙B6P066", today + timedelta(days=20)),
            (second, "浙B6P067", today + timedelta(days=5)),
            (first, "浙B6P068", today + timedelta(days=200)),
        ]
        for driver_id, plate, expires in passes:
            answer = await http.put(
                f"/v1/drivers/{driver_id}/vehicles/{plate}/pass",
                json={"pass_number": f"BL-{plate[-3:]}", "pass_expires_on": expires.isoformat()},
                headers=token(),
            )
            if answer.status_code == 404:  # not one of the registration plates: add it
                answer = await http.post(
                    f"/v1/drivers/{driver_id}/vehicles",
                    json={
                        "plate": plate,
                        "pass_number": f"BL-{plate[-3:]}",
                        "pass_expires_on": expires.isoformat(),
                    },
                    headers=token(),
                )
            assert answer.status_code in (200, 201), answer.text
        due_by = (today + timedelta(days=30)).isoformat()
        page_one = await http.get(
            "/v1/passes/due", params={"by": due_by, "limit": 1}, headers=token()
        )
        page_two = await http.get(
            "/v1/passes/due",
            params={"by": due_by, "limit": 1, "cursor": page_one.json()["next_cursor"]},
            headers=token(),
        )
        await http.post(
            f"/v1/drivers/{second}/deactivation", json={"reason": "retired"}, headers=token()
        )
        after_deactivation = await http.get(
            "/v1/passes/due", params={"by": due_by}, headers=token()
        )
    assert [v["plate"] for v in page_one.json()["items"]] == ["浙B6P067"]
    assert [v["plate"] for v in page_two.json()["items"]] == ["浙B6P066"]
    assert [v["plate"] for v in after_deactivation.json()["items"]] == ["浙B6P066"]
    assert national_id(66) not in page_one.text


async def test_station_staff_record_consent_only_with_the_drivers_confirmation(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        driver_id = (await http.post("/v1/drivers", json=driver(61), headers=token())).json()[
            "driver_id"
        ]
        # The driver lives in a grid the station censuses, so its staff reach them.
        grid = await http.post(
            "/v1/grids",
            json={"name": "霞浦第4网格", "community": "霞浦社区", "station_id": "st-beilun-02"},
            headers=token(),
        )
        await http.patch(
            f"/v1/drivers/{driver_id}", json={"grid_id": grid.json()["grid_id"]}, headers=token()
        )
        station = token("station", station_id="st-beilun-02")
        url = f"/v1/drivers/{driver_id}/consents/notifications"
        claimed = await http.put(url, json={"granted": True, "channel": "app"}, headers=station)
        on_own_word = await http.put(
            url, json={"granted": True, "channel": "station"}, headers=station
        )
        asked = await http.post(
            f"/v1/drivers/{driver_id}/consent-requests",
            json={"purpose": "notifications", "granted": True},
            headers=station,
        )
        confirmed = await http.post(
            f"/v1/drivers/{driver_id}/consent-requests/{asked.json()['request_id']}/confirm",
            headers=token("driver", driver_id=driver_id),
        )
        at_counter = await http.get(f"/v1/drivers/{driver_id}/consents", headers=token())
    assert claimed.status_code == 403 and on_own_word.status_code == 403
    assert confirmed.status_code == 200
    assert at_counter.json()["current"]["notifications"]["channel"] == "station"


async def test_a_withdrawal_removes_family_details_written_after_its_read(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    """The withdrawal read the driver before the family details were written (under the
    consent, still granted then): its write removes them all the same."""
    app = create_app(make_settings(RegistrySettings))
    async with serve(app) as http:
        driver_id = (await http.post("/v1/drivers", json=driver(62), headers=token())).json()[
            "driver_id"
        ]
        me = token("driver", driver_id=driver_id)
        await http.put(
            f"/v1/drivers/{driver_id}/consents/family_services",
            json={"granted": True, "channel": "app"},
            headers=me,
        )
        registry = app.state.registry
        records = registry.consent._records
        read_before = await records.get_driver(driver_id)
        actor = Actor(sub="drv-62", role="driver")
        family = FamilyInput(children=[ChildInput(name="刘子涵", birth_year=2017)])
        await registry.consent.set_family(driver_id, family, actor)
        reads = [read_before]
        real_read = records.get_driver

        async def first_read_stale(wanted: str) -> Any:
            return reads.pop() if reads else await real_read(wanted)

        records.get_driver = first_read_stale
        try:
            await registry.consent.set_consent(driver_id, "family_services", False, "app", actor)
        finally:
            records.get_driver = real_read
        after = await http.get(f"/v1/drivers/{driver_id}/family", headers=me)
    assert after.json()["children"] == [] and after.json()["spouse_name"] is None
