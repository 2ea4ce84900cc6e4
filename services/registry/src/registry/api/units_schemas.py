"""Fleets, grids, organisations and their members: requests and answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from common.schemas import Code, Name, RequestModel
from registry.domain import MembershipRole
from registry.groups import BranchType, Fleet, FleetKind, Grid, Organisation, OrganisationKind


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


class MemberRequest(RequestModel):
    driver_id: Code = Field(min_length=1, max_length=100)
    role: MembershipRole = "member"
    mobile: bool = False
    home_organisation: Code | None = Field(default=None, min_length=1, max_length=100)


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

    @classmethod
    def of(cls, organisation: Organisation) -> OrganisationView:
        return cls(**organisation.model_dump())


class OrganisationPage(BaseModel):
    items: list[OrganisationView]
    next_cursor: str | None = None
