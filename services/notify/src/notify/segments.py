"""Which drivers a broadcast segment means: a store filter over the driver facts notify keeps.

Facts come from events: ``fleet`` (driver.registered), ``grade`` (points.grade_changed),
``active`` (driver.deactivated). ``grid``, ``organisations`` and ``cell`` (a coarse geohash of
where the driver was last seen) have no event yet: their resolvers work on whatever a future
handler records in those fields, and until then those segments resolve to nobody.
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

_RESOLVERS: dict[str, Callable[[Segment], Document]] = {
    "everyone": lambda s: {},
    "fleet": lambda s: {"fleet": s.value},
    "grade": lambda s: {"grade": s.value},
    "grid": lambda s: {"grid": s.value},
    "organisation": lambda s: {"organisations": s.value},
    # Where a driver was is used only with the ``location`` consent (common.consents).
    "near": lambda s: {
        "cell": {"$in": cells_near(s.lat or 0.0, s.lng or 0.0, s.radius_km or 1)},
        "consents.location": True,
    },
}


def segment_filter(segment: Segment, *, category: str = "policy") -> Document:
    query: Document = {"active": True, **_RESOLVERS[segment.kind](segment)}
    if category in MARKETING_CATEGORIES:
        query["consents.notifications"] = True
    return query
