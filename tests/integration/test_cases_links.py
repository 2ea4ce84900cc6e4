"""Cases: compensations applied by points, collective complaints, intake over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cases.settings import CasesSettings
from common.events import new_event
from common.events.points import PointsAwarded
from common.testing import unique_name, wait_until
from tests.integration.test_cases_loop import SH, Actors, Clock, Headers, open_case, running, scene
from tests.support import produce


async def test_a_compensation_credited_by_points_is_marked_applied_once(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings, clock, driver, who = scene(make_settings, token)
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
        doc = (await app.state.cases.store.get(cid)).doc
        assert doc["version"] == case["version"]
        # The dossier shows it with the case.
        dossier = (await client.get(f"/v1/dossiers/{driver}", headers=who.sup1)).json()
        assert [c["compensations_applied"] for c in dossier["cases"]] == [items]


async def test_collective_complaints_are_linked_not_merged(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings = make_settings(CasesSettings)
    clock = Clock(datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    drivers = [unique_name("drv_") for _ in range(4)]
    who = [Actors(token, d) for d in drivers]
    sup, dispatcher = who[0].sup1, who[0].dispatcher
    acme = {"kind": "company", "id": "P-acme", "name": "Acme Logistics"}
    async with running(settings, clock) as (_, client):
        cases = [
            await open_case(client, w.driver, d, respondent=acme)
            for w, d in zip(who[:3], drivers[:3], strict=True)
        ]
        ids = [c["case_id"] for c in cases]
        # One case moves on before linking: linking must leave its state alone.
        moved = await client.post(
            f"/v1/cases/{ids[0]}/transitions/dispatch", json={"unit_ids": ["U1"]}, headers=sup
        )
        assert moved.status_code == 200, moved.text
        before = {cid: (await client.get(f"/v1/cases/{cid}", headers=sup)).json() for cid in ids}
        other = await open_case(
            client, who[3].driver, drivers[3], respondent={"kind": "company", "id": "P-other"}
        )
        question = await open_case(
            client, who[3].driver, drivers[3], kind="question", respondent=acme
        )

        # Only dispatchers and supervisors link.
        for headers in (who[0].driver, who[0].unit(token, "U1")):
            answer = await client.post(
                "/v1/collectives", json={"case_ids": ids[:2]}, headers=headers
            )
            assert answer.status_code == 403, answer.text
        # Only complaints about one and the same respondent.
        for odd in (other["case_id"], question["case_id"]):
            answer = await client.post(
                "/v1/collectives", json={"case_ids": [ids[0], odd]}, headers=dispatcher
            )
            assert answer.status_code == 422, answer.text

        answer = await client.post("/v1/collectives", json={"case_ids": ids}, headers=dispatcher)
        assert answer.status_code == 200, answer.text
        group = answer.json()
        gid = group["collective_id"]
        assert sorted(c["case_id"] for c in group["cases"]) == sorted(ids)
        assert group["drivers"] == 3 and group["open"] == 3
        assert group["respondent"]["id"] == "P-acme"
        # Linked, not merged: every case keeps its status, version, clocks and history.
        for cid in ids:
            after = (await client.get(f"/v1/cases/{cid}", headers=sup)).json()
            assert after["collective_id"] == gid
            for field in ("status", "version", "clocks", "history", "merged_into"):
                assert after[field] == before[cid][field], field

        # A later complaint joins the same collective; linking again changes nothing.
        late = await open_case(client, who[3].driver, drivers[3], respondent=acme)
        answer = await client.post(
            "/v1/collectives", json={"case_ids": [ids[1], late["case_id"]]}, headers=sup
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["collective_id"] == gid and len(answer.json()["cases"]) == 4
        # A second collective cannot take a case from the first.
        second = await open_case(client, who[3].driver, drivers[3], respondent=acme)
        third = await open_case(client, who[2].driver, drivers[2], respondent=acme)
        answer = await client.post(
            "/v1/collectives",
            json={"case_ids": [second["case_id"], third["case_id"]]},
            headers=sup,
        )
        gid2 = answer.json()["collective_id"]
        assert gid2 != gid
        answer = await client.post(
            "/v1/collectives", json={"case_ids": [ids[0], second["case_id"]]}, headers=sup
        )
        assert answer.status_code == 409, answer.text

        listed = (await client.get(f"/v1/collectives/{gid}", headers=sup)).json()
        assert len(listed["cases"]) == 4 and listed["drivers"] == 4
        # District staff read it as they read the cases; an operator reading no case does not.
        clerk = token("operator", scope="drivers:read", sub="clerk-1")
        assert (await client.get(f"/v1/collectives/{gid}", headers=clerk)).status_code == 200
        for headers in (
            token("operator", roles=["notify_editor"], sub="editor-1"),
            token("operator", roles=["points_admin"], sub="points-admin-1"),
            token("operator", scope="cases:handle", unit_id="U1", sub="h-only"),
        ):
            refused = await client.get(f"/v1/collectives/{gid}", headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
        dossier = (await client.get(f"/v1/dossiers/{drivers[0]}", headers=sup)).json()
        assert [c["collective_id"] for c in dossier["cases"]] == [gid]
        [row] = (await client.get("/v1/figures", params={"month": "2026-03"}, headers=sup)).json()[
            "rows"
        ]
        assert row["collective_complaints"] == 6 and row["collectives"] == 2
        assert row["cases"] == 8  # each linked complaint still counts as its own case

        # Taking a case out of the collective.
        answer = await client.delete(f"/v1/collectives/{gid}/cases/{late['case_id']}", headers=sup)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["cases"]) == 3
        gone = (await client.get(f"/v1/cases/{late['case_id']}", headers=sup)).json()
        assert gone["collective_id"] is None
        assert (await client.get("/v1/collectives/K-nothing", headers=sup)).status_code == 404
