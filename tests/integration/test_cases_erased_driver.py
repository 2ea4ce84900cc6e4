"""After the cases service erased a driver, its HTTP use cases make no new record about them: a
case, a help need, an aid application, a hardship visit, a care broker's naming or an honour
nomination would keep their id and texts after the erasure was confirmed, and an aid campaign
naming them leaves them out. A control driver's are made. Cases on the real store and
broker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cases.settings import CasesSettings
from common.erasure import keyed_pseudonym
from common.events import new_event
from common.events.registry import DriverDeactivated
from common.testing import unique_name, wait_until
from tests.integration.test_cases_aid import living
from tests.integration.test_cases_loop import Clock, Headers, running
from tests.integration.test_mutual_help import need
from tests.support import produce


async def test_no_new_record_is_made_about_an_erased_driver(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    settings: CasesSettings = make_settings(CasesSettings)
    clock = Clock(datetime.now(UTC))
    erased, control = unique_name("drv_e"), unique_name("drv_c")
    staff = token("operator", roles=["case_care", "case_dispatcher"], sub="care-9")
    supervisor = token("operator", scope="cases:supervise", sub="supervisor-9")
    station = token("station", station_id="BL-XP-009", sub="station-xp9")
    async with running(settings, clock) as (_, client):
        gone = new_event(
            DriverDeactivated(
                driver_id=erased, deactivated_at=clock.now, reason="on_request", erased=True
            ),
            source="driverhome/registry",
            subject=erased,
        )
        await produce(
            settings.kafka_bootstrap,
            settings.topic("registry.events"),
            gone.to_bytes(),
            key=erased.encode(),
        )
        pseudonym = keyed_pseudonym(settings.pii_hmac_key)(erased)
        erased_list = mongo[settings.mongo_db]["erased_drivers"]
        await wait_until(lambda: erased_list.find_one({"_id": pseudonym}), timeout=30)

        answers: dict[str, list[int]] = {}
        for driver in (erased, control):
            own = token("driver", driver_id=driver, sub=f"sub-{driver}")
            case = {
                "driver_id": driver,
                "kind": "complaint",
                "category": "freight_payment",
                "description": "运费拖欠三个月",
            }
            visit = {
                "driver_id": driver,
                "visited_on": (clock.now - timedelta(days=1)).date().isoformat(),
                "visitors": ["霞浦街道 care-9"],
                "findings": "家中老人需要照护",
                "follow_up": "none",
            }
            answers[driver] = [
                (await client.post("/v1/cases", json=case, headers=staff)).status_code,
                (
                    await client.post("/v1/help/needs", json=need(driver, clock.now), headers=own)
                ).status_code,
                (
                    await client.post("/v1/aid/applications", json=living(driver), headers=own)
                ).status_code,
                (await client.post("/v1/aid/visits", json=visit, headers=staff)).status_code,
                (
                    await client.put(
                        f"/v1/dossiers/{driver}/broker",
                        json={"broker_id": "care-9"},
                        headers=supervisor,
                    )
                ).status_code,
                (
                    await client.post(
                        "/v1/honours/nominations",
                        json={
                            "category": "monthly_star",
                            "period": f"{clock.now:%Y-%m}",
                            "driver_id": driver,
                            "reason": "雨夜救助被困司机",
                        },
                        headers=station,
                    )
                ).status_code,
            ]
        campaign = await client.post(
            "/v1/aid/campaigns",
            json={
                "season": "winter_warmth",
                "title": "冬送温暖",
                "gift": "棉大衣",
                "station_id": "st-aid-9",
                "collect_by": "2099-01-31T17:00:00+08:00",
                "driver_ids": [erased, control],
            },
            headers=staff,
        )
        db = mongo[settings.mongo_db]
        kept = [
            await db[name].count_documents({"driver_id": erased})
            for name in ("cases", "help_needs", "aid_applications", "aid_visits", "aid_deliveries")
        ]
        named = [
            await db["dossiers"].count_documents({"_id": erased}),
            await db["broker_rosters"].count_documents({"drivers": erased}),
            await db["honour_nominations"].count_documents({"driver_id": erased}),
        ]
    assert answers[control] == [201, 201, 201, 201, 200, 201], answers
    assert answers[erased] == [409, 409, 409, 409, 409, 409], answers
    assert campaign.status_code == 201 and campaign.json()["recipients"] == 1, campaign.text
    assert kept == [0, 0, 0, 0, 0]
    assert named == [0, 0, 0]
