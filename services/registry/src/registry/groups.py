"""Fleets, grids and organisations: the units drivers are grouped in (pure, no I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from registry.domain import InvalidDriverData

FleetKind = Literal["company", "owner_operator"]
OrganisationKind = Literal["service_team", "volunteer_team", "union", "party_branch"]
# The three kinds of "车轮上的党支部" the seeds name: 地缘型, 业缘型, 趣缘型.
BranchType = Literal["geographic", "business", "interest"]


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


class Organisation(BaseModel):
    model_config = ConfigDict(frozen=True)

    organisation_id: str
    name: str
    kind: OrganisationKind
    branch_type: BranchType | None = None
    grid_id: str | None = None
    fleet_id: str | None = None
    created_at: datetime


def check_organisation(kind: OrganisationKind, branch_type: BranchType | None) -> None:
    if kind == "party_branch" and branch_type is None:
        raise InvalidDriverData(
            "branch_type", "a driver party branch is geographic, business or interest"
        )
    if kind != "party_branch" and branch_type is not None:
        raise InvalidDriverData("branch_type", "only party branches have a branch type")
