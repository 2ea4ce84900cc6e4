"""The business calendar as operator data, on the real store and broker.

Late in the year the next year's holidays are not known yet: intake goes on with provisional
deadlines, and loading the year's notice counts them again and announces that once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from cases.settings import CasesSettings
from common.events import CloudEvent
from common.testing import unique_name
from tests.integration.stations_harness import read_whole_topic
from tests.integration.test_cases_loop import SH, Clock, Headers, open_case, running, scene
from tests.unit.test_cases_calendar import TEST_2027


def keeper(token: Headers) -> dict[str, str]:
    return token("operator", scope="cases:calendar", sub="calendar-keeper")


async def events(settings: CasesSettings) -> list[CloudEvent]:
    raw = await read_whole_topic(settings.kafka_bootstrap, settings.topic("cases.events"))
    return [CloudEvent.model_validate_json(v) for v in raw]


async def load_2027(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.put("/v1/calendars/2027", json=TEST_2027, headers=headers)


def at(y: int, m: int, d: int, h: int = 9) -> str:
    return datetime(y, m, d, h, tzinfo=SH).isoformat()


def same_moment(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


async def test_intake_on_20_december_is_provisional_and_loading_2027_recounts_it_once(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings, clock, driver, who = scene(
        make_settings, token, datetime(2026, 12, 20, 10, tzinfo=SH)
    )
    async with running(settings, clock) as (app1, client), running(settings, clock) as (app2, _):
        case = await open_case(client, who.driver, driver)
        cid = case["case_id"]
        resolution = case["clocks"]["resolution"]
        assert resolution["provisional"] and resolution["provisional_years"] == [2027]
        assert same_moment(resolution["due"], at(2027, 1, 8, 17))  # weekdays only
        assert case["provisional"] and not case["clocks"]["acceptance"]["provisional"]

        clock.set(2026, 12, 22, 10)  # acceptance and first response are past due
        assert await app1.state.cases.breach_scan.scan() > 0

        loaded = await load_2027(client, keeper(token))
        assert loaded.status_code == 201, loaded.text
        assert loaded.json()["changed"] is True and loaded.json()["recounted"] == 1
        fresh = (await client.get(f"/v1/cases/{cid}", headers=who.driver)).json()
        resolution = fresh["clocks"]["resolution"]
        assert same_moment(resolution["due"], at(2027, 1, 14, 17))  # 1 and 11-13 Jan are off
        assert not resolution["provisional"] and not fresh["provisional"]

        # The same notice again, and a second instance's rounds: nothing new.
        again = await load_2027(client, keeper(token))
        assert again.status_code == 200, again.text
        assert again.json()["changed"] is False and again.json()["recounted"] == 0
        await app2.state.scanner.run_once()
        await app1.state.scanner.run_once()
        assert app2.state.calendars.calendar.loaded(2027)

        await asyncio.sleep(1.5)  # the relays have flushed
        published = await events(settings)
        mine = [e for e in published if e.data.get("case_id") == cid]
        opened = next(e for e in mine if e.type == "case.opened.v1")
        assert opened.data["resolution_due_provisional"] is True
        recounts = [e for e in mine if e.type == "case.deadlines_recomputed.v1"]
        # Once means one event id: the relay publishes at least once, and an instance's flush
        # and another's sweep may both send the same outbox entry (consumers dedupe by id).
        assert {e.id for e in recounts} == {f"{cid}:v2"}, [e.id for e in recounts]
        assert recounts[0].data["calendar_years"] == [2027]
        [change] = recounts[0].data["changes"]
        assert change["clock"] == "resolution" and change["provisional"] is False
        assert same_moment(change["new_due"], at(2027, 1, 14, 17))
        years = [e for e in published if e.type == "calendar.year_loaded.v1"]
        # One event id, possibly sent twice (a flush and the other instance's sweep), as above.
        assert {(e.id, e.subject) for e in years} == {("calendar:2027:v1", "calendar-2027")}
        assert years[0].data["loaded_by"] == "calendar-keeper"


async def test_on_5_january_intake_and_the_breach_scan_run_and_the_breaches_say_provisional(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings, clock, driver, who = scene(
        make_settings, token, datetime(2027, 1, 5, 9, 30, tzinfo=SH)
    )
    async with running(settings, clock) as (app, client):
        case = await open_case(client, who.driver, driver, kind="question")
        cid = case["case_id"]
        assert all(c["provisional"] for c in case["clocks"].values())

        clock.set(2027, 1, 7, 10)
        assert await app.state.cases.breach_scan.scan() > 0
        doc = (await app.state.cases.store.get(cid)).doc
        assert "first_response:r1:breach1" in doc["announced"]

        assert (await load_2027(client, keeper(token))).json()["recounted"] == 1
        fresh = (await client.get(f"/v1/cases/{cid}", headers=who.driver)).json()
        # 5 working days after 5 Jan with 11-13 Jan off: 6, 7, 8, 14, 15.
        assert same_moment(fresh["clocks"]["resolution"]["due"], at(2027, 1, 15, 17))
        assert not fresh["provisional"]
        # Every running clock is now counted with 2027's days, even where the day is the same.
        assert not any(c["provisional"] for c in fresh["clocks"].values())

        await asyncio.sleep(1.5)
        mine = [e for e in await events(settings) if e.data.get("case_id") == cid]
        breaches = [e for e in mine if e.type == "case.breached.v1"]
        assert breaches and all(e.data["due_provisional"] is True for e in breaches)
        assert len([e for e in mine if e.type == "case.deadlines_recomputed.v1"]) == 1


async def test_only_an_operator_with_the_calendar_scope_loads_a_year_and_bad_notices_are_refused(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings = make_settings(CasesSettings)
    clock = Clock(datetime(2026, 12, 20, 10, tzinfo=SH))
    async with running(settings, clock) as (_, client):
        assert (await client.put("/v1/calendars/2027", json=TEST_2027)).status_code == 401
        assert (await client.get("/v1/calendars")).status_code == 401
        for headers in (
            token("driver", driver_id="drv_x"),
            token("station", station_id="ST-1"),
            token("partner", partner_id="port-booking"),
            token("operator", scope="cases:supervise"),
        ):
            answer = await load_2027(client, headers)
            assert answer.status_code == 403, answer.text
        assert (await client.get("/v1/calendars", headers=token("driver"))).status_code == 403

        bad = {**TEST_2027, "makeup_workdays": ["2027-01-01", "2027-01-18"]}
        refused = await client.put("/v1/calendars/2027", json=bad, headers=keeper(token))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        detail = refused.json()["detail"]
        assert "both a holiday and a make-up working day" in detail
        assert "not a Saturday or Sunday" in detail
        for body in (
            {**TEST_2027, "makeup_workdays": [20270116]},
            {**TEST_2027, "unknown": 1},
            {"source": "x", "holidays": []},
        ):
            answer = await client.put("/v1/calendars/2027", json=body, headers=keeper(token))
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
        wrong_year = await client.put("/v1/calendars/2028", json=TEST_2027, headers=keeper(token))
        assert wrong_year.status_code == 422 and "is not in 2028" in wrong_year.json()["detail"]

        listed = (await client.get("/v1/calendars", headers=token("operator"))).json()
        assert listed["next_year_missing"] is True
        assert {"year": 2026, "origin": "chinesecalendar"}.items() <= listed["years"][-1].items()
        assert (
            await client.get("/v1/calendars/2027", headers=token("operator"))
        ).status_code == 404

        assert (await load_2027(client, keeper(token))).status_code == 201
        corrected = {**TEST_2027, "makeup_workdays": ["2027-01-17"]}
        answer = await client.put("/v1/calendars/2027", json=corrected, headers=keeper(token))
        assert answer.status_code == 200 and answer.json()["version"] == 2
        year = (await client.get("/v1/calendars/2027", headers=token("operator"))).json()
        assert [h["by"] for h in year["history"]] == ["calendar-keeper", "calendar-keeper"]
        assert year["history"][1]["makeup_added"] == ["2027-01-17"]
        assert year["history"][1]["makeup_removed"] == ["2027-01-16"]
        listed = (await client.get("/v1/calendars", headers=token("operator"))).json()
        assert listed["next_year_missing"] is False
        assert listed["years"][-1]["origin"] == "notice"


async def test_a_notice_file_is_loaded_at_start_for_a_year_nobody_loaded_and_never_over_an_operator(
    make_settings: Callable[..., CasesSettings], token: Headers, tmp_path: Path
) -> None:
    (tmp_path / "2027.json").write_text(json.dumps({"year": 2027, **TEST_2027}))
    settings = make_settings(CasesSettings, holiday_notices_dir=str(tmp_path))
    clock = Clock(datetime(2026, 12, 20, 10, tzinfo=SH))
    async with running(settings, clock) as (app, client):
        assert app.state.calendars.calendar.loaded(2027)
        year = (await client.get("/v1/calendars/2027", headers=token("operator"))).json()
        assert year["loaded_by"] == "file:2027.json" and year["version"] == 1
        corrected = {**TEST_2027, "makeup_workdays": ["2027-01-17"]}
        answer = await client.put("/v1/calendars/2027", json=corrected, headers=keeper(token))
        assert answer.status_code == 200, answer.text
    async with running(settings, clock) as (app, client):
        year = (await client.get("/v1/calendars/2027", headers=token("operator"))).json()
        assert year["version"] == 2 and year["makeup_workdays"] == ["2027-01-17"]


async def test_readyz_stays_ready_but_the_metric_says_next_year_is_missing_from_1_november(
    make_settings: Callable[..., CasesSettings],
) -> None:
    settings = make_settings(CasesSettings, service_name="cases")

    def gauge() -> float | None:
        return REGISTRY.get_sample_value(
            "driverhome_cases_calendar_next_year_missing", {"service": "cases"}
        )

    async with running(settings, Clock(datetime(2026, 10, 31, 12, tzinfo=SH))) as (_, client):
        assert (await client.get("/readyz")).status_code == 200
        assert gauge() == 0
    with capture_logs() as logs:
        async with running(settings, Clock(datetime(2026, 11, 1, 8, tzinfo=SH))) as (_, client):
            assert (await client.get("/readyz")).status_code == 200
            assert gauge() == 1
            assert (
                "driverhome_cases_calendar_next_year_missing" in (await client.get("/metrics")).text
            )
    assert any(e["log_level"] == "warning" and e.get("years") == [2027] for e in logs)


async def test_a_case_the_breach_scan_cannot_handle_is_logged_and_counted_and_the_round_goes_on(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings, clock, driver, who = scene(make_settings, token)
    async with running(settings, clock) as (app, client):
        good = await open_case(client, who.driver, driver)
        store = app.state.cases.store
        broken: dict[str, Any] = {
            **(await store.collection.find_one({"_id": good["case_id"]})),
            "_id": unique_name("C-broken-"),
            "clocks": {"acceptance": {"started_at": "yesterday"}},  # no deadline at all
            "next_check": clock() - timedelta(days=1),  # first in line
            "outbox": [],
        }
        await store.collection.insert_one(broken)

        def failures() -> float:
            value = REGISTRY.get_sample_value(
                "driverhome_cases_case_work_failures_total",
                {"service": settings.service_name, "job": "breach_scan"},
            )
            return value or 0.0

        before = failures()
        clock.set(2026, 3, 4, 10)
        with capture_logs() as logs:
            assert await app.state.cases.breach_scan.scan() > 0
        assert failures() == before + 1
        [entry] = [e for e in logs if e["event"] == "breach scan skipped a case"]
        assert entry["case_id"] == broken["_id"] and "KeyError" in entry["error"]
        assert driver not in json.dumps(entry, default=str)
        doc = (await store.get(good["case_id"])).doc
        assert "first_response:r1:breach1" in doc["announced"]
        # It waits a while before it is tried again, so it cannot starve the others.
        skipped = await store.collection.find_one({"_id": broken["_id"]})
        assert skipped["next_check"] > clock().astimezone(skipped["next_check"].tzinfo)
