"""Write the demo district's map: its outline and grid polygons as GeoJSON (issue 18).

The console draws the stations map on this file, without any tile server. The shapes are
synthetic but lie where the demo's places and stations do: the outline wraps every place of
``demo_stations.PLACES`` with a margin, and each residence community of
``demo_registry.STREETS`` is a block near its street's centre, cut into its grids (the names
the registry gives them, ``<community>第<n>网格``) and, for 物流工业社区, each grid into its
six micro-grids (``demo_district``). A district with real boundaries sets
``DRIVERHOME_MAP_GEOJSON`` to its own file instead (docs/console.md).

    uv run --no-sync python scripts/demo_map.py    # rewrites the console's demo file
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path
from typing import Any

from demo_district import MICRO_GRIDS_PER_GRID
from demo_registry import STREETS
from demo_stations import PLACES

OUT = Path(__file__).resolve().parents[1] / (
    "services/console/src/console/maps/beilun-demo.geojson"
)
Point = tuple[float, float]  # (lng, lat), GeoJSON's order
MARGIN = 0.045  # degrees of latitude around each place; stations scatter ~0.012 around them
LNG_SCALE = 1 / math.cos(math.radians(29.9))  # a degree of longitude is shorter here
# The logistics community sits on the two stations its name and address give (BL-XP-000/001).
ANCHORS = {"物流工业社区": (121.9185, 29.9505)}
BLOCK = (0.022, 0.016)  # a community's width (lng) and height (lat) in degrees
STEP = 0.034  # from one community's centre to the next one's (wider than the widest block)
GRID_ROWS = {3: 1, 7: 2}  # grids per community -> rows of the community's lattice


def hull(points: list[Point]) -> list[Point]:
    """Convex hull, counter-clockwise (Andrew's monotone chain)."""
    ordered = sorted(set(points))

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    upper: list[Point] = []
    for p in ordered:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(ordered):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def outline(rng: random.Random) -> list[Point]:
    """Every place with a margin, its edge roughened a little so it reads as a boundary."""
    around = [
        (lng + MARGIN * LNG_SCALE * math.cos(a), lat + MARGIN * math.sin(a))
        for _, _, lat, lng in PLACES
        for a in (k * math.pi / 12 for k in range(24))
    ]
    edge = hull(around)
    return [(x + rng.uniform(-0.004, 0.004), y + rng.uniform(-0.003, 0.003)) for x, y in edge]


def ring(points: list[Point]) -> list[list[float]]:
    closed = [*points, points[0]]
    return [[round(x, 5), round(y, 5)] for x, y in closed]


def feature(name: str, level: str, points: list[Point], **props: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"name": name, "level": level, **props},
        "geometry": {"type": "Polygon", "coordinates": [ring(points)]},
    }


def lattice(
    origin: Point, size: Point, rows: int, cols: int, rng: random.Random
) -> list[list[Point]]:
    """(rows+1) x (cols+1) corners; inner ones jittered, so shared edges stay shared."""
    width, height = size
    corners = []
    for r in range(rows + 1):
        line = []
        for c in range(cols + 1):
            inner = 0 < r < rows and 0 < c < cols
            jitter = (rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)) if inner else (0, 0)
            line.append(
                (
                    origin[0] + width * (c + jitter[0]) / cols,
                    origin[1] + height * (r + jitter[1]) / rows,
                )
            )
        corners.append(line)
    return corners


def cells(corners: list[list[Point]], count: int) -> list[list[Point]]:
    """``count`` cells over the lattice, row by row; a short last row has wider cells."""
    rows, cols = len(corners) - 1, len(corners[0]) - 1
    per_row = [count // rows + (1 if r < count % rows else 0) for r in range(rows)]
    found = []
    for r, k in enumerate(per_row):
        for j in range(k):
            c0, c1 = j * cols // k, (j + 1) * cols // k
            bottom = corners[r][c0 : c1 + 1]
            top = list(reversed(corners[r + 1][c0 : c1 + 1]))
            found.append(bottom + top)
    return found


def split(cell: list[Point], rows: int, cols: int) -> list[list[Point]]:
    """A grid cell cut into rows x cols micro-grids (bilinear between its four corners)."""
    xs = [p[0] for p in cell]
    ys = [p[1] for p in cell]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    parts = []
    for r in range(rows):
        for c in range(cols):
            a, b = x0 + (x1 - x0) * c / cols, x0 + (x1 - x0) * (c + 1) / cols
            d, e = y0 + (y1 - y0) * r / rows, y0 + (y1 - y0) * (r + 1) / rows
            parts.append([(a, d), (b, d), (b, e), (a, e)])
    return parts


def communities(rng: random.Random) -> list[dict[str, Any]]:
    centre = {place: (lng, lat) for _, place, lat, lng in PLACES}
    features = []
    for street, names in STREETS.items():
        for k, community in enumerate(names):
            grids = 7 if community == "物流工业社区" else 3
            width, height = BLOCK[0] * (1.4 if grids == 7 else 1), BLOCK[1]
            # In a row eastwards from the street's first community, one block apart.
            first = ANCHORS.get(names[0], centre[street])
            lng, lat = first[0] + k * STEP, first[1] + (0.004 if k % 2 else 0.0)
            origin = (lng - width / 2, lat - height / 2)
            rows = GRID_ROWS[grids]
            corners = lattice(origin, (width, height), rows, math.ceil(grids / rows) * 2, rng)
            block = [corners[0][0], corners[0][-1], corners[-1][-1], corners[-1][0]]
            props = {"street": street, "community": community}
            features.append(feature(community, "community", block, **props))
            for n, cell in enumerate(cells(corners, grids), start=1):
                grid = f"{community}第{n}网格"
                features.append(feature(grid, "grid", cell, **props))
                if community != "物流工业社区":
                    continue
                for m, part in enumerate(split(cell, 2, MICRO_GRIDS_PER_GRID // 2), start=1):
                    micro = f"{grid}第{m}微网格"
                    features.append(feature(micro, "micro_grid", part, **props, grid=grid))
    return features


def district(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    edge = outline(rng)
    return {
        "type": "FeatureCollection",
        "name": "北仑（演示）",
        "features": [feature("北仑区（演示）", "district", edge), *communities(rng)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    collection = district(args.seed)
    args.out.write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {len(collection['features'])} shapes to {args.out}")


if __name__ == "__main__":
    main()
