"""Load a realistic synthetic Beilun district into the registry (``make run`` calls this).

Thousands of container-truck drivers from the provinces the seeds name, the small haulage firms
and owner-operators they drive for, the residence grids of Xiapu, Xinqi, Daqi, Xiaogang and
Chaiqiao, the "车轮上的党支部" (by geography, by line of business, by interest) with mobile
members, a volunteer team, the union, families, consents, port passes and a census under way.

Synthetic people only: ID numbers are generated with valid check digits, phone numbers come from
a generated range; none belongs to a real person. Same seed, same district; a second run finds
everyone already registered and changes nothing.

It works through the registry's use cases on the registry's own database (settings from the
same ``DRIVERHOME_*`` environment as the service). The events it causes wait in the drivers'
outbox; a running registry's outbox sweeper publishes them (or the next one to start).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from demo_district import Tree, build_tree, wenzhou_member

from common.events.registry import BaseLocation, DriverKind
from common.mongo import create_client, database, ensure_indexes
from registry.app import build_registry
from registry.consent import ChildInput, FamilyInput
from registry.domain import Conflict, ConsentPurpose, RegistryError, Route, VehicleType
from registry.groups import BranchType, OrganisationKind
from registry.records import Actor
from registry.registration import Registration
from registry.service import Registry
from registry.settings import RegistrySettings
from registry.store import ALL_INDEXES

ACTOR = Actor(sub="demo-loader", role="operator")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

# Home province -> (weight, ID area codes, plate prefix, branch name, a home party organisation)
PROVINCES: dict[str, tuple[int, list[str], str, str, str]] = {
    "安徽": (24, ["341202", "341221", "341603", "340104"], "皖", "皖籍", "阜阳市颍州区"),
    "河南": (20, ["411602", "411522", "410102", "411302"], "豫", "豫籍", "周口市川汇区"),
    "江西": (14, ["360102", "362201", "360702"], "赣", "赣籍", "上饶市信州区"),
    "四川": (10, ["510104", "511302", "510681"], "川", "川籍", "南充市顺庆区"),
    "湖北": (8, ["420102", "421002", "420902"], "鄂", "鄂籍", "孝感市孝南区"),
    "湖南": (6, ["430102", "430602"], "湘", "湘籍", "岳阳市岳阳楼区"),
    "浙江": (18, ["330206", "330212", "330281", "330522"], "浙", "甬籍", "宁波市北仑区"),
}
SURNAMES = (
    "王李张刘陈杨黄赵周吴徐孙朱马胡郭林何高罗郑梁谢宋唐许韩冯邓"
    "曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢"
)
GIVEN = [
    "建国",
    "海平",
    "志强",
    "瑞申",
    "国华",
    "永军",
    "小龙",
    "春生",
    "卫东",
    "红兵",
    "明",
    "伟",
    "军",
    "勇",
    "磊",
    "涛",
    "斌",
    "超",
    "刚",
    "平",
    "辉",
    "鹏",
    "华",
    "俊杰",
    "德胜",
    "长江",
    "保国",
    "文斌",
    "金龙",
    "新民",
    "振华",
    "立新",
    "学军",
    "福生",
    "家旺",
    "成林",
]
WOMEN = ["秀英", "桂兰", "丽", "敏", "静", "燕", "娟", "霞", "玲", "芳", "红梅", "春燕"]
KIDS = ["子涵", "梓轩", "浩然", "雨泽", "一诺", "欣怡", "思远", "佳怡", "宇航", "若曦", "子墨"]
STREETS = {
    "霞浦街道": ["物流工业社区", "霞浦社区", "集卡社区"],
    "新碶街道": ["新碶社区", "大港社区"],
    "大碶街道": ["大碶社区", "璎珞社区"],
    "小港街道": ["小港社区", "渡口社区"],
    "柴桥街道": ["柴桥社区", "穿山社区"],
}
FIRMS = [
    "顺达",
    "龙星",
    "港通",
    "甬运",
    "北仑港集",
    "海天",
    "金港",
    "远洋",
    "集运通",
    "东方",
    "华晨",
    "联运",
    "开发区",
    "港城",
    "泰和",
    "鼎盛",
    "万通",
    "宏达",
    "恒通",
    "长运",
]
FIRM_KINDS = ["物流有限公司", "集装箱运输有限公司", "运输有限公司", "货运代理有限公司"]
# Plate characters after the issuing-authority letter (no I or O).
PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass
class District:
    tree: Tree
    grids: list[str]
    fleets: list[str]
    geographic: dict[str, str]
    business: list[str]
    interest: list[str]
    volunteers: str
    union: str
    service_team: str


def national_id(rng: random.Random, areas: list[str]) -> str:
    body = (
        f"{rng.choice(areas)}{rng.randint(1966, 2001)}{rng.randint(1, 12):02d}"
        f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    )
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def plate(index: int, prefix: str, trailer: bool) -> str:
    """Unique per index: the index written in base 34 after the province and letter."""
    width = 4 if trailer else 5
    chars = []
    n = index
    for _ in range(width):
        n, r = divmod(n, len(PLATE_CHARS))
        chars.append(PLATE_CHARS[r])
    letter = "B" if prefix == "浙" else "A"
    return f"{prefix}{letter}{''.join(reversed(chars))}{'挂' if trailer else ''}"


async def build_district(registry: Registry, rng: random.Random, fleets: int) -> District:
    grids_by_name = {g.name: g.grid_id for g in await registry.units.grids(after=None, limit=200)}
    grids = []
    logistics: dict[str, str] = {}
    units = registry.units
    for street, communities in STREETS.items():
        for community in communities:
            # Each community is the root of its grids (issue 16); 物流工业社区 has 7 (000:77).
            if community not in grids_by_name:
                root = await units.create_grid(community, community, street, level="community")
                grids_by_name[community] = root.grid_id
            for n in range(1, 4 if community != "物流工业社区" else 8):
                name = f"{community}第{n}网格"
                if name not in grids_by_name:
                    grids_by_name[name] = (
                        await units.create_grid(
                            name,
                            community,
                            street,
                            parent_id=grids_by_name[community],
                            level="grid",
                        )
                    ).grid_id
                grids.append(grids_by_name[name])
                if community == "物流工业社区":
                    logistics[name] = grids_by_name[name]
    tree = await build_tree(registry, logistics)
    fleet_ids = []
    for n in range(fleets):
        if n % 4 == 3:  # many drivers are owner-operators with one or two trucks
            name, kind = f"个体运输户{n:03d}", "owner_operator"
        else:
            name = f"宁波{rng.choice(FIRMS)}{FIRM_KINDS[n % len(FIRM_KINDS)]}{n:02d}"
            kind = "company"
        fleet_ids.append((await registry.units.create_fleet(name, kind)).fleet_id)  # type: ignore[arg-type]
    organisations = {
        o.name: o.organisation_id
        for o in await registry.units.organisations(kind=None, after=None, limit=200)
    }

    async def organisation(name: str, kind: OrganisationKind, branch: BranchType | None) -> str:
        if name not in organisations:
            organisations[name] = (
                await registry.units.create_organisation(name, kind, branch, None, None)
            ).organisation_id
        return organisations[name]

    # The 12 mobile branches led by social workers (000:43): 7 by home province, 3 by line of
    # business, 2 by interest; members are placed under a residence community's organisation.
    geographic = dict(zip(PROVINCES, tree.mobile_branches["geographic"], strict=True))
    return District(
        tree=tree,
        grids=grids + tree.micro_grids,
        fleets=fleet_ids,
        geographic=geographic,
        business=tree.mobile_branches["business"],
        interest=tree.mobile_branches["interest"],
        volunteers=await organisation("北仑卡友志愿服务队", "volunteer_team", None),
        union=await organisation("北仑区货车司机工会联合会", "union", None),
        service_team=await organisation("卡嫂共富工坊服务队", "service_team", None),
    )


async def declare_routes(
    registry: Registry, driver_id: str, province: str, rng: random.Random, stats: Counter[str]
) -> None:
    """Routes from home (002:19 线路行程) join the route grids they touch."""
    if rng.random() < 0.4:
        destination = rng.choice(["浙江", "上海", "江苏", "山东", "河北", "辽宁"])
        await registry.district.declare_routes(
            driver_id, [Route(origin=province, destination=destination)]
        )
        stats["declared_routes"] += 1


# Where drivers declare their base (issue 16's service circle): container bases, logistics
# parks and the villages drivers rent in, around Beilun's streets (as scripts/demo_stations.py).
BASES = [
    (29.95, 121.92),
    (29.91, 121.85),
    (29.88, 121.79),
    (29.93, 121.75),
    (29.86, 121.93),
    (29.93, 121.96),
    (29.79, 122.00),
    (29.88, 122.04),
    (29.94, 121.79),
    (29.79, 121.90),
]
# Mostly the port's container trucks; Wenzhou and Xuecheng also serve ride-hailing and taxi
# drivers (seeds/003:9, 002:49).
KINDS: dict[DriverKind, int] = {
    "container_truck": 80,
    "general_cargo_truck": 10,
    "ride_hailing": 6,
    "taxi": 4,
}
BASE_SHARE = 0.7


def base_near(rng: random.Random) -> BaseLocation | None:
    """A coarse declared base for seven drivers in ten (two decimals, about a kilometre)."""
    if rng.random() >= BASE_SHARE:
        return None
    lat, lng = rng.choice(BASES)
    return BaseLocation(
        lat=round(lat + rng.uniform(-0.04, 0.04), 2), lng=round(lng + rng.uniform(-0.04, 0.04), 2)
    )


async def load_driver(
    registry: Registry, district: District, index: int, seed: int, stats: Counter[str]
) -> None:
    rng = random.Random(seed * 1_000_003 + index)
    province = rng.choices(list(PROVINCES), weights=[p[0] for p in PROVINCES.values()])[0]
    _weight, areas, prefix, _branch, home_area = PROVINCES[province]
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    plate_prefix = prefix if rng.random() < 0.35 else "浙"
    vehicle_type: VehicleType = "container_tractor"
    registration = Registration(
        name=name,
        phone=f"1{rng.choice('35789')}{rng.randint(0, 9)}{index:08d}",
        national_id=national_id(rng, areas),
        plate=plate(index, plate_prefix, trailer=False),
        fleet=rng.choice(district.fleets),
        home_province=province,
        languages=("zh",) + (("wuu",) if province == "浙江" else ()),
        vehicle_type=vehicle_type,
        kind=rng.choices(list(KINDS), weights=list(KINDS.values()))[0],
        base_location=base_near(rng),
    )
    channel = rng.choices(["station", "operator", "self"], weights=[50, 30, 20])[0]
    try:
        driver, created = await registry.registrar.register_driver(registration, channel, ACTOR)  # type: ignore[arg-type]
    except Conflict:
        stats["plate_conflicts"] += 1
        return
    member = await wenzhou_member(registry, district.tree, index, driver.driver_id, driver.kind)
    stats["wenzhou_members"] += int(member)
    if not created:
        stats["already_registered"] += 1
        return
    stats["drivers"] += 1
    driver_id = driver.driver_id
    today = datetime.now(UTC).date()
    await registry.vehicles.update_pass(
        driver_id,
        registration.plate,
        f"BLP-{today.year}-{index:06d}",
        today + timedelta(days=rng.randint(-20, 365)),
    )
    if rng.random() < 0.3:
        await registry.vehicles.add_vehicle(
            driver_id,
            plate(index, "浙", trailer=True),
            "trailer",
            None,
            None,
        )
        stats["trailers"] += 1
    await registry.lifecycle.update_driver(
        driver_id, {"grid_id": rng.choice(district.grids)}, ACTOR
    )
    for purpose, share in (
        ("points", 0.9),
        ("notifications", 0.8),
        ("location", 0.3),
        ("family_services", 0.25),
    ):
        if rng.random() < share:
            channel_given = rng.choice(["app", "station", "paper"])
            await registry.consent.set_consent(driver_id, purpose, True, channel_given, ACTOR)  # type: ignore[arg-type]
            stats[f"consent_{purpose}"] += 1
    consents: set[ConsentPurpose] = set((await registry.lookup.get_driver(driver_id)).consents)  # type: ignore[arg-type]
    if "family_services" in consents:
        surname = name[0]
        children = [
            ChildInput(surname + rng.choice(KIDS), rng.randint(2008, today.year - 1))
            for _ in range(rng.choice([0, 1, 1, 2, 2, 3]))
        ]
        spouse = rng.choice(SURNAMES) + rng.choice(WOMEN) if rng.random() < 0.85 else None
        await registry.consent.set_family(driver_id, FamilyInput(spouse, children), ACTOR)
        stats["families"] += 1
    if (
        rng.random() < 0.12
    ):  # party members: a branch by home province, line of business or interest
        kind = rng.choices(["geo", "business", "interest"], weights=[6, 3, 1])[0]
        branch = (
            district.geographic[province]
            if kind == "geo"
            else rng.choice(district.business if kind == "business" else district.interest)
        )
        mobile = province != "浙江" and rng.random() < 0.6
        home = f"{home_area}某村党支部" if mobile else None
        residence = rng.choice(district.tree.communities) if mobile else None
        await registry.units.add_member(
            branch, driver_id, "member", mobile, home, residence_organisation_id=residence
        )
        stats["party_members"] += 1
        stats["mobile_members"] += int(mobile)
    await declare_routes(registry, driver_id, province, rng, stats)
    if rng.random() < 0.1:
        await registry.units.add_member(district.volunteers, driver_id, "volunteer", False, None)
        stats["volunteers"] += 1
    if rng.random() < 0.25:
        await registry.units.add_member(district.union, driver_id, "member", False, None)
        stats["union_members"] += 1
    if rng.random() < 0.03:
        await registry.lifecycle.update_driver(driver_id, {"status": "inactive"}, ACTOR)
        stats["inactive"] += 1
    elif rng.random() < 0.01:
        await registry.lifecycle.deactivate(driver_id, "left_district", ACTOR)
        stats["deactivated"] += 1
    elif rng.random() < 0.4:
        await registry.census.verify(
            driver_id, None, {}, Actor(sub="grid-worker-demo", role="operator")
        )
        stats["verified_this_quarter"] += 1


async def load(count: int, seed: int, fleets: int, concurrency: int) -> Counter[str]:
    settings = RegistrySettings()
    client = create_client(settings)
    try:
        db = database(client, settings)
        await ensure_indexes(db, ALL_INDEXES)
        registry = build_registry(db, settings)
        rng = random.Random(seed)
        district = await build_district(registry, rng, fleets)
        stats: Counter[str] = Counter(grids=len(district.grids), fleets=len(district.fleets))
        await registry.census.start_campaign(None, [], ACTOR)
        queue = iter(range(count))

        async def worker() -> None:
            for index in queue:
                try:
                    await load_driver(registry, district, index, seed, stats)
                except RegistryError as exc:
                    stats[f"refused_{type(exc).__name__}"] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return stats
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000, help="drivers (default 2000)")
    parser.add_argument("--fleets", type=int, default=80)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    stats = asyncio.run(load(args.count, args.seed, args.fleets, args.concurrency))
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.items()))
    print(f"demo registry: {summary} ({elapsed:.0f}s; as of {date.today()})")
    if stats["drivers"] == 0 and stats["already_registered"] == 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
