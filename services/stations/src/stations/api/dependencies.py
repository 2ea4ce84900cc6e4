"""What every stations router depends on: who calls, the use cases, and which station the
caller manages. Domain errors become problems in ``stations.api.errors``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from common.auth import Principal, require_roles
from common.problems import Problem
from stations.service import Stations

Everyone = Annotated[Principal, Depends(require_roles("operator", "station", "driver"))]
Staff = Annotated[Principal, Depends(require_roles("operator", "station"))]


def _stations(request: Request) -> Stations:
    stations: Stations = request.app.state.stations
    return stations


Service = Annotated[Stations, Depends(_stations)]


def must_manage(principal: Principal, station_id: str) -> None:
    """Operators manage every station; station staff only the one in their token."""
    if principal.role == "operator":
        return
    if principal.role == "station" and principal.station_id == station_id:
        return
    raise Problem(403, "Forbidden", "station staff manage only their own station")
