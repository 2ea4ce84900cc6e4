"""Geography: great-circle distance, the geohash cells stations are indexed under, the cells
a radius search reads, and travel time: pure, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import pygeohash

EARTH_RADIUS_KM = 6371.0088
MIN_LAT, MAX_LAT = -90.0, 90.0
MIN_LNG, MAX_LNG = -180.0, 180.0


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine) on the mean Earth radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


CELL_PRECISIONS = (1, 2, 3, 4, 5, 6)
MAX_QUERY_CELLS = 64
# Base-32 geohash: the 32 cells of precision 1 are the whole Earth, read faster by a scan.
WHOLE_EARTH_CELLS = 32


def cells_of(lat: float, lng: float) -> dict[str, str]:
    """The geohash prefixes a station is indexed under, one field per precision."""
    full = pygeohash.encode(lat, lng, max(CELL_PRECISIONS))
    return {f"p{p}": full[:p] for p in CELL_PRECISIONS}


def _cell_size(precision: int) -> tuple[float, float]:
    """(height, width) of a geohash cell in degrees: longitude takes the odd bit."""
    bits = 5 * precision
    lng_bits, lat_bits = (bits + 1) // 2, bits // 2
    return 180.0 / 2**lat_bits, 360.0 / 2**lng_bits


def bounding_box(
    lat: float, lng: float, radius_km: float
) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """Latitude range and longitude ranges (split at the antimeridian) of a spherical cap.

    The cap touching a pole spans every longitude; otherwise the longitude half-width is the
    tangent meridians' ``asin(sin d / cos lat)``.
    """
    d = radius_km / EARTH_RADIUS_KM
    lat_min, lat_max = lat - math.degrees(d), lat + math.degrees(d)
    if lat_max >= MAX_LAT or lat_min <= MIN_LAT or d >= math.pi / 2:
        return (max(lat_min, MIN_LAT), min(lat_max, MAX_LAT)), [(MIN_LNG, MAX_LNG)]
    ratio = math.sin(d) / math.cos(math.radians(lat))
    if ratio >= 1:
        return (lat_min, lat_max), [(MIN_LNG, MAX_LNG)]
    half = math.degrees(math.asin(ratio))
    lo, hi = lng - half, lng + half
    if lo < MIN_LNG:
        return (lat_min, lat_max), [(lo + 360, MAX_LNG), (MIN_LNG, hi)]
    if hi > MAX_LNG:
        return (lat_min, lat_max), [(lo, MAX_LNG), (MIN_LNG, hi - 360)]
    return (lat_min, lat_max), [(lo, hi)]


def _cells_covering(
    lat_range: tuple[float, float], lng_ranges: Iterable[tuple[float, float]], precision: int
) -> set[str] | None:
    height, width = _cell_size(precision)
    rows, cols = round(180 / height), round(360 / width)
    first_row = max(0, math.floor((lat_range[0] + 90) / height))
    last_row = min(rows - 1, math.floor((lat_range[1] + 90) / height))
    columns: set[int] = set()
    for lo, hi in lng_ranges:
        first_col = max(0, math.floor((lo + 180) / width))
        last_col = min(cols - 1, math.floor((hi + 180) / width))
        if (last_col - first_col + 1) * (last_row - first_row + 1) > MAX_QUERY_CELLS:
            return None
        columns.update(range(first_col, last_col + 1))
    if len(columns) * (last_row - first_row + 1) > MAX_QUERY_CELLS:
        return None
    return {
        pygeohash.encode(
            -90 + (row + 0.5) * height, -180 + (col + 0.5) * width, precision=precision
        )
        for row in range(first_row, last_row + 1)
        for col in columns
    }


@dataclass(frozen=True)
class CellQuery:
    """Which indexed cells hold every point within a radius; ``cells`` None means scan all."""

    field: str
    cells: frozenset[str] | None


def cell_query(lat: float, lng: float, radius_km: float) -> CellQuery:
    """The finest precision whose covering of the cap's bounding box has few enough cells."""
    lat_range, lng_ranges = bounding_box(lat, lng, radius_km)
    for precision in sorted(CELL_PRECISIONS, reverse=True):
        cells = _cells_covering(lat_range, lng_ranges, precision)
        if cells is not None:
            if precision == 1 and len(cells) == WHOLE_EARTH_CELLS:
                break
            return CellQuery(f"cells.p{precision}", frozenset(cells))
    return CellQuery("cells.p1", None)


def travel_minutes(distance: float, speed_kmh: float, road_factor: float) -> int:
    """Estimated driving time: straight-line distance stretched to road distance, at the speed
    of the road class, in whole minutes rounded up (at least one)."""
    return max(1, math.ceil(distance * road_factor / speed_kmh * 60))
