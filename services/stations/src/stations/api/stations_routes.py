"""The service catalogue and the stations: add, list, the nearest, read, change, occupancy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from common.pagination import AfterId, PageQuery
from common.problems import Problem
from stations.api.dependencies import (
    Everyone,
    Service,
    StationAdmin,
    StationStaff,
    must_manage,
)
from stations.api.schemas import (
    Catalogue,
    NearbyAnswer,
    NearbyStation,
    Occupancy,
    ServiceTypeView,
    StageView,
    StationChange,
    StationCreate,
    StationPage,
    StationView,
)
from stations.domain import (
    CATALOGUE,
    SERVICES,
    STAGES,
    StationKind,
    StationStatus,
)
from stations.nearby import NearbyQuery
from stations.service import Stations
from stations.settings import StationsSettings

router = APIRouter(prefix="/v1", tags=["stations"])


async def _settings(request: Request) -> StationsSettings:
    settings: StationsSettings = request.app.state.settings
    return settings


@router.get("/services", response_model=Catalogue, summary="The service catalogue by life stage")
async def catalogue(_: Everyone) -> Catalogue:
    return Catalogue(
        stages=[
            StageView(
                stage=stage,
                services=[
                    ServiceTypeView(
                        code=s.code, name=s.name, name_zh=s.name_zh, resource=s.resource
                    )
                    for s in CATALOGUE
                    if s.stage == stage
                ],
            )
            for stage in STAGES
        ]
    )


@router.post("/stations", status_code=201, response_model=StationView, summary="Add a station")
async def add_station(
    body: StationCreate,
    _: StationAdmin,
    service: Service,
) -> StationView:
    await service.network.check(body.network)  # a home or post names an existing hub
    station = await service.directory.add_station(body.model_dump(mode="json"))
    return StationView.of(station, service.now())


@router.get("/stations", response_model=StationPage, summary="Stations, by id, paginated")
async def list_stations(
    _: Everyone,
    service: Service,
    page: PageQuery,
    kind: StationKind | None = None,
    status: StationStatus | None = None,
) -> StationPage:
    filters: dict[str, Any] = {}
    if kind:
        filters["kind"] = kind
    if status:
        filters["status"] = status
    position = page.after(AfterId)
    stations = await service.directory.stations(
        filters=filters, after=position.id if position else None, limit=page.limit
    )
    now = service.now()
    last = AfterId(id=stations[-1].station_id) if stations else None
    cursor = page.next_if_full(len(stations), last)
    return StationPage(items=[StationView.of(s, now) for s in stations], next_cursor=cursor)


@router.get(
    "/stations/nearby",
    response_model=NearbyAnswer,
    summary="The nearest stations, nearest first, with distance and travel time",
)
async def nearby(
    _: Everyone,
    service: Service,
    settings: Annotated[StationsSettings, Depends(_settings)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lng: Annotated[float, Query(ge=-180, le=180)],
    radius_km: Annotated[float | None, Query(gt=0)] = None,
    facility: Annotated[list[str] | None, Query(description="Service codes all required")] = None,
    open_now: bool = False,
    free_beds: bool = False,
    free_parking: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    minutes: Annotated[
        int | None,
        Query(ge=1, le=240, description="Only stations within this estimated driving time"),
    ] = None,
) -> NearbyAnswer:
    radius = radius_km or settings.nearby_default_radius_km
    if minutes is not None:
        # No station beyond the fastest road's reach can be within the minutes.
        reach = settings.reach_km(minutes)
        radius = min(radius_km, reach) if radius_km else min(reach, settings.nearby_max_radius_km)
    if radius > settings.nearby_max_radius_km:
        raise Problem(
            422,
            "Unprocessable Content",
            f"radius_km may be at most {settings.nearby_max_radius_km:g}",
        )
    unknown = sorted(set(facility or ()) - set(SERVICES))
    if unknown:
        raise Problem(422, "Unprocessable Content", f"unknown facility codes: {unknown}")
    found = await service.nearby.nearby(
        NearbyQuery(
            lat=lat,
            lng=lng,
            radius_km=radius,
            facilities=frozenset(facility or ()),
            open_now=open_now,
            free_beds=free_beds,
            free_parking=free_parking,
            limit=limit,
            minutes=minutes,
        )
    )
    items = [
        NearbyStation(
            **n.station.model_dump(
                include={
                    "station_id",
                    "name",
                    "kind",
                    "address",
                    "location",
                    "status",
                    "road_class",
                    "grade",
                    "free",
                    "capacity",
                    "contact",
                }
            ),
            distance_km=round(n.distance_km, 3),
            travel_minutes=n.travel_minutes,
            open_now=n.open_now,
            services=[s.code for s in n.station.services],
        )
        for n in found
    ]
    return NearbyAnswer(
        at=service.now(), radius_km=round(radius, 3), minutes=minutes, count=len(items), items=items
    )


@router.get("/stations/{station_id}", response_model=StationView, summary="A station")
async def get_station(station_id: str, _: Everyone, service: Service) -> StationView:
    return StationView.of(await service.directory.get_station(station_id), service.now())


@router.patch("/stations/{station_id}", response_model=StationView, summary="Change a station")
async def change_station(
    station_id: str, body: StationChange, principal: StationStaff, service: Service
) -> StationView:
    must_manage(principal, station_id)
    try:
        changes = body.changes()
        if principal.role != "operator" and "grade" in changes:
            raise Problem(403, "Forbidden", "only operators record a station's grade")
        if principal.role != "operator" and "kiosk_partners" in changes:
            # Whose kiosks may report uses here (and so earn points) is the operators' word.
            raise Problem(403, "Forbidden", "only operators name a station's kiosk partners")
        if principal.role != "operator":
            await _staff_may_change(service, station_id, changes)
        station = await service.directory.change_station(station_id, changes)
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, Problem):
            raise
        raise Problem(422, "Unprocessable Content", "the change is not valid") from exc
    return StationView.of(station, service.now())


# What a station's own staff keep up to date. Where it stands and the road it is reached by set
# travel times (rest nudges, the service circle, impossible travel), and whether it exists at
# all, are the operators' word.
STAFF_MAY_CHANGE = frozenset({"hours", "contact", "capacity", "services", "status"})


async def _staff_may_change(service: Stations, station_id: str, changes: dict[str, Any]) -> None:
    others = sorted(set(changes) - STAFF_MAY_CHANGE)
    if others:
        raise Problem(403, "Forbidden", f"only operators change a station's {', '.join(others)}")
    if "status" not in changes:
        return
    if changes["status"] == "retired":
        raise Problem(403, "Forbidden", "only operators retire a station")
    if (await service.directory.get_station(station_id)).status == "retired":
        raise Problem(403, "Forbidden", "only operators open a retired station again")


@router.get(
    "/stations/{station_id}/occupancy",
    response_model=Occupancy,
    summary="Free and taken beds and parking spaces",
)
async def occupancy(station_id: str, _: Everyone, service: Service) -> Occupancy:
    station = await service.directory.get_station(station_id)
    taken = {r: getattr(station.capacity, r) - station.free_of(r) for r in ("beds", "parking")}
    return Occupancy(
        station_id=station_id,
        capacity=station.capacity,
        free={r: station.free_of(r) for r in ("beds", "parking")},
        taken=taken,
    )
