"""The district's points figures of a day over HTTP on the real broker and store: awards by cause
(a case compensation through Kafka, an earning rule, manual adjustments), redemptions and
refunds; only a reader of all points (points:read) may ask."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from common.events import new_event
from common.events.cases import CaseCompensationGranted
from common.testing import Infra, unique_name, wait_until
from points.app import create_app
from points.earning import Earning
from points.settings import PointsSettings
from tests.integration.test_points_ledger import balance_is, listed, send, volunteer
from tests.support import serve

CUP = {
    "name": "水杯",
    "category": "goods",
    "cost": 20,
    "stock": 5,
    "channel": "online",
    "counters": [],
    "description": None,
}


def compensation(driver: str, amount: int) -> Any:
    return new_event(
        CaseCompensationGranted(
            compensation_id=f"case-9:{driver}:resolution",
            case_id="case-9",
            driver_id=driver,
            kind="missed_deadline",
            amount=amount,
            clock="resolution",
            granted_at=datetime.now(UTC),
        ),
        source="driverhome/cases",
        subject=driver,
        event_id=f"case-9:{driver}:resolution",
    )


async def test_todays_figures_count_each_cause_and_refuse_a_role_without_points_read(
    infra: Infra,
    make_settings: Callable[..., PointsSettings],
    mongo: Any,
    token: Callable[..., dict[str, str]],
) -> None:
    settings = make_settings(PointsSettings)
    one, two = unique_name("drv_"), unique_name("drv_")
    app = create_app(settings)
    async with serve(app) as http:
        service, mall = app.state.service, app.state.mall
        for driver in (one, two):
            await service.open_account(driver, datetime.now(UTC))
        await send(infra, settings, "cases.events", compensation(one, 40))
        await wait_until(lambda: balance_is(mongo, settings, one, 40))
        await wait_until(lambda: listed(mongo, settings, one, 1))
        award = await service.earn(Earning.of(volunteer(two, hours=2)))
        assert award is not None and award.amount > 0
        await service.adjust(two, 30, operator="op-li", reason="help", request_id="up")
        await service.adjust(one, -5, operator="op-li", reason="late", request_id="down")
        await mall.catalogue.add_reward("rw-cup", CUP)
        await mall.reserve(two, "rw-cup", request_key="kept")
        spent = await mall.reserve(two, "rw-cup", request_key="given-back")
        await mall.cancel(spent.redemption.redemption_id, by="op-li", reason="changed mind")

        today = await http.get("/v1/figures/day", headers=token("operator", roles=["auditor"]))
        zone = ZoneInfo(settings.district_timezone)
        yesterday = (datetime.now(zone) - timedelta(days=1)).date().isoformat()
        before = await http.get(f"/v1/figures/day?day={yesterday}", headers=token())
        refused = await http.get("/v1/figures/day", headers=token(roles=["notify_editor"]))
        edge = await http.get("/v1/figures/day?day=9999-12-31", headers=token())
        driver = await http.get("/v1/figures/day", headers=token("driver", driver_id=one))

    assert today.status_code == 200, today.text
    figures = today.json()
    assert figures["day"] == datetime.now(zone).date().isoformat()
    assert figures["awarded_by_cause"] == {
        "earning_rules": award.amount,
        "bonuses": 0,
        "compensation": 40,
        "adjustments": 30,
    }
    assert figures["awarded"] == award.amount + 70
    assert figures["redeemed"] == 40 and figures["refunded"] == 20
    assert figures["expired"] == 0
    assert figures["debited_by_kind"] == {"adjustment": 5, "redemption": 40}
    assert figures["entries_by_kind"] == {
        "award": 2,
        "adjustment": 2,
        "redemption": 2,
        "reversal": 1,
    }
    assert figures["entries"] == 7
    assert before.status_code == 200 and before.json()["awarded"] == 0
    assert before.json()["entries"] == 0
    assert refused.status_code == 403 and "points:read" in refused.json()["detail"]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert driver.status_code == 403
    assert edge.status_code == 422  # the day after it does not exist: refused, not a 500
