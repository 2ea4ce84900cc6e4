"""Load a few mutual-help needs for ``make run`` (docs/mutual-help.md): open needs on the board
around Beilun, one claimed by another driver, one done with feedback (the helper earns points by
the mutual-help rule), one claimed by a party member. Drivers come from the demo registry;
contacts are synthetic handles, never phone numbers. Loading twice adds nothing.
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

NEEDS: list[dict[str, Any]] = [
    {"category": "family", "area": "霞浦街道", "summary": "跑长途期间,想请人帮忙看望独居母亲"},
    {
        "category": "vehicle",
        "area": "疏港高速 大碶段",
        "summary": "挂车刹车气管漏气,需要懂行的师傅帮看",
    },
    {"category": "schooling", "area": "新碶街道", "summary": "孩子转学材料需要有人代交到学校"},
    {"category": "transport", "area": "梅山街道", "summary": "出车期间家里一箱药需要从药房带回家"},
    {"category": "rest", "area": "大榭开发区", "summary": "夜里到港,求一个能停挂车的休息点"},
    {"category": "health", "area": "柴桥街道", "summary": "腰伤复诊,需要有人帮忙挂号排队"},
]


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(ServiceSettings(), **claims)}"}


async def drivers(registry: str, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=registry, timeout=10) as http:
        answer = await http.get(
            "/v1/drivers",
            params={"limit": count, "status": "active"},
            headers=bearer(role="operator"),
        )
        answer.raise_for_status()
        return [item["driver_id"] for item in answer.json()["items"]]


async def load(cases: str, registry: str) -> int:
    ids = await drivers(registry, len(NEEDS) + 2)
    if len(ids) < len(NEEDS) + 2:
        print("demo: too few drivers for the mutual-help board", file=sys.stderr)
        return 0
    helper, second = ids[-2], ids[-1]
    now = datetime.now(UTC)
    posted = 0
    async with httpx.AsyncClient(base_url=cases, timeout=10) as http:
        for i, (driver, need) in enumerate(zip(ids, NEEDS, strict=False)):
            as_driver = bearer(role="driver", driver_id=driver, sub=f"demo-{driver}")
            mine = await http.get("/v1/help/needs/mine", headers=as_driver)
            if mine.status_code == 200 and mine.json():
                continue  # loaded before
            body = need | {
                "driver_id": driver,
                "window_start": (now + timedelta(days=1, hours=i)).isoformat(),
                "window_end": (now + timedelta(days=2, hours=i)).isoformat(),
                "contact": f"微信 demo-driver-{i}",
                "details": "演示数据 / demo data",
            }
            answer = await http.post("/v1/help/needs", json=body, headers=as_driver)
            if answer.status_code != 201:
                print(f"demo: need refused: {answer.status_code} {answer.text}", file=sys.stderr)
                continue
            posted += 1
            await progress(http, i, answer.json()["need_id"], as_driver, (helper, second))
    return posted


async def progress(
    http: httpx.AsyncClient,
    i: int,
    need_id: str,
    as_driver: dict[str, str],
    helpers: tuple[str, str],
) -> None:
    """The first need is done, the second claimed by a driver, the third by a party member."""
    path = f"/v1/help/needs/{need_id}"
    if i in (0, 1):
        claimant = helpers[i]
        headers = bearer(role="driver", driver_id=claimant, sub=f"demo-{claimant}")
        await http.post(f"{path}/claim", json={"contact": f"微信 demo-helper-{i}"}, headers=headers)
    if i == 0:
        feedback = {"outcome": "done", "rating": 5, "comment": "谢谢师傅,母亲一切都好"}
        await http.post(f"{path}/close", json=feedback, headers=as_driver)
    if i == 2:
        member = bearer(role="operator", roles=["mutual_help"], sub="demo-party-member")
        body = {"contact": "党员先锋岗 demo", "helper_kind": "party_member"}
        await http.post(f"{path}/claim", json=body, headers=member)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default="http://127.0.0.1:8005")
    parser.add_argument("--registry", default="http://127.0.0.1:8001")
    args = parser.parse_args()
    posted = asyncio.run(load(args.cases, args.registry))
    print(f"demo: {posted} mutual-help needs posted; see {args.cases}/v1/help/needs")


if __name__ == "__main__":
    main()
