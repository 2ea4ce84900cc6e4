"""The district's structure as the articles give it (issue 16), for ``scripts/demo_registry.py``.

Beilun (seeds/000:43, 000:77, 001:7): the district's 两新工委 over the transport industry party
committee; 20 residence community party organisations that take in mobile party members; 12
mobile branches ("车轮上的党支部": geographic, business, interest) each led by a social worker;
14 new enterprise branches with 42 "dual instructors" (three each); the logistics community cut
into 7 grids and 42 micro-grids. Xuecheng (002:17-25, 002:51): a comprehensive committee joining
five departments, 11 branches (7 geographic, 4 business), four nationwide route grids with their
grid party alliances, five volunteer teams. Wenzhou (003:23): committee, association, enterprise
branches, driver members: four levels.

Everything is found by name first, so a second run adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.groups import BranchType, GridLevel, OrganisationKind, PersonKind, PersonRole
from registry.service import Registry

MICRO_GRIDS_PER_GRID = 6  # 7 grids, 42 micro-grids (seeds/000:77)
MOBILE_BRANCHES: list[tuple[str, BranchType]] = [
    *(
        (f"{p}籍集卡司机流动党支部", "geographic")
        for p in ("皖", "豫", "赣", "川", "鄂", "湘", "甬")
    ),
    *(
        (n, "business")
        for n in ("港城冷链运输流动党支部", "危化品运输流动党支部", "集港通车队流动党支部")
    ),
    *((n, "interest") for n in ("卡友摄影流动党支部", "红色车友读书会流动党支部")),
]
ENTERPRISE_BRANCHES = 14  # 新建党支部14个, 选派"双指导员"42名 (seeds/000:43)
DUAL_INSTRUCTORS_EACH = 3
COMMUNITY_ORGANISATIONS = 20  # 纳入居住地的20个社区党组织管理 (seeds/000:43)
# Xuecheng's four route grids (seeds/002:25) as the provinces each corridor crosses.
ROUTE_GRIDS: dict[str, list[str]] = {
    "东北网格": ["辽宁", "吉林", "黑龙江", "内蒙古"],
    "京津冀网格": ["北京", "天津", "河北"],
    "鲁苏豫网格": ["山东", "江苏", "河南"],
    "长江沿线网格": ["上海", "江苏", "浙江", "安徽", "江西", "湖北", "湖南", "重庆", "四川"],
}
XUECHENG_DEPARTMENTS = ["发改", "工信", "商促", "市监", "邮政"]  # seeds/002:17


@dataclass
class Tree:
    """What the driver loader places drivers into."""

    micro_grids: list[str] = field(default_factory=list)
    mobile_branches: dict[BranchType, list[str]] = field(default_factory=dict)
    communities: list[str] = field(default_factory=list)
    enterprise_branches: list[str] = field(default_factory=list)
    route_grids: list[str] = field(default_factory=list)
    wenzhou_branches: list[str] = field(default_factory=list)


class Builder:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.orgs: dict[str, str] = {}
        self.grids: dict[str, str] = {}
        self.people: dict[str, str] = {}

    async def load_known(self) -> None:
        units = self.registry.units
        after: str | None = None
        while page := await units.organisations(kind=None, after=after, limit=200):
            self.orgs.update({o.name: o.organisation_id for o in page})
            after = page[-1].organisation_id
        after = None
        while grids := await units.grids(after=after, limit=200):
            self.grids.update({g.name: g.grid_id for g in grids})
            after = grids[-1].grid_id

    async def org(
        self,
        name: str,
        kind: OrganisationKind,
        parent: str | None,
        branch: BranchType | None = None,
        departments: list[str] | None = None,
    ) -> str:
        if name not in self.orgs:
            made = await self.registry.units.create_organisation(
                name, kind, branch, None, None, parent_id=parent, departments=departments
            )
            self.orgs[name] = made.organisation_id
        return self.orgs[name]

    async def grid(self, name: str, community: str, level: GridLevel, parent: str | None) -> str:
        if name not in self.grids:
            made = await self.registry.units.create_grid(
                name, community, None, parent_id=parent, level=level
            )
            self.grids[name] = made.grid_id
        return self.grids[name]

    async def person(
        self, name: str, kind: PersonKind, organisation: str, role: PersonRole
    ) -> None:
        district = self.registry.district
        held = await district.people_of(organisation, subtree=False)
        if any(person.name == name for _, person in held):
            return  # a second run: already appointed
        if name not in self.people:
            self.people[name] = (await district.add_person(name, kind)).person_id
        await district.appoint(organisation, self.people[name], role)


async def build_tree(registry: Registry, grid_of: dict[str, str]) -> Tree:
    """``grid_of``: the logistics community's 7 grids by name (made by the loader)."""
    b = Builder(registry)
    await b.load_known()
    tree = Tree()
    for grid_name, grid_id in sorted(grid_of.items()):
        for m in range(1, MICRO_GRIDS_PER_GRID + 1):
            micro = f"{grid_name}第{m}微网格"
            tree.micro_grids.append(await b.grid(micro, "物流工业社区", "micro_grid", grid_id))
    work = await b.org("北仑区委两新工委", "new_organisations_work_committee", None)
    industry = await b.org("北仑区交通运输行业党委", "industry_party_committee", work)
    logistics = await b.org("霞浦街道物流工业社区党委", "community_party_organisation", industry)
    tree.communities = [logistics] + [
        await b.org(f"北仑第{n:02d}社区党组织", "community_party_organisation", industry)
        for n in range(2, COMMUNITY_ORGANISATIONS + 1)
    ]
    for n, (name, branch) in enumerate(MOBILE_BRANCHES):
        org = await b.org(name, "mobile_branch", tree.communities[n % 12], branch)
        tree.mobile_branches.setdefault(branch, []).append(org)
        await b.person(f"社工{n + 1:02d}", "social_worker", org, "secretary")
    firms = ["龙星物流党支部", *(f"北仑货运企业联合党支部{n:02d}" for n in range(2, 15))]
    for n, name in enumerate(firms[:ENTERPRISE_BRANCHES]):
        org = await b.org(name, "enterprise_branch", industry)
        tree.enterprise_branches.append(org)
        for k in range(DUAL_INSTRUCTORS_EACH):
            who = f"双指导员{n * DUAL_INSTRUCTORS_EACH + k + 1:02d}"
            await b.person(who, "instructor", org, "dual_instructor")
    await b.org("集卡司机之家党支部", "party_branch", logistics, "business")
    await build_xuecheng(b, tree)
    await build_wenzhou(b, tree)
    return tree


async def build_xuecheng(b: Builder, tree: Tree) -> None:
    committee = await b.org(
        "薛城区交通物流行业综合党委",
        "comprehensive_party_committee",
        None,
        departments=XUECHENG_DEPARTMENTS,
    )
    for n in range(1, 8):
        await b.org(f"薛城地缘型车轮上的党支部{n}", "party_branch", committee, "geographic")
    for n in range(1, 5):
        await b.org(f"薛城业缘型车轮上的党支部{n}", "party_branch", committee, "business")
    for name in ("雷锋车队", "爱心助考", "车祖先锋", "薛城卡友志愿队", "奚仲故里志愿队"):
        await b.org(f"{name}志愿服务队", "volunteer_team", committee)
    district = b.registry.district
    known = {g.name: g for g in await district.route_grids()}
    for name, places in ROUTE_GRIDS.items():
        grid = known.get(name) or await district.add_route_grid(name, places)
        tree.route_grids.append(grid.route_grid_id)
        alliance = await b.org(f"{name}党建联盟", "alliance_unit", committee)
        await district.join_alliance(grid.route_grid_id, alliance)


async def build_wenzhou(b: Builder, tree: Tree) -> None:
    # The fourth level, driver party members, is placed by the driver loader.
    committee = await b.org("温州市交通运输行业党委", "industry_party_committee", None)
    association = await b.org("温州市道路运输行业协会党总支", "industry_association", committee)
    for name in ("传化公路港党支部", "温州交运物流公司党支部"):
        tree.wenzhou_branches.append(await b.org(name, "enterprise_branch", association))


# Wenzhou's branches serve ride-hailing and taxi drivers (003:9).
WENZHOU_KINDS = ("ride_hailing", "taxi")


async def wenzhou_member(
    registry: Registry, tree: Tree, index: int, driver_id: str, kind: str
) -> bool:
    """Wenzhou's fourth level (003:23): every fourth ride-hailing or taxi driver (by index, not
    by the loader's random draws, so a district loaded before gains them and nothing else) as a
    member of one of its enterprise branches. True when new."""
    if kind not in WENZHOU_KINDS or index % 4:
        return False
    branches = tree.wenzhou_branches
    _membership, added = await registry.units.add_member(
        branches[index % len(branches)], driver_id, "member", False, None
    )
    return added
