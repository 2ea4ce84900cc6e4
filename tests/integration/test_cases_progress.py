"""The progress-feedback clock recurs: each feedback starts the next period."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cases.settings import CasesSettings
from common.testing import unique_name
from tests.integration.test_cases_loop import SH, Actors, Clock, Headers, act, open_case, running


async def test_progress_feedback_is_due_again_after_every_feedback(
    make_settings: Callable[..., CasesSettings], token: Headers
) -> None:
    settings = make_settings(CasesSettings)
    clock = Clock(datetime(2026, 3, 2, 9, 30, tzinfo=SH))  # a Monday
    driver = unique_name("drv_")
    who = Actors(token, driver)
    unit = who.unit(token, "U1")
    async with running(settings, clock) as (app, client):
        cid = (await open_case(client, who.driver, driver))["case_id"]
        assert (await act(client, cid, "dispatch", who.dispatcher, unit_ids=["U1"])).is_success
        assert (await act(client, cid, "accept", unit)).is_success

        # Five working days pass without feedback: the first period is breached.
        clock.set(2026, 3, 10, 10)
        await app.state.cases.breach_scan.scan()
        doc = (await app.state.cases.store.get(cid)).doc
        assert "progress:r1:breach1" in doc["announced"]

        answer = await act(client, cid, "feedback", unit, note="已联系车队")
        assert answer.status_code == 200, answer.text
        case = answer.json()
        progress = case["clocks"]["progress"]
        assert progress["period"] == 2 and progress["met_at"] is None
        assert progress["due"].startswith("2026-03-17")  # five working days after the feedback
        [first] = case["progress_periods"]
        assert first["period"] == 1 and first["breached"] is True  # the breach stays a breach
        assert case["clocks"]["first_response"]["met_at"] is not None

        # The new period is quiet until its own deadline, then announced under its own key.
        await app.state.cases.breach_scan.scan()
        doc = (await app.state.cases.store.get(cid)).doc
        assert not [k for k in doc["announced"] if k.startswith("progress:r1:p2")]
        clock.set(2026, 3, 18, 10)
        await app.state.cases.breach_scan.scan()
        await app.state.cases.breach_scan.scan()
        doc = (await app.state.cases.store.get(cid)).doc
        assert doc["announced"].count("progress:r1:p2:breach1") == 1

        # Feedback in time leaves an unbreached period.
        answer = await act(client, cid, "feedback", unit, note="运费已部分结清")
        clock.set(2026, 3, 19, 10)
        answer = await act(client, cid, "feedback", unit, note="余款下周结清")
        case = answer.json()
        assert [p["breached"] for p in case["progress_periods"]] == [True, True, False]
        assert case["clocks"]["progress"]["period"] == 4
