"""Cases: compensations applied by points, collective complaints, intake over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cases.settings import CasesSettings
from common.events import new_event
from common.events.points import PointsAwarded
from common.testing import unique_name, wait_until
from tests.integration.test_cases_loop import SH, Actors, Clock, Headers, open_case, running
from tests.support import produce


async def test_a_compensation_credited_by_points_is_marked_applied_once(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings = make_settings(CasesSettings)
    clock = Clock(datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    driver = unique_name("drv_")
    who = Actors(token, driver)
    async with running(settings, clock) as (app, client):
        case = await open_case(client, who.driver, driver)
        cid = case["case_id"]
        assert case["compensations_applied"] == []
        comp_id = f"{cid}:missed:first_response:r1"

        def award(cause_type: str, cause_id: str, event_id: str) -> bytes:
            data = PointsAwarded(
                driver_id=driver,
                entry_id=f"entry-{event_id}",
                amount=20,
                balance_after=20,
                rule_id="case-compensation",
                cause_source="driverhome/cases",
                cause_id=cause_id,
                cause_type=cause_type,
                awarded_at=clock.now + timedelta(minutes=5),
            )
            event = new_event(data, source="driverhome/points", subject=driver, event_id=event_id)
            return event.to_bytes()

        topic = settings.topic("points.events")
        # An award for something else is not a compensation, even with a case-like cause id.
        await produce(
            settings.kafka_bootstrap,
            topic,
            award("service.used.v1", f"{cid}:other", unique_name("e_")),
            key=driver.encode(),
        )
        # The same award delivered twice (a redelivery) is recorded once.
        award_id = unique_name("e_")
        for _ in range(2):
            await produce(
                settings.kafka_bootstrap,
                topic,
                award("case.compensation_granted.v1", comp_id, award_id),
                key=driver.encode(),
            )

        async def applied() -> list[dict[str, object]] | None:
            answer = await client.get(f"/v1/cases/{cid}", headers=who.sup1)
            items: list[dict[str, object]] = answer.json()["compensations_applied"]
            return items or None

        items = await wait_until(applied)
        # A marker published after both copies proves both were consumed before we count.
        marker = f"{cid}:goodwill"
        await produce(
            settings.kafka_bootstrap,
            topic,
            award("case.compensation_granted.v1", marker, unique_name("e_")),
            key=driver.encode(),
        )

        async def marker_seen() -> list[dict[str, object]] | None:
            answer = await client.get(f"/v1/cases/{cid}", headers=who.sup1)
            got: list[dict[str, object]] = answer.json()["compensations_applied"]
            return got if any(i["id"] == marker for i in got) else None

        items = await wait_until(marker_seen)
        assert [i["id"] for i in items] == [comp_id, marker]
        assert items[0]["entry_id"] == f"entry-{award_id}" and items[0]["amount"] == 20
        # The version is untouched: recording it never makes a person's transition fail.
        doc = await app.state.service.cases.get(cid)
        assert doc["version"] == case["version"]
        # The dossier shows it with the case.
        dossier = (await client.get(f"/v1/dossiers/{driver}", headers=who.sup1)).json()
        assert [c["compensations_applied"] for c in dossier["cases"]] == [items]
