"""Fleets, grids and organisations: the units drivers are grouped in (pure, no I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry.domain import InvalidDriverData, Route

FleetKind = Literal["company", "owner_operator"]
# The first four are the flat kinds of issue 3; the rest are the levels the articles name
# (docs/registry.md "Organisations" cites each line): 行业党委 (seeds/003:23, 001:7),
# 行业综合党委 joining several departments (002:17), 行业协会 (003:23), 企业党支部 (003:23,
# 000:43), 流动党支部 led by social workers (000:43), 社区党组织 where mobile members are
# placed (000:43), 两新工委 (000:45) and a 网格党建联盟 member unit (002:25).
OrganisationKind = Literal[
    "service_team",
    "volunteer_team",
    "union",
    "party_branch",
    "industry_party_committee",
    "comprehensive_party_committee",
    "industry_association",
    "enterprise_branch",
    "mobile_branch",
    "community_party_organisation",
    "new_organisations_work_committee",
    "alliance_unit",
]
# The three kinds of "车轮上的党支部" the seeds name: 地缘型, 业缘型, 趣缘型 (002:25).
BranchType = Literal["geographic", "business", "interest"]
BRANCH_KINDS: frozenset[str] = frozenset({"party_branch", "mobile_branch"})
# Beilun's community is cut into 7 grids and 42 micro-grids (seeds/000:77); Xuecheng's route
# grids are corridors across the country (002:25) and live in their own collection.
GridLevel = Literal["community", "grid", "micro_grid"]
# People who are not drivers: branch secretaries who are social workers (000:43), party-building
# and industry "dual instructors" (000:43, 003:23), officials of committees and departments.
PersonKind = Literal["social_worker", "instructor", "official", "volunteer", "enterprise_manager"]
PersonRole = Literal["secretary", "deputy_secretary", "instructor", "dual_instructor", "member"]


class Fleet(BaseModel):
    model_config = ConfigDict(frozen=True)

    fleet_id: str
    name: str
    kind: FleetKind = "company"
    verified: bool = False
    created_at: datetime


class Grid(BaseModel):
    model_config = ConfigDict(frozen=True)

    grid_id: str
    name: str
    community: str
    street: str | None = None
    # The station whose staff census this grid: its census assignment (issue 14).
    station_id: str | None = None
    created_at: datetime
    # The tree (issue 16): absent on grids made before it, which are roots.
    parent_id: str | None = None
    ancestor_ids: list[str] = Field(default_factory=list)
    level: GridLevel | None = None


class Organisation(BaseModel):
    model_config = ConfigDict(frozen=True)

    organisation_id: str
    name: str
    kind: OrganisationKind
    branch_type: BranchType | None = None
    grid_id: str | None = None
    fleet_id: str | None = None
    created_at: datetime
    # The tree (issue 16): ancestors root first, so a subtree is one indexed query.
    parent_id: str | None = None
    ancestor_ids: list[str] = Field(default_factory=list)
    # A comprehensive committee's member departments (发改, 工信, 商促, 市监, 邮政: 002:17).
    departments: list[str] = Field(default_factory=list)


class Person(BaseModel):
    """Someone who is not a driver but serves in an organisation (a name, never an ID)."""

    model_config = ConfigDict(frozen=True)

    person_id: str
    # None once erased: the record keeps its pseudonymous id, kind and dates only.
    name: str | None = None
    kind: PersonKind
    created_at: datetime
    erased: bool = False
    erased_at: datetime | None = None


class Appointment(BaseModel):
    """A person's role in one organisation."""

    model_config = ConfigDict(frozen=True)

    organisation_id: str
    person_id: str
    role: PersonRole
    appointed_at: datetime


class RouteGrid(BaseModel):
    """A corridor of provinces or cities (东北, 京津冀, 鲁苏豫, 长江沿线: seeds/002:25) with the
    grid party alliance of organisations that solve drivers' problems along it."""

    model_config = ConfigDict(frozen=True)

    route_grid_id: str
    name: str
    places: list[str]
    alliance: list[str] = Field(default_factory=list)
    created_at: datetime


def route_grids_of(routes: list[Route], grids: list[RouteGrid]) -> list[str]:
    """The route grids a driver joins: every corridor one of their routes touches."""
    touched = set().union(*(route.places() for route in routes)) if routes else set()
    return sorted(g.route_grid_id for g in grids if touched & set(g.places))


def check_organisation(kind: OrganisationKind, branch_type: BranchType | None) -> None:
    if kind in BRANCH_KINDS and branch_type is None:
        raise InvalidDriverData(
            "branch_type", "a driver party branch is geographic, business or interest"
        )
    if kind not in BRANCH_KINDS and branch_type is not None:
        raise InvalidDriverData("branch_type", "only party branches have a branch type")
