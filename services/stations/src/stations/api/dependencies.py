"""What every stations router depends on: who calls, the use cases, and which station the
caller manages. Domain errors become problems in ``stations.api.errors``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from common.auth import Principal, require_roles
from common.authz import owns_station, require_scope
from common.problems import Problem
from stations.service import Stations

Everyone = Annotated[Principal, Depends(require_roles("operator", "station", "driver"))]
# Operators by scope (common.authz); station staff pass and are held to their own station
# (must_manage) and their own check-ins; drivers to themselves.
StationAdmin = Annotated[Principal, Depends(require_scope("stations:manage"))]
StationStaff = Annotated[
    Principal, Depends(require_scope("stations:manage", or_roles=("station",)))
]
ActivityStaff = Annotated[
    Principal, Depends(require_scope("activities:manage", or_roles=("station",)))
]
Registrar = Annotated[
    Principal, Depends(require_scope("activities:manage", or_roles=("station", "driver")))
]
Visits = Annotated[
    Principal, Depends(require_scope("drivers:read", or_roles=("station", "driver")))
]


async def _stations(request: Request) -> Stations:
    stations: Stations = request.app.state.stations
    return stations


Service = Annotated[Stations, Depends(_stations)]


def must_manage(principal: Principal, station_id: str) -> None:
    """Operators (admitted by their scope) manage every station; staff only their own."""
    if principal.role == "operator" or owns_station(principal, station_id):
        return
    raise Problem(403, "Forbidden", "station staff manage only their own station")
