"""The life-cycle catalogue over HTTP and stations.events on the real store and broker:
Beilun's 14 nodes and 80 items as version 1, versions by operators with stable codes,
kinds, the coverage figures per stage, and the version announcements.

The module shares one app, and the catalogue is one per app, so the tests run in file order
and each reads the version it is at before changing it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from common.events import parse_data
from common.events.stations import LifecycleCatalogueVersioned
from common.testing import Infra
from stations.lifecycle_catalogue import SUBJECT
from tests.integration.stations_harness import Harness, start_harness


@pytest.fixture(scope="module")
async def h(infra: Infra) -> AsyncIterator[Harness]:
    async for harness in start_harness(infra):
        yield harness


def _items(catalogue: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["code"]: i for s in catalogue["stages"] for i in s["items"]}


async def _current(h: Harness, **params: Any) -> dict[str, Any]:
    answer = await h.http.get("/v1/lifecycle", params=params, headers=h.auth("driver"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_beilun_list_is_version_one_with_14_nodes_and_80_items(h: Harness) -> None:
    catalogue = await _current(h)
    assert catalogue["version"] == 1 and catalogue["label"] == "beilun-2023"
    assert (catalogue["stage_count"], catalogue["item_count"]) == (14, 80)
    nodes = [s["name_zh"] for s in catalogue["stages"]]
    assert nodes[:4] == ["入职", "规划", "社保", "关爱"]
    assert nodes[-3:] == ["子女入学", "风险保障", "光荣退休"]
    items = _items(catalogue)
    # The item the articles name for meals delivered, and the deliberation room, each mapped
    # to the new service codes; every item maps to case categories the cases service knows.
    assert items["meal_delivery"]["service_codes"] == ["meal_delivery"]
    assert items["deliberation"]["service_codes"] == ["deliberation_room"]
    assert items["school_admission_points"]["source"] == "seeds/001:25"
    assert items["school_admission_points"]["case_categories"] == ["schooling"]
    completed = [c for c, i in items.items() if i["source"] is None]
    assert 0 < len(completed) < 20


async def test_items_restricted_to_kinds_are_offered_only_to_those_kinds(h: Harness) -> None:
    taxi = _items(await _current(h, kind="taxi"))
    trucks = _items(await _current(h, kind="container_truck"))
    assert "port_appointments" in trucks and "port_appointments" not in taxi
    assert "truck_parking" not in taxi and "shower" in taxi
    assert len(trucks) == 80


async def test_operators_change_an_item_in_a_new_version_others_may_not(h: Harness) -> None:
    refused = await h.http.patch(
        "/v1/lifecycle/items/meal_delivery",
        json={"name": "Meals brought"},
        headers=h.auth("operator", roles=["auditor"]),
    )
    assert refused.status_code == 403 and "stations:manage" in refused.text
    by_driver = await h.http.put("/v1/lifecycle", json={"stages": []}, headers=h.auth("driver"))
    assert by_driver.status_code == 403
    before = await _current(h)
    changed = await h.http.patch(
        "/v1/lifecycle/items/meal_delivery",
        json={"based_on": before["version"], "driver_kinds": ["taxi", "ride_hailing"]},
        headers=h.auth(),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == before["version"] + 1
    stale = await h.http.patch(
        "/v1/lifecycle/items/meal_delivery",
        json={"based_on": before["version"], "retired": True},
        headers=h.auth(),
    )
    assert stale.status_code == 409 and stale.json()["code"] == "catalogue_conflict"
    unknown = await h.http.patch(
        "/v1/lifecycle/items/meal_delivery",
        json={"case_categories": ["no_such_category"]},
        headers=h.auth(),
    )
    assert unknown.status_code == 422
    assert "meal_delivery" not in _items(await _current(h, kind="container_truck"))
    old = await h.http.get(f"/v1/lifecycle/versions/{before['version']}", headers=h.auth())
    assert _items(old.json())["meal_delivery"].get("driver_kinds") is None


async def test_a_version_may_retire_a_code_but_not_drop_it(h: Harness) -> None:
    catalogue = await _current(h, include_retired=True)
    stages = catalogue["stages"]
    dropped = [{**s, "items": [i for i in s["items"] if i["code"] != "fuel_card"]} for s in stages]
    answer = await h.http.put("/v1/lifecycle", json={"stages": dropped}, headers=h.auth())
    assert answer.status_code == 422 and answer.json()["code"] == "lifecycle_code_dropped"
    retired = [
        {**s, "items": [{**i, "retired": i["code"] == "fuel_card"} for i in s["items"]]}
        for s in stages
    ]
    answer = await h.http.put(
        "/v1/lifecycle",
        json={"stages": retired, "based_on": catalogue["version"], "note": "fuel card ended"},
        headers=h.auth(),
    )
    assert answer.status_code == 200, answer.text
    assert "fuel_card" not in _items(await _current(h))
    assert _items(await _current(h, include_retired=True))["fuel_card"]["retired"] is True
    versions = (await h.http.get("/v1/lifecycle/versions", headers=h.auth())).json()
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[0]["note"] == "fuel card ended"


async def test_each_version_is_announced_with_its_changed_items(h: Harness) -> None:
    events = await h.events_of([SUBJECT], at_least=3, settle=0.5)
    announced = {
        e.id: parse_data(e, LifecycleCatalogueVersioned)
        for e in events
        if e.type == "lifecycle.catalogue_versioned.v1"
    }
    assert sorted(a.version for a in announced.values()) == [1, 2, 3]
    first, second, third = (announced[f"lifecycle-v{n}"] for n in (1, 2, 3))
    assert len(first.items) == 80 and len(first.changed_items) == 80
    assert second.changed_items == ["meal_delivery"] and second.previous_version == 1
    assert third.changed_items == ["fuel_card"]
    meal = next(i for i in second.items if i.code == "meal_delivery")
    assert meal.case_categories == ["station_services"] and meal.stage == "care"


async def test_coverage_counts_distinct_drivers_per_item_and_stage_in_a_month(
    h: Harness,
) -> None:
    station = await h.station(
        services=[{"code": c} for c in ("shower", "laundry", "meal_delivery", "child_care")]
    )
    a, b = await h.drivers(2)
    h.clock.at = datetime(2026, 11, 3, 9, tzinfo=UTC)
    for driver, code in ((a, "shower"), (b, "shower"), (a, "laundry"), (a, "child_care")):
        assert (await h.checkin(driver, station, code)).status_code == 201
    h.clock.at = datetime(2026, 11, 5, 9, tzinfo=UTC)
    assert (await h.checkin(a, station, "shower")).status_code == 201
    h.clock.at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert (await h.checkin(b, station, "meal_delivery")).status_code == 201
    h.clock.at = None
    answer = await h.http.get(
        "/v1/lifecycle/coverage", params={"month": "2026-11"}, headers=h.auth()
    )
    assert answer.status_code == 200, answer.text
    stages = {s["code"]: s for s in answer.json()["stages"]}
    care = {i["code"]: i for i in stages["care"]["items"]}
    assert (care["shower"]["drivers_served"], care["shower"]["uses"]) == (2, 3)
    assert care["laundry"]["drivers_served"] == 1
    assert care["meal_delivery"]["drivers_served"] == 0  # December's use is not November's
    assert care["red_collar_market"]["measured"] is False
    assert stages["care"]["drivers_served"] == 2
    assert stages["schooling"]["drivers_served"] == 1
    assert stages["marriage"]["drivers_served"] == 0
    forbidden = await h.http.get(
        "/v1/lifecycle/coverage", params={"month": "2026-11"}, headers=h.auth("driver")
    )
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    "month", ["0000-01", "9999-12", "1999-12", "2026-13", "2026-00", "2026-1", "२०२६-11", ""]
)
async def test_coverage_refuses_a_month_it_cannot_count_with_a_problem(
    h: Harness, month: str
) -> None:
    # Year 0000 passed the old pattern and broke the month's parsing; 9999-12 its end.
    answer = await h.http.get("/v1/lifecycle/coverage", params={"month": month}, headers=h.auth())
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_coverage_counts_a_december_into_the_next_year(h: Harness) -> None:
    answer = await h.http.get(
        "/v1/lifecycle/coverage", params={"month": "2099-12"}, headers=h.auth()
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["month"] == "2099-12"
