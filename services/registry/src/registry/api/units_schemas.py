"""Fleets, grids, organisations and their members: requests and answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from common.schemas import Code, Name, RequestModel
from registry.domain import MembershipRole
from registry.groups import (
    BranchType,
    Fleet,
    FleetKind,
    Grid,
    GridLevel,
    Organisation,
    OrganisationKind,
)


class FleetRequest(RequestModel):
    name: Name = Field(min_length=1, max_length=100)
    kind: FleetKind = "company"


class GridRequest(RequestModel):
    name: Name = Field(min_length=1, max_length=100)
    community: Name = Field(min_length=1, max_length=100)
    street: Name | None = Field(default=None, min_length=1, max_length=100)
    station_id: Code | None = Field(
        default=None, max_length=100, description="The station whose staff census this grid"
    )
    parent_id: Code | None = Field(
        default=None, max_length=100, description="The grid this one lies in (none: a root)"
    )
    level: GridLevel | None = Field(default=None, description="community, grid or micro_grid")


class GridStationRequest(RequestModel):
    station_id: Code | None = Field(
        max_length=100, description="The station whose staff census this grid; null: none"
    )


class OrganisationRequest(RequestModel):
    name: Name = Field(min_length=1, max_length=100)
    kind: OrganisationKind
    branch_type: BranchType | None = None
    grid_id: Code | None = Field(default=None, max_length=100)
    fleet_id: Code | None = Field(default=None, max_length=100)
    parent_id: Code | None = Field(
        default=None, max_length=100, description="The organisation above this one (none: a root)"
    )
    departments: list[Name] = Field(
        default_factory=list,
        max_length=30,
        description="A comprehensive committee's member departments",
    )


class MemberRequest(RequestModel):
    driver_id: Code = Field(min_length=1, max_length=100)
    role: MembershipRole = "member"
    mobile: bool = False
    home_organisation: Code | None = Field(default=None, min_length=1, max_length=100)
    residence_organisation_id: Code | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="A mobile member: the residence community's organisation that manages them",
    )


class FleetView(BaseModel):
    fleet_id: str
    name: str
    kind: FleetKind
    verified: bool
    created_at: datetime

    @classmethod
    def of(cls, fleet: Fleet) -> FleetView:
        return cls(**fleet.model_dump())


class FleetPage(BaseModel):
    items: list[FleetView]
    next_cursor: str | None = None


class GridView(BaseModel):
    grid_id: str
    name: str
    community: str
    street: str | None
    station_id: str | None = None
    created_at: datetime
    parent_id: str | None = None
    ancestor_ids: list[str] = Field(default_factory=list)
    level: GridLevel | None = None

    @classmethod
    def of(cls, grid: Grid) -> GridView:
        return cls(**grid.model_dump())


class GridPage(BaseModel):
    items: list[GridView]
    next_cursor: str | None = None


class OrganisationView(BaseModel):
    organisation_id: str
    name: str
    kind: OrganisationKind
    branch_type: BranchType | None
    grid_id: str | None
    fleet_id: str | None
    created_at: datetime
    parent_id: str | None = None
    ancestor_ids: list[str] = Field(default_factory=list)
    departments: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, organisation: Organisation) -> OrganisationView:
        return cls(**organisation.model_dump())


class OrganisationPage(BaseModel):
    items: list[OrganisationView]
    next_cursor: str | None = None
