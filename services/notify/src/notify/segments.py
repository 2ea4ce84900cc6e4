"""Which drivers a broadcast segment means: a store filter over the driver facts notify keeps.

Facts come from events: ``fleet`` (driver.registered), ``grade`` (points.grade_changed),
``active`` (driver.deactivated), ``grid`` (driver.registered/updated), ``organisations`` and
``route_grids`` (driver.updated with ``memberships`` / ``route_grid_ids``). ``cell`` (a coarse
geohash of where the driver was last seen) has no event yet and resolves to nobody.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pygeohash

from notify.domain import Segment

Document = dict[str, Any]

CELL_PRECISION = 5  # ~4.9 km x 4.9 km: coarse on purpose, location is sensitive (PIPL)
_KM_PER_DEGREE = 111.32


def cells_near(lat: float, lng: float, radius_km: float) -> list[str]:
    """Geohash cells covering the circle's bounding box (the store has no geo operators)."""
    dlat = radius_km / _KM_PER_DEGREE
    dlng = radius_km / (_KM_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    box = pygeohash.BoundingBox(
        max(lat - dlat, -90.0),
        max(lng - dlng, -180.0),
        min(lat + dlat, 90.0),
        min(lng + dlng, 180.0),
    )
    return list(pygeohash.geohashes_in_box(box, precision=CELL_PRECISION))


def cell_of(lat: float, lng: float) -> str:
    return str(pygeohash.encode(lat, lng, precision=CELL_PRECISION))


# Promotion rather than service: these broadcasts reach only drivers who gave the registry's
# ``notifications`` consent (PIPL; common.consents). Service, account, case, policy and the
# urgent safety categories go to every driver of the segment.
MARKETING_CATEGORIES: frozenset[str] = frozenset({"general", "activity"})
MARKETING_CONSENT = "consents.notifications"

_RESOLVERS: dict[str, Callable[[Segment], Document]] = {
    "everyone": lambda s: {},
    "fleet": lambda s: {"fleet": s.value},
    "grade": lambda s: {"grade": s.value},
    "grid": lambda s: {"grid": s.value},
    "organisation": lambda s: {"organisations": s.value},
    # Drivers whose declared routes join the route grid (driver.updated.v1 route_grid_ids).
    "route_grid": lambda s: {"route_grids": s.value},
    # Truck, ride-hailing or taxi drivers (issue 16); drivers notify learned of before kinds
    # were announced have no kind and are container trucks'.
    "driver_kind": lambda s: (
        {"driver_kind": {"$in": [s.value, None]}}
        if s.value == "container_truck"
        else {"driver_kind": s.value}
    ),
    # Where a driver was is used only with the ``location`` consent (common.consents).
    "near": lambda s: {
        "cell": {"$in": cells_near(s.lat or 0.0, s.lng or 0.0, s.radius_km or 1)},
        "consents.location": True,
    },
}


# A subtree segment matches any unit of the subtree (the caller expands it from UnitTree).
_SUBTREE_FIELDS = {"grid": "grid", "organisation": "organisations"}


def segment_filter(
    segment: Segment, *, category: str = "policy", within: list[str] | None = None
) -> Document:
    if within is not None and segment.kind in _SUBTREE_FIELDS:
        where: Document = {_SUBTREE_FIELDS[segment.kind]: {"$in": within}}
    else:
        where = _RESOLVERS[segment.kind](segment)
    query: Document = {"active": True, **where}
    if category in MARKETING_CATEGORIES:
        query[MARKETING_CONSENT] = True
    return query
