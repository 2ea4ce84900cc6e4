"""Stations: the map (the district's outline and grids under every station, what is free now in
each popup) and a station's page (opening hours, occupancy now, activities with registrations
and attendance, feedback). Operators with a stations scope see every station; a station's own
staff see their station only."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from common.problems import Problem
from console.apis import Api, ApiError, quoted
from console.i18n import translate
from console.roles import Person
from console.web import CurrentPerson, PersonApi, language, redirect, render, settings_of

router = APIRouter(include_in_schema=False)

STATION_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
POPUP_WORDS = ("open_now", "closed_now", "free_beds", "free_parking", "details")


def marker(station: dict[str, Any]) -> dict[str, Any]:
    """What the map's popup shows of a station: where it is and what is free now."""
    free, capacity = station.get("free") or {}, station.get("capacity") or {}
    return {
        "id": station["station_id"],
        "name": station["name"],
        "lat": station["location"]["lat"],
        "lng": station["location"]["lng"],
        "open": bool(station.get("open_now")),
        "beds": [free.get("beds", 0), capacity.get("beds", 0)],
        "parking": [free.get("parking", 0), capacity.get("parking", 0)],
    }


def refused(request: Request, person: Person, status: int, detail: str) -> Response:
    return render(request, "error.html", status=status, person=person, error=detail)


@router.get("/stations")
async def stations(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    if person.station_id is not None:  # a station's staff: their own station's page
        return redirect(f"/stations/{quoted(person.station_id)}")
    if not person.sees_stations:
        return refused(request, person, 403, "stations:manage or activities:manage is needed")
    try:
        page = await api.get("stations", "/v1/stations", limit=200)
    except ApiError as exc:
        return refused(request, person, exc.status, exc.detail)
    lang = language(request)
    settings = settings_of(request)
    labels = {word: translate(lang, f"stations.{word}") for word in POPUP_WORDS}
    return render(
        request,
        "stations.html",
        person=person,
        stations=page["items"],
        markers=[marker(s) for s in page["items"] if s.get("location")],
        labels=labels,
        tiles=settings.map_tile_url or "",
        attribution=settings.map_tile_attribution,
    )


@router.get("/map/district.geojson")
async def district_map(request: Request, person: CurrentPerson) -> Response:
    """The district's outline and grid polygons (DRIVERHOME_MAP_GEOJSON; the demo's by default)."""
    if not person.sees_stations:
        raise Problem(403, "Forbidden", "the map is part of the stations pages")
    path = settings_of(request).map_geojson
    if not path.is_file():
        raise Problem(404, "Not Found", "no district map is configured")
    return FileResponse(path, media_type="application/geo+json")


def week_rows(hours: dict[str, Any]) -> list[tuple[str, list[dict[str, str]]]]:
    week = hours.get("week") or {}
    return [(day, list(week.get(day) or [])) for day in WEEK]


async def activity_rows(api: Api, station_id: str) -> list[dict[str, Any]]:
    """Current and coming activities, each with its registrations (seats taken) and attendance.

    The attendance list is the station's own staff's (or activities:manage): a person the
    service refuses it sees "not available" there."""
    found = await api.get("stations", f"/v1/stations/{quoted(station_id)}/activities", limit=50)

    async def row(activity: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/activities/{quoted(activity['activity_id'])}/attendance"
        attendance = await api.maybe("stations", path, limit=2000)  # an activity holds ≤ 2000
        return {
            **activity,
            "registered": activity["capacity"] - activity["seats_left"],
            "attended": None if attendance is None else len(attendance["items"]),
        }

    return list(await asyncio.gather(*(row(a) for a in found["items"])))


@router.get("/stations/{station_id}")
async def station_page(
    request: Request, person: CurrentPerson, api: PersonApi, station_id: str
) -> Response:
    if not STATION_ID.match(station_id):
        return refused(request, person, 404, "no such station")
    if not person.sees_station(station_id):
        return refused(request, person, 403, "station staff see their own station only")
    try:
        station, activities, feedback = await asyncio.gather(
            api.get("stations", f"/v1/stations/{quoted(station_id)}"),
            activity_rows(api, station_id),
            api.get("stations", f"/v1/stations/{quoted(station_id)}/feedback", recent=10),
        )
    except ApiError as exc:
        return refused(request, person, exc.status, exc.detail)
    return render(
        request,
        "station.html",
        person=person,
        station=station,
        week=week_rows(station.get("hours") or {}),
        activities=activities,
        feedback=feedback,
    )
