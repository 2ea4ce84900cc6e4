"""Intake over HTTP: Idempotency-Key, and station staff opening cases for drivers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from cases.settings import CasesSettings
from common.testing import unique_name
from tests.integration.test_cases_loop import (
    SH,
    Clock,
    Headers,
    case_events,
    running,
    scene,
)


def body(driver: str, **extra: object) -> dict[str, object]:
    return {
        "driver_id": driver,
        "kind": "complaint",
        "category": "freight_payment",
        "description": "运费拖欠三个月",
        **extra,
    }


async def test_intake_with_an_idempotency_key_opens_one_case(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings, clock, driver, who = scene(make_settings, token)
    key = {"Idempotency-Key": unique_name("k_"), **who.driver}
    async with running(settings, clock) as (app, client):
        first = await client.post("/v1/cases", json=body(driver), headers=key)
        assert first.status_code == 201, first.text
        again = await client.post("/v1/cases", json=body(driver), headers=key)
        assert again.status_code == 201, again.text
        cid = first.json()["case"]["case_id"]
        assert again.json()["case"]["case_id"] == cid
        # The same key with another body is refused, and opens nothing.
        other = await client.post(
            "/v1/cases", json=body(driver, description="另一件事"), headers=key
        )
        assert other.status_code == 422, other.text
        assert "another body" in other.json()["detail"]
        # Another caller's key of the same name is its own key.
        dispatcher = {"Idempotency-Key": key["Idempotency-Key"], **who.dispatcher}
        theirs = await client.post("/v1/cases", json=body(driver), headers=dispatcher)
        assert theirs.status_code == 201 and theirs.json()["case"]["case_id"] != cid

        assert (
            await app.state.cases.store.collection.count_documents(
                {"driver_id": driver, "opened_by": driver}
            )
            == 1
        )
        await asyncio.sleep(1.0)  # the relay has flushed; read what the topic holds
        opened = [e for e in await case_events(settings, cid) if e.type == "case.opened.v1"]
        assert [e.id for e in opened] == [f"{cid}:opened"]
        # Without a key, a repeat is a new case (duplicates are shown as candidates).
        plain = await client.post("/v1/cases", json=body(driver), headers=who.driver)
        assert plain.status_code == 201
        assert cid in plain.json()["duplicate_candidates"]


async def test_station_staff_open_cases_for_drivers_and_see_only_their_station(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings = make_settings(CasesSettings)
    clock = Clock(datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    driver, stranger = unique_name("drv_"), unique_name("drv_")
    here = token("station", station_id="ST-here", sub="staff-here")
    there = token("station", station_id="ST-there", sub="staff-there")
    async with running(settings, clock) as (_, client):
        answer = await client.post("/v1/cases", json=body(driver, channel="app"), headers=here)
        assert answer.status_code == 201, answer.text
        case = answer.json()["case"]
        cid = case["case_id"]
        assert case["channel"] == "station" and case["station_id"] == "ST-here"
        assert case["driver_id"] == driver

        # The station follows its case; another station does not see it at all.
        assert (await client.get(f"/v1/cases/{cid}", headers=here)).status_code == 200
        assert (await client.get(f"/v1/cases/{cid}", headers=there)).status_code == 404
        listed = (await client.get("/v1/cases", headers=there)).json()["items"]
        assert cid not in [c["case_id"] for c in listed]
        mine = (await client.get("/v1/cases", headers=here)).json()["items"]
        assert [c["case_id"] for c in mine] == [cid]

        # The driver sees the case opened for them; another driver does not.
        assert (
            await client.get(f"/v1/cases/{cid}", headers=token("driver", driver_id=driver))
        ).status_code == 200
        assert (
            await client.get(f"/v1/cases/{cid}", headers=token("driver", driver_id=stranger))
        ).status_code == 404
        # A station token without a station is refused; a driver opens only for themselves.
        nowhere = await client.post(
            "/v1/cases", json=body(driver), headers=token("station", sub="staff-x")
        )
        assert nowhere.status_code == 403, nowhere.text
        for_other = await client.post(
            "/v1/cases", json=body(driver), headers=token("driver", driver_id=stranger)
        )
        assert for_other.status_code == 403, for_other.text
