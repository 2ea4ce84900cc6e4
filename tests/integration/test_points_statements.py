"""Signed statements for school admission, and monthly leaderboards, on the real store."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from common.testing import unique_name
from points.app import create_app
from points.domain import month_of
from points.settings import PointsSettings
from points.statements import canonical
from tests.support import serve

CST = timezone(timedelta(hours=8))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_statement_as_of_a_date_is_signed_verifies_and_fails_once_altered(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    clock = Clock(datetime(2026, 6, 29, 10, 0, tzinfo=CST))
    app = create_app(make_settings(PointsSettings), clock=clock)
    async with serve(app) as http:
        service, mall = app.state.service, app.state.mall
        driver_id = unique_name("drv_")
        await service.open_account(driver_id, clock())
        await service.adjust(
            driver_id, 100, operator="op-zhang", reason="张三 says well done", request_id="a"
        )
        clock.now = datetime(2026, 6, 30, 23, 30, tzinfo=CST)
        await service.adjust(driver_id, 50, operator="op-zhang", reason="bonus", request_id="b")
        await mall.catalogue.add_reward(
            "rw-cup",
            {
                "name": "水杯",
                "category": "goods",
                "cost": 30,
                "stock": 1,
                "channel": "online",
                "counters": [],
                "description": None,
            },
        )
        clock.now = datetime(2026, 6, 30, 23, 59, 59, tzinfo=CST)
        assert (await mall.reserve(driver_id, "rw-cup")).redemption.state == "reserved"
        clock.now = datetime(2026, 7, 1, 0, 0, 1, tzinfo=CST)
        await service.adjust(driver_id, 20, operator="op-zhang", reason="late", request_id="c")
        clock.now = datetime(2026, 7, 2, 9, 0, tzinfo=CST)
        as_driver = token("driver", driver_id=driver_id)

        issued = await http.post(
            f"/v1/accounts/{driver_id}/statements",
            json={"as_of": "2026-06-30", "child_reference": "SCH-0042"},
            headers=as_driver,
        )
        assert issued.status_code == 201, issued.text
        signed = issued.json()
        statement = signed["statement"]
        assert statement["balance"] == 120
        assert [e["amount"] for e in statement["entries"]] == [100, 50, -30]
        assert [e["kind"] for e in statement["entries"]] == [
            "adjustment",
            "adjustment",
            "redemption",
        ]
        assert statement["entry_count"] == 3
        assert statement["provisional"] is False
        assert statement["cutoff"] == "2026-07-01T00:00:00+08:00"
        assert statement["child_reference"] == "SCH-0042"
        assert "张三" not in issued.text and "op-zhang" not in issued.text

        key = await http.get("/v1/statements/public-key")
        valid = await http.post(
            "/v1/statements/verify",
            json={"statement": statement, "signature": signed["signature"]},
        )
        more_points = copy.deepcopy(statement)
        more_points["balance"] = 1200
        other_entry = copy.deepcopy(statement)
        other_entry["entries"][0]["amount"] = 101
        other_child = {**statement, "child_reference": "SCH-0043"}
        tampered = [
            await http.post(
                "/v1/statements/verify", json={"statement": s, "signature": signed["signature"]}
            )
            for s in (more_points, other_entry, other_child)
        ]
        flipped = bytearray(base64.b64decode(signed["signature"]))
        flipped[0] ^= 1
        bad_signature = await http.post(
            "/v1/statements/verify",
            json={"statement": statement, "signature": base64.b64encode(flipped).decode()},
        )

        assert key.status_code == 200 and key.json()["key_id"] == signed["key_id"]
        assert valid.status_code == 200 and valid.json()["valid"] is True
        assert [t.json()["valid"] for t in tampered] == [False, False, False]
        assert bad_signature.json()["valid"] is False
        # A school can also check it offline with the published key.
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key.json()["public_key"]))
        public.verify(base64.b64decode(signed["signature"]), canonical(statement))

        stored = await http.get(
            f"/v1/statements/{statement['statement_id']}", headers=token("operator")
        )
        assert stored.json() == signed
        earlier = await http.post(
            f"/v1/accounts/{driver_id}/statements", json={"as_of": "2026-06-28"}, headers=as_driver
        )
        assert earlier.json()["statement"]["balance"] == 0
        assert earlier.json()["statement"]["entries"] == []
        today = await http.post(
            f"/v1/accounts/{driver_id}/statements", json={"as_of": "2026-07-02"}, headers=as_driver
        )
        assert today.json()["statement"]["balance"] == 140
        assert today.json()["statement"]["provisional"] is True


async def test_statements_are_for_the_driver_themselves_and_operators_only(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        service = app.state.service
        driver_id = unique_name("drv_")
        await service.open_account(driver_id, datetime.now(UTC))
        today = datetime.now(CST).date()
        mine = await http.post(
            f"/v1/accounts/{driver_id}/statements",
            json={"as_of": today.isoformat()},
            headers=token("driver", driver_id=driver_id),
        )
        statement_id = mine.json()["statement"]["statement_id"]
        theirs = await http.post(
            f"/v1/accounts/{driver_id}/statements",
            json={"as_of": today.isoformat()},
            headers=token("driver", driver_id="someone-else"),
        )
        peek = await http.get(
            f"/v1/statements/{statement_id}", headers=token("driver", driver_id="someone-else")
        )
        by_station = await http.post(
            f"/v1/accounts/{driver_id}/statements",
            json={"as_of": today.isoformat()},
            headers=token("station", station_id="counter-01"),
        )
        future = await http.post(
            f"/v1/accounts/{driver_id}/statements",
            json={"as_of": (today + timedelta(days=2)).isoformat()},
            headers=token("operator"),
        )
        named = await http.post(
            f"/v1/accounts/{driver_id}/statements",
            json={"as_of": today.isoformat(), "child_reference": "王小明"},
            headers=token("operator"),
        )

        assert mine.status_code == 201
        assert theirs.status_code == 404
        assert peek.status_code == 404
        assert by_station.status_code == 403
        assert future.status_code == 422
        assert named.status_code == 422


async def test_the_monthly_leaderboard_ranks_a_fleets_active_drivers_by_points_earned(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        service = app.state.service
        month = month_of(datetime.now(UTC))
        fleet, other = unique_name("fleet-"), unique_name("fleet-")

        async def driver(in_fleet: str, points: int) -> str:
            driver_id = unique_name("drv_")
            await service.open_account(driver_id, datetime.now(UTC), fleet=in_fleet)
            if points:
                await service.adjust(driver_id, points, operator="op", reason="r", request_id="1")
            return driver_id

        first = await driver(fleet, 500)
        tied = sorted([await driver(fleet, 300), await driver(fleet, 300)])
        low = await driver(fleet, 40)
        await driver(fleet, 0)
        frozen = await driver(fleet, 900)
        await service.deactivate(frozen, erased=False)
        await driver(other, 1000)
        # Spending does not lower what was earned this month.
        await service.adjust(first, -100, operator="op", reason="spent", request_id="2")
        await service.accounts.collection.update_many(
            {"_id": {"$in": [first, low]}}, {"$set": {"grid": "grid-beilun-3"}}
        )
        as_driver = token("driver", driver_id=low)

        board = await http.get(
            "/v1/leaderboards", params={"month": month, "fleet": fleet}, headers=as_driver
        )
        top_two = await http.get(
            "/v1/leaderboards",
            params={"month": month, "fleet": fleet, "limit": 2},
            headers=as_driver,
        )
        by_grid = await http.get(
            "/v1/leaderboards",
            params={"month": month, "grid": "grid-beilun-3"},
            headers=token("operator"),
        )
        last_year = await http.get(
            "/v1/leaderboards", params={"month": "2001-01", "fleet": fleet}, headers=as_driver
        )
        both = await http.get(
            "/v1/leaderboards",
            params={"month": month, "fleet": fleet, "grid": "g"},
            headers=as_driver,
        )
        bad_month = await http.get(
            "/v1/leaderboards", params={"month": "2026-13", "fleet": fleet}, headers=as_driver
        )
        partner = await http.get(
            "/v1/leaderboards",
            params={"month": month, "fleet": fleet},
            headers=token("partner", partner_id="port-booking"),
        )

        assert board.status_code == 200, board.text
        assert [(s["rank"], s["driver_id"], s["points"]) for s in board.json()["items"]] == [
            (1, first, 500),
            (2, tied[0], 300),
            (2, tied[1], 300),
            (4, low, 40),
        ]
        assert set(board.json()["items"][0]) == {"rank", "driver_id", "points"}
        assert [s["driver_id"] for s in top_two.json()["items"]] == [first, tied[0]]
        assert [s["driver_id"] for s in by_grid.json()["items"]] == [first, low]
        assert last_year.json()["items"] == []
        assert both.status_code == 422
        assert bad_month.status_code == 422
        assert partner.status_code == 403


async def test_a_statement_waits_while_an_entry_is_applied_but_not_yet_marked(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    """Between the balance moving and the entry being marked applied (the end of an earning
    batch, or a crash the sweeper finishes) the history would stop before that entry: a
    statement signed then would leave it out. It is refused for a moment instead."""
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        service = app.state.service
        driver_id = unique_name("drv_")
        await service.open_account(driver_id, datetime.now(UTC))
        accounts = service.ledger.accounts.collection
        mark = {"id": f"{driver_id}:award:x", "seq": 1, "after": 20, "amount": 20}
        await accounts.update_one({"_id": driver_id}, {"$push": {"pending": mark}})
        ask = {"as_of": datetime.now(CST).date().isoformat()}
        mine = token("driver", driver_id=driver_id)
        busy = await http.post(f"/v1/accounts/{driver_id}/statements", json=ask, headers=mine)
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "1"
        await accounts.update_one({"_id": driver_id}, {"$pull": {"pending": {"id": mark["id"]}}})
        issued = await http.post(f"/v1/accounts/{driver_id}/statements", json=ask, headers=mine)
        assert issued.status_code == 201, issued.text
