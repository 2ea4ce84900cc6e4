"""Load a realistic synthetic Driver's Home network around the Beilun port area (``make run``).

122 stations, as in the district the seeds describe: one service centre, Driver's Homes at the
container bases and logistics parks, rest stops ("驿站") along the port roads and community
stations in the villages and communities, each with hours, facilities, capacity and (for many)
a grade. Beside them, Xuecheng's "1+X+Y" network (seeds/002:35): 1 hub, 3 drivers' homes and 20
driver posts. Coordinates are synthetic but lie where such stations would be. Activities (markets,
health checks, trainings) are scheduled for the coming weeks. Forty demo drivers use life-cycle
services at the two 司机之家 this month (policy briefings, union membership, medical checks,
legal aid, …), so the catalogue's coverage figures have something to count. Loading twice
changes nothing (within a month: each month's loading counts that month's visits).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import Any

import httpx

from common.auth import issue_token
from common.settings import ServiceSettings

# Places of Beilun district (Ningbo) with approximate centres; stations cluster around them.
PLACES: list[tuple[str, str, float, float]] = [
    ("XQ", "新碶街道", 29.9060, 121.8460),
    ("XP", "霞浦街道", 29.9520, 121.9180),
    ("DQ", "大碶街道", 29.8780, 121.7920),
    ("XG", "小港街道", 29.9300, 121.7480),
    ("CQ", "柴桥街道", 29.8560, 121.9330),
    ("DX", "大榭开发区", 29.9280, 121.9620),
    ("MS", "梅山街道", 29.7930, 121.9950),
    ("BF", "白峰街道", 29.8780, 122.0380),
    ("QJ", "戚家山街道", 29.9390, 121.7880),
    ("CX", "春晓街道", 29.7920, 121.8980),
]
ROADS = ["疏港高速", "明州大道", "长江路", "黄山西路", "中河路", "太河路", "沿山河路", "甬江路"]
ORGS = ["北仑区交通运输行业党委", "北仑区总工会", "宁波舟山港集团", "龙星物流", "霞浦物流工业社区"]
CORE = ["rest", "shower", "laundry", "meals"]
EXTRA = [
    "kitchen",
    "reading_room",
    "gym",
    "vehicle_check",
    "policy_briefing",
    "union_membership",
    "medical_check",
    "counselling",
    "legal_aid",
    "labour_mediation",
    "skills_training",
    "safety_training",
    "child_care",
    "school_admission",
    "social_insurance",
    # Beilun's stations deliver meals and host deliberation (seeds/000:59).
    "meal_delivery",
    "deliberation_room",
]
# The road each kind of station is reached by: its speed sets travel minutes (docs/stations.md).
ROAD_CLASSES = {
    "service_centre": "port",
    "drivers_home": "port",
    "rest_stop": "arterial",
    "community_station": "urban",
}
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*WORKDAYS, "sat", "sun")


def _hours(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind in ("drivers_home", "service_centre") or rng.random() < 0.3:
        return {"always_open": True}
    if kind == "community_station":
        return {
            "week": {d: [{"opens": "08:30", "closes": "17:30"}] for d in WORKDAYS},
            "holidays": [],
            "makeup_workdays_as": "mon",
        }
    if rng.random() < 0.4:  # night rest stops for drivers waiting for early slots
        return {"week": {d: [{"opens": "18:00", "closes": "08:00"}] for d in ALL_DAYS}}
    return {
        "week": {d: [{"opens": "07:00", "closes": "22:00"}] for d in ALL_DAYS},
        "holidays": [{"opens": "08:00", "closes": "20:00"}],
    }


def _grade(kind: str, rng: random.Random) -> dict[str, Any] | None:
    if kind == "community_station" or (kind == "rest_stop" and rng.random() < 0.6):
        return None
    level = {"service_centre": "5A", "drivers_home": rng.choice(["3A", "4A", "4A", "5A"])}.get(
        kind, rng.choice(["1A", "2A", "3A"])
    )
    graded_on = date(rng.choice([2021, 2022, 2023, 2024]), rng.choice([6, 11]), rng.randint(1, 28))
    return {"level": level, "graded_on": graded_on.isoformat(), "graded_by": "中国公路学会"}


def network(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    stations: list[dict[str, Any]] = [
        {
            "station_id": "BL-XP-000",
            "name": "北仑区交通物流行业党群服务中心",
            "kind": "service_centre",
            "operator_org": "北仑区交通运输行业党委",
            "address": "宁波市北仑区霞浦街道物流工业社区",
            "location": {"lat": 29.9531, "lng": 121.9142},
            "hours": {"always_open": True},
            "grade": {"level": "5A", "graded_on": "2023-11-20", "graded_by": "中国公路学会"},
            "contact": {"phone": "0574-86100000"},
            "road_class": "port",
            "capacity": {"beds": 40, "parking": 300, "showers": 12},
            "services": [{"code": c} for c in [*CORE, "bed", "parking", *EXTRA]],
        },
        {
            "station_id": "BL-XP-001",
            "name": "北仑集运基地司机之家",
            "kind": "drivers_home",
            "operator_org": "宁波舟山港集团",
            "address": "宁波市北仑区霞浦街道集运基地",
            "location": {"lat": 29.9478, "lng": 121.9235},
            "hours": {"always_open": True},
            "grade": {"level": "5A", "graded_on": "2023-11-20", "graded_by": "中国公路学会"},
            "contact": {"phone": "0574-86100001"},
            # The base has 808 driver apartments; a share is kept as short-stay beds.
            "road_class": "port",
            "capacity": {"beds": 120, "parking": 800, "showers": 30},
            "services": [
                {"code": c}
                for c in [*CORE, "bed", "parking", "kitchen", "gym", "medical_check", "child_care"]
            ],
        },
    ]
    kinds = ["drivers_home"] * 20 + ["rest_stop"] * 60 + ["community_station"] * 40
    first = len(stations)  # the loop appends: the offset into kinds counts from here
    for i in range(first, count):
        code, place, lat, lng = rng.choice(PLACES)
        kind = kinds[(i - first) % len(kinds)]
        label = {
            "drivers_home": "司机之家",
            "rest_stop": "集卡司机驿站",
            "community_station": "甬爱E家服务站",
        }[kind]
        beds = {"drivers_home": rng.randint(8, 60), "rest_stop": rng.choice([0, 0, 4, 6, 10])}.get(
            kind, 0
        )
        parking = {"drivers_home": rng.randint(30, 200), "rest_stop": rng.randint(10, 80)}.get(
            kind, 0
        )
        services = list(CORE if kind != "community_station" else ["rest", "reading_room"])
        services += rng.sample(EXTRA, k=rng.randint(1, 5))
        if beds:
            services.append("bed")
        if parking:
            services.append("parking")
        offered: list[dict[str, Any]] = [{"code": c} for c in dict.fromkeys(services)]
        road = rng.choice(ROADS)
        if "legal_aid" in services:  # a lawyer's afternoon, not the station's hours
            for item in offered:
                if item["code"] == "legal_aid":
                    item["hours"] = {"week": {"wed": [{"opens": "14:00", "closes": "17:00"}]}}
        stations.append(
            {
                "station_id": f"BL-{code}-{i:03d}",
                "name": f"{place}{road}{label}",
                "kind": kind,
                "operator_org": rng.choice(ORGS),
                "address": f"宁波市北仑区{place}{rng.choice(ROADS)}{rng.randint(1, 999)}号",
                "location": {
                    "lat": round(lat + rng.gauss(0, 0.012), 6),
                    "lng": round(lng + rng.gauss(0, 0.014), 6),
                },
                "hours": _hours(kind, rng),
                "grade": _grade(kind, rng),
                "contact": {"phone": f"0574-86{rng.randint(100000, 999999)}"},
                "status": "temporarily_closed" if rng.random() < 0.03 else "open",
                # Rest stops on the 疏港高速 are reached from the expressway.
                "road_class": "expressway"
                if kind == "rest_stop" and "高速" in road
                else ROAD_CLASSES[kind],
                "capacity": {"beds": beds, "parking": parking, "showers": rng.randint(0, 8)},
                "services": offered,
            }
        )
    return stations


# Xuecheng (Zaozhuang), seeds/002:35: "以1个交通物流行业党群服务中心为核心，
# 陶庄镇奚仲山、弘祥物流园等3个奚仲故里'司机之家'为支撑，
# 万州第一街驿站、万达红新驿站等20个红色'司机驿站'为辅助的'1+X+Y'阵地服务体系".
# The article names the centre, two of the three homes and two of the twenty posts; the
# others are named here plausibly. Coordinates are synthetic, around Xuecheng district.
XUECHENG = (34.7950, 117.2630)
XC_HOMES = ["陶庄镇奚仲山司机之家", "弘祥物流园司机之家", "常庄街道奚仲故里司机之家"]
XC_POSTS = ["万州第一街驿站", "万达红新驿站"] + [f"薛城红色司机驿站{n:02d}" for n in range(3, 21)]


def xuecheng_network(seed: int) -> list[dict[str, Any]]:
    """The 1+X+Y network: the hub first, then its 3 homes and 20 posts (each names the hub)."""
    rng = random.Random(seed + 35)

    def around(spread: float) -> dict[str, float]:
        return {
            "lat": round(XUECHENG[0] + rng.gauss(0, spread), 6),
            "lng": round(XUECHENG[1] + rng.gauss(0, spread), 6),
        }

    # The centre's 30-odd services (党性教育、车辆检测、违章处理、超限办理、住宿休息、娱乐健身…).
    hub_services = [*CORE, "bed", "parking", "vehicle_check", "policy_briefing", "gym"]
    hub_services += ["medical_check", "counselling", "skills_training", "union_membership"]
    stations: list[dict[str, Any]] = [
        {
            "station_id": "XC-HUB",
            "name": "薛城区交通物流行业党群服务中心",
            "kind": "service_centre",
            "operator_org": "薛城区交通物流行业综合党委",
            "address": "枣庄市薛城区",
            "location": {"lat": XUECHENG[0], "lng": XUECHENG[1]},
            "hours": {"always_open": True},
            "road_class": "arterial",
            "capacity": {"beds": 30, "parking": 120, "showers": 8},
            "services": [{"code": c} for c in hub_services],
            "network": {"level": "hub"},
        }
    ]
    for n, name in enumerate(XC_HOMES, start=1):
        stations.append(
            {
                "station_id": f"XC-H{n:02d}",
                "name": name,
                "kind": "drivers_home",
                "operator_org": "薛城区交通物流行业综合党委",
                "address": f"枣庄市薛城区{name.removesuffix('司机之家')}",
                "location": around(0.05),
                "hours": {"always_open": True},
                "road_class": "arterial",
                "capacity": {"beds": rng.randint(8, 30), "parking": rng.randint(40, 150)},
                "services": [{"code": c} for c in [*CORE, "bed", "parking"]],
                "network": {"level": "home", "parent_id": "XC-HUB"},
            }
        )
    for n, name in enumerate(XC_POSTS, start=1):
        stations.append(
            {
                "station_id": f"XC-P{n:02d}",
                "name": name,
                "kind": "rest_stop",
                "operator_org": "薛城区交通物流行业综合党委",
                "address": f"枣庄市薛城区{name}",
                "location": around(0.04),
                "hours": _hours("rest_stop", rng),
                "road_class": "urban",
                "services": [{"code": c} for c in ("rest", "meals", "reading_room")],
                "network": {"level": "post", "parent_id": "XC-HUB"},
            }
        )
    return stations


def activities(now: datetime) -> list[tuple[str, dict[str, Any]]]:
    start = (now + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    plan = [
        ("BL-XP-000", "market", "红领集市", 14, 6, 500, False),
        ("BL-XP-000", "legal_clinic", "货车司机法律援助咨询日", 3, 3, 40, True),
        ("BL-XP-001", "health_check", "集卡司机免费健康体检", 5, 4, 60, True),
        ("BL-XP-001", "training", "家电维修职业技能培训", 7, 3, 30, True),
        ("BL-XP-000", "festival", "温暖物流节", 21, 5, 300, False),
    ]
    return [
        (
            station_id,
            {
                "kind": kind,
                "title": title,
                "starts_at": (start + timedelta(days=days)).isoformat(),
                "ends_at": (start + timedelta(days=days, hours=hours)).isoformat(),
                "capacity": capacity,
                "registration_required": required,
            },
        )
        for station_id, kind, title, days, hours, capacity, required in plan
    ]


async def post(http: httpx.AsyncClient, path: str, **kwargs: Any) -> httpx.Response:
    """POST, waiting out the service's rate limit (429 with Retry-After) like any client."""
    while True:
        answer = await http.post(path, **kwargs)
        if answer.status_code != HTTPStatus.TOO_MANY_REQUESTS:
            return answer
        await asyncio.sleep(float(answer.headers.get("retry-after", "1")))


# Life-cycle services a visit may use (each maps to catalogue items: docs/stations.md).
VISIT_CODES = [
    "policy_briefing",
    "union_membership",
    "medical_check",
    "legal_aid",
    "skills_training",
    "social_insurance",
    "school_admission",
    "meal_delivery",
    "deliberation_room",
    "counselling",
]


async def visits(url: str, registry: str, seed: int) -> int:
    """Check-ins of demo drivers this month; each has a derived id (Idempotency-Key)."""
    headers = {"Authorization": f"Bearer {issue_token(ServiceSettings(), role='operator')}"}
    async with httpx.AsyncClient(base_url=registry, timeout=10) as http:
        found = await http.get("/v1/drivers", params={"limit": 40}, headers=headers)
        if found.status_code != HTTPStatus.OK:
            print(f"demo: no drivers for check-ins: {found.status_code}", file=sys.stderr)
            return 0
        drivers = [d["driver_id"] for d in found.json()["items"]]
    rng = random.Random(seed)
    month = datetime.now(UTC).strftime("%Y-%m")
    recorded = 0
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for n, driver_id in enumerate(drivers):
            for code in rng.sample(VISIT_CODES, k=1 + n % 3):
                # The service centre offers every one of these codes.
                body = {"driver_id": driver_id, "station_id": "BL-XP-000"}
                key = {"Idempotency-Key": f"demo-visit-{month}-{driver_id}-BL-XP-000-{code}"}
                answer = await post(
                    http, "/v1/checkins", json=body | {"service_code": code}, headers=headers | key
                )
                if answer.status_code not in (HTTPStatus.OK, HTTPStatus.CREATED):
                    print(f"demo: check-in refused: {answer.status_code}", file=sys.stderr)
                # A rerun's answer replays the first (Idempotency-Key): count what is in place.
                recorded += answer.status_code in (HTTPStatus.OK, HTTPStatus.CREATED)
    return recorded


async def load(url: str, count: int, seed: int) -> tuple[int, int]:
    headers = {"Authorization": f"Bearer {issue_token(ServiceSettings(), role='operator')}"}
    added = 0
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for station in [*network(count, seed), *xuecheng_network(seed)]:
            answer = await post(http, "/v1/stations", json=station, headers=headers)
            if answer.status_code == 201:
                added += 1
            elif answer.status_code != 409:  # 409: loaded before
                print(f"demo: station refused: {answer.status_code} {answer.text}", file=sys.stderr)
        existing = (
            (await http.get("/v1/stations/BL-XP-000/activities", headers=headers))
            .json()
            .get("items", [])
        )
        scheduled = 0
        if not existing:
            for station_id, body in activities(datetime.now(UTC)):
                answer = await post(
                    http, f"/v1/stations/{station_id}/activities", json=body, headers=headers
                )
                scheduled += answer.status_code == 201
        xc = (await http.get("/v1/networks/XC-HUB", headers=headers)).json()
        print(
            f"demo: Xuecheng's 1+X+Y network {xc.get('formula')} "
            f"(hub, drivers' homes, driver posts: {xc.get('figures')})"
        )
        # The life-cycle catalogue seeds itself (Beilun's 14 nodes, 80 items) on first read.
        catalogue = (await http.get("/v1/lifecycle", headers=headers)).json()
        print(
            f"demo: life-cycle catalogue version {catalogue.get('version')}: "
            f"{catalogue.get('stage_count')} stages, {catalogue.get('item_count')} items"
        )
    return added, scheduled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", default="http://127.0.0.1:8003")
    parser.add_argument("--count", type=int, default=122)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--registry", default="http://127.0.0.1:8001")
    args = parser.parse_args()
    added, scheduled = asyncio.run(load(args.stations, args.count, args.seed))
    recorded = asyncio.run(visits(args.stations, args.registry, args.seed))
    coverage = f"{args.stations}/v1/lifecycle/coverage"
    print(f"demo: {recorded} life-cycle check-ins this month; see {coverage}")
    print(
        f"demo: {added} stations added ({args.count} around Beilun port, 24 in Xuecheng), "
        f"{scheduled} activities scheduled; "
        f"try {args.stations}/v1/stations/nearby?lat=29.906&lng=121.846&minutes=15, "
        f"{args.stations}/v1/lifecycle, {args.stations}/v1/service-circle and "
        f"{args.stations}/v1/networks/XC-HUB"
    )


if __name__ == "__main__":
    main()
