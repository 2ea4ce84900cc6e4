"""Load a small, realistic demo data set through the public API (``make run`` calls this).

Synthetic people: the names are common ones, the ID numbers are generated with valid check
digits and the phone numbers are from a reserved-looking range; none belongs to a real person.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

import httpx

from common.auth import issue_token
from common.settings import ServiceSettings

SURNAMES = "王李张刘陈杨黄赵周吴徐孙朱马胡郭林何高罗"
GIVEN = ["建国", "海平", "志强", "瑞申", "国华", "永军", "小龙", "春生", "卫东", "红兵", "明", "伟"]
# Home areas of the drivers the seeds describe: many come from Anhui, Henan, Jiangxi, Sichuan.
AREAS = ["340104", "410102", "360102", "510104", "330206", "330212", "420102", "320102"]
PLATE_PREFIX = ["浙B", "浙B", "浙B", "皖A", "豫A", "赣A", "川A"]
FLEETS = ["北仑顺达物流", "龙星物流", "宁波港集卡车队", "红蚂蚁运输", None]
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def national_id(rng: random.Random) -> str:
    body = (
        f"{rng.choice(AREAS)}{rng.randint(1965, 2000)}{rng.randint(1, 12):02d}"
        f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    )
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    tail = "".join(rng.choice(letters) for _ in range(5))
    return rng.choice(PLATE_PREFIX) + tail


async def load(registry_url: str, points_url: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {issue_token(ServiceSettings(), role='operator')}"}
    driver_ids: list[str] = []
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(count):
            body = {
                "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                "phone": f"1{rng.choice('3589')}{rng.randint(0, 999999999):09d}",
                "national_id": national_id(rng),
                "plate": plate(rng),
            }
            fleet = rng.choice(FLEETS)
            if fleet:
                body["fleet"] = fleet
            answer = await http.post(f"{registry_url}/v1/drivers", json=body, headers=headers)
            if answer.status_code not in (200, 201):
                print(f"demo: registration refused: {answer.status_code}", file=sys.stderr)
                continue
            driver_ids.append(answer.json()["driver_id"])
        for _ in range(100):
            answer = await http.get(f"{points_url}/v1/accounts/{driver_ids[-1]}", headers=headers)
            if answer.status_code == 200:
                break
            await asyncio.sleep(0.2)
    return driver_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registry", default="http://127.0.0.1:8001")
    parser.add_argument("--points", default="http://127.0.0.1:8002")
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    ids = asyncio.run(load(args.registry, args.points, args.count, args.seed))
    print(f"demo: {len(ids)} drivers registered (same seed, same people); e.g. {ids[0]}")


if __name__ == "__main__":
    main()
