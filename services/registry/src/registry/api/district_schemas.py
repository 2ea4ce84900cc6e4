"""The district's trees, people in roles, route grids and declared routes: requests, answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from common.schemas import Code, Name, RequestModel
from registry.domain import Route
from registry.groups import Appointment, Person, PersonKind, PersonRole, RouteGrid


class ParentRequest(RequestModel):
    parent_id: Code | None = Field(
        max_length=100, description="The new parent; null: the node becomes a root"
    )


class PersonRequest(RequestModel):
    name: Name = Field(min_length=1, max_length=100)
    kind: PersonKind


class PersonView(BaseModel):
    person_id: str
    name: str | None = Field(description="null once the person's personal data was erased")
    kind: PersonKind
    created_at: datetime
    erased: bool = False
    erased_at: datetime | None = None

    @classmethod
    def of(cls, person: Person) -> PersonView:
        return cls(**person.model_dump())


class AppointmentRequest(RequestModel):
    role: PersonRole


class AppointmentView(BaseModel):
    organisation_id: str
    person_id: str
    role: PersonRole
    appointed_at: datetime
    name: str | None = None
    kind: PersonKind | None = None

    @classmethod
    def of(cls, appointment: Appointment, person: Person | None = None) -> AppointmentView:
        named = {"name": person.name, "kind": person.kind} if person else {}
        return cls(**appointment.model_dump(), **named)


class AppointmentList(BaseModel):
    items: list[AppointmentView]


class RouteGridRequest(RequestModel):
    name: Name = Field(min_length=1, max_length=100)
    places: list[Name] = Field(
        min_length=1, max_length=60, description="The provinces or cities the corridor covers"
    )


class RouteGridView(BaseModel):
    route_grid_id: str
    name: str
    places: list[str]
    alliance: list[str] = Field(description="Organisations in the grid's party alliance")
    created_at: datetime

    @classmethod
    def of(cls, grid: RouteGrid) -> RouteGridView:
        return cls(**grid.model_dump())


class RouteGridList(BaseModel):
    items: list[RouteGridView]


class RouteRequest(RequestModel):
    origin: Name = Field(min_length=1, max_length=50)
    destination: Name = Field(min_length=1, max_length=50)
    via: list[Name] = Field(default_factory=list, max_length=20)

    def route(self) -> Route:
        return Route(origin=self.origin, destination=self.destination, via=self.via)


class RoutesRequest(RequestModel):
    routes: list[RouteRequest] = Field(max_length=20, description="Empty: no declared routes")


class RoutesView(BaseModel):
    driver_id: str
    route_grid_ids: list[str] = Field(description="The route grids these routes join")


class DistrictFigures(BaseModel):
    organisations_by_kind: dict[str, int]
    branches_by_type: dict[str, int]
    grids_by_level: dict[str, int]
    route_grids: int
    people_by_role: dict[str, int]
