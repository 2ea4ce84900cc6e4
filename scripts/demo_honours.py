"""Load honours for ``make run`` (docs/honours.md): last month's monthly stars chosen by a panel
of three from nominations by drivers, a station and an organisation, and announced (the winners
earn the bonus of points' honour rules). Drivers come from the demo registry. Loading twice adds
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from common.auth import issue_token
from common.settings import ServiceSettings

REASONS = ("雨夜帮助抛锚司机转运货物", "连续三年零违章,带徒弟安全驾驶", "主动认领互助需求十余次")


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(ServiceSettings(), **claims)}"}


async def load(cases: str, registry: str) -> int:
    period = f"{(datetime.now(UTC).replace(day=1) - timedelta(days=1)):%Y-%m}"
    async with httpx.AsyncClient(base_url=registry, timeout=10) as http:
        answer = await http.get(
            "/v1/drivers", params={"limit": 4, "status": "active"}, headers=bearer(role="operator")
        )
        answer.raise_for_status()
        drivers = [item["driver_id"] for item in answer.json()["items"]]
    if len(drivers) < len(REASONS) + 1:
        print("demo: too few drivers for honours", file=sys.stderr)
        return 0
    secretary = bearer(role="operator", roles=["honours_secretary"], sub="demo-secretary")
    async with httpx.AsyncClient(base_url=cases, timeout=10) as http:
        if (await http.get("/v1/honours", params={"period": period}, headers=secretary)).json():
            return 0  # loaded before
        nominators = (
            bearer(role="driver", driver_id=drivers[-1], sub="demo-nominator"),
            bearer(role="station", station_id="BL-XP-000", sub="demo-station"),
            secretary,
        )
        ids = []
        for driver, reason, headers in zip(drivers, REASONS, nominators, strict=False):
            body = {"category": "monthly_star", "period": period, "driver_id": driver}
            answer = await http.post(
                "/v1/honours/nominations", json=body | {"reason": reason}, headers=headers
            )
            ids.append(answer.json().get("nomination_id"))
        for member, choice in enumerate((0, 0, 1)):
            panel = bearer(role="operator", roles=["honours_panel"], sub=f"demo-panel-{member}")
            await http.post(f"/v1/honours/nominations/{ids[choice]}/votes", headers=panel)
        announce = {"category": "monthly_star", "period": period, "seats": 2}
        answer = await http.post("/v1/honours/rounds", json=announce, headers=secretary)
        if answer.status_code != 201:
            print(f"demo: honours not announced: {answer.status_code}", file=sys.stderr)
            return 0
        return len(answer.json()["winners"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default="http://127.0.0.1:8005")
    parser.add_argument("--registry", default="http://127.0.0.1:8001")
    args = parser.parse_args()
    winners = asyncio.run(load(args.cases, args.registry))
    print(f"demo: {winners} monthly stars announced; see {args.cases}/v1/honours?period=<month>")


if __name__ == "__main__":
    main()
