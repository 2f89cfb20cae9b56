#!/usr/bin/env python3
"""Write data/reference/grid_cells.geojson: a generated demo unit grid covering Dongcheng
and Xicheng, and the components (部件) in it (components.csv).

Two streets (东华门, 景山) keep their hand-drawn blocks: each community a block of 5 x 4 cells of
about 100 m x 100 m (the "10,000 m² unit grid"), numbered west→east, north→south as CJ/T 213
asks. Around them, ``--district`` (the default) lays the same lattice over rough outlines of
Dongcheng, then Xicheng (which shares Dongcheng's west side, so the grids meet without a gap):
every lattice cell whose centre lies in the outline becomes a cell (minus any part an
older block already covers), given to the nearest street seed (a rough street centre or a
gazetteer place of that street, so every place lands in its own street) and, inside a street, to
one of its communities (a few rounds of k-means). Communities the areas file does not have yet
are written into its generated section. This is demo data: a real city loads its surveyed grid.
Usage:
    python scripts/make_demo_grid.py [OUT] [--scale N] [--blocks-only]
    (--scale repeats the blocks for benchmarks; --blocks-only writes the 200 block cells only)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
from pathlib import Path

from shapely.geometry import Point, Polygon, box
from shapely.ops import unary_union

DLON = 0.00117  # ≈ 100 m at latitude 39.9°
DLAT = 0.0009  # ≈ 100 m
COLS, ROWS = 5, 4

# street code: (west lon, north lat, [(community code, block column, block row), ...])
STREETS = {
    "110101001": (
        116.4050,
        39.9180,
        [("001", 0, 0), ("002", 1, 0), ("003", 0, 1), ("004", 1, 1), ("005", 0, 2), ("006", 1, 2)],
    ),
    "110101002": (116.3967, 39.9272, [("001", 0, 0), ("002", 1, 0), ("003", 0, 1), ("004", 1, 1)]),
}


def _cell(west: float, north: float, col: int, row: int) -> list[list[float]]:
    def corner(i: int, j: int) -> list[float]:
        return [round(west + i * DLON, 7), round(north - j * DLAT, 7)]

    return [
        corner(col, row),
        corner(col + 1, row),
        corner(col + 1, row + 1),
        corner(col, row + 1),
        corner(col, row),
    ]


def features(scale: int = 1) -> list[dict[str, object]]:
    result: list[dict[str, object]] = []
    for copy in range(scale):
        for street, (west, north, blocks) in STREETS.items():
            north -= copy * 0.05  # benchmark copies: further south, no overlap
            for community, bcol, brow in blocks:
                number = 0
                for row in range(ROWS):
                    for col in range(COLS):
                        number += 1
                        cell_number = number + copy * 20
                        code = f"{street}{community}{cell_number:03d}"
                        ring = _cell(west, north, bcol * COLS + col, brow * ROWS + row)
                        result.append(
                            {
                                "type": "Feature",
                                "properties": {"code": code},
                                "geometry": {"type": "Polygon", "coordinates": [ring]},
                            }
                        )
    return result


# A rough outline of Dongcheng (west of it: Xicheng's 北海, 什刹海, 天桥 stay outside).
OUTLINE = Polygon(
    [
        (116.3945, 39.9725),
        (116.4380, 39.9725),
        (116.4420, 39.9500),
        (116.4440, 39.9000),
        (116.4440, 39.8600),
        (116.4050, 39.8560),
        (116.3960, 39.8650),
        (116.3945, 39.9000),
    ]
)
ORIGIN = (116.3945, 39.9725)  # lattice origin: north-west corner of the outline
# street code: rough centre; the gazetteer's places of the street are added as seeds
STREET_SEEDS = {
    "110101001": (116.404, 39.912),
    "110101002": (116.402, 39.925),
    "110101003": (116.404, 39.938),
    "110101004": (116.410, 39.950),
    "110101005": (116.420, 39.945),
    "110101006": (116.418, 39.930),
    "110101007": (116.428, 39.924),
    "110101008": (116.426, 39.905),
    "110101009": (116.434, 39.940),
    "110101010": (116.418, 39.964),
    "110101011": (116.400, 39.894),
    "110101012": (116.416, 39.895),
    "110101013": (116.432, 39.893),
    "110101014": (116.436, 39.876),
    "110101015": (116.423, 39.881),
    "110101016": (116.408, 39.880),
    "110101017": (116.408, 39.863),
}
# A rough outline of Xicheng (with the former Xuanwu): its east side is Dongcheng's west side
# above, so the two grids meet without a gap or an overlap.
XICHENG_OUTLINE = Polygon(
    [
        (116.3945, 39.9725),
        (116.3945, 39.9000),
        (116.3960, 39.8650),
        (116.4050, 39.8560),
        (116.3700, 39.8600),
        (116.3300, 39.8640),
        (116.3200, 39.8750),
        (116.3200, 39.8950),
        (116.3300, 39.9000),
        (116.3300, 39.9450),
        (116.3550, 39.9480),
        (116.3620, 39.9720),
    ]
)
XICHENG_SEEDS = {
    "110102001": (116.383, 39.908),
    "110102003": (116.366, 39.944),
    "110102007": (116.345, 39.912),
    "110102009": (116.335, 39.930),
    "110102010": (116.378, 39.960),
    "110102011": (116.360, 39.915),
    "110102012": (116.386, 39.938),
    "110102013": (116.392, 39.892),
    "110102014": (116.390, 39.877),
    "110102015": (116.378, 39.893),
    "110102016": (116.378, 39.870),
    "110102017": (116.358, 39.890),
    "110102018": (116.366, 39.880),
    "110102019": (116.350, 39.868),
    "110102020": (116.330, 39.890),
}
CELLS_PER_COMMUNITY = 45
NUMERALS = "一二三四五六七八九十"
GENERATED_MARK = "# --- generated by scripts/make_demo_grid.py: communities of the demo grid ---"


def _numeral(n: int) -> str:
    if n <= 10:
        return NUMERALS[n - 1]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else NUMERALS[tens - 1]) + "十" + (NUMERALS[ones - 1] if ones else "")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _seeds(
    reference: Path, streets: dict[str, tuple[float, float]]
) -> list[tuple[str, float, float]]:
    seeds = [(street, lon, lat) for street, (lon, lat) in streets.items()]
    for place in _read_csv(reference / "gazetteer.csv"):
        if place["area"][:9] in streets and place["lon"] and place["lat"]:
            seeds.append((place["area"][:9], float(place["lon"]), float(place["lat"])))
    return seeds


def _kmeans(points: list[tuple[float, float]], k: int) -> list[int]:
    order = sorted(range(len(points)), key=lambda i: (-points[i][1], points[i][0]))
    centres = [points[order[(2 * j + 1) * len(order) // (2 * k)]] for j in range(k)]
    labels = [0] * len(points)
    for _ in range(8):
        labels = [min(range(k), key=lambda j: math.dist(p, centres[j])) for p in points]
        for j in range(k):
            mine = [points[i] for i in range(len(points)) if labels[i] == j]
            if mine:
                centres[j] = (
                    sum(p[0] for p in mine) / len(mine),
                    sum(p[1] for p in mine) / len(mine),
                )
    return labels


def district_features(
    blocks: list[dict[str, object]],
    reference: Path,
    outline: Polygon = OUTLINE,
    streets: dict[str, tuple[float, float]] = STREET_SEEDS,
) -> tuple[list[dict[str, object]], list[list[str]]]:
    """Cells covering a district's ``outline`` around the hand-drawn ``blocks``, given to
    the nearest of its ``streets``' seeds; and the communities they make."""
    taken = unary_union([Polygon(f["geometry"]["coordinates"][0]) for f in blocks])  # type: ignore[index]
    block_centres: dict[str, list[tuple[float, float]]] = {}
    for f in blocks:
        code = f["properties"]["code"]  # type: ignore[index]
        ring = f["geometry"]["coordinates"][0]  # type: ignore[index]
        block_centres.setdefault(code[:12], []).append(
            ((ring[0][0] + ring[2][0]) / 2, (ring[0][1] + ring[2][1]) / 2)
        )
    seeds = _seeds(reference, streets)
    places = [
        (p["area"], float(p["lon"]), float(p["lat"]))
        for p in _read_csv(reference / "gazetteer.csv")
        if len(p["area"]) == 12 and p["lon"] and p["lat"]
    ]
    west, north = ORIGIN  # one lattice for every district: their cells never overlap
    minx, miny, maxx, maxy = outline.bounds
    cols = range(math.floor((minx - west) / DLON), math.ceil((maxx - west) / DLON))
    rows = range(math.floor((north - maxy) / DLAT), math.ceil((north - miny) / DLAT))
    by_street: dict[str, list[tuple[tuple[float, float], list[list[list[float]]]]]] = {}
    for j in rows:
        for i in cols:
            x0, x1 = round(west + i * DLON, 7), round(west + (i + 1) * DLON, 7)
            y1, y0 = round(north - j * DLAT, 7), round(north - (j + 1) * DLAT, 7)
            centre = ((x0 + x1) / 2, (y0 + y1) / 2)
            if not outline.contains(Point(centre)):
                continue
            cell = box(x0, y0, x1, y1)
            if cell.intersects(taken):
                cell = cell.difference(taken)
                if cell.area < 0.02 * DLON * DLAT:
                    continue
            polygons = [cell] if cell.geom_type == "Polygon" else list(cell.geoms)
            rings = [
                [[round(x, 7), round(y, 7)] for x, y in polygon.exterior.coords]
                for polygon in polygons
                if polygon.area > 0
            ]
            street = min(seeds, key=lambda s: math.dist(centre, (s[1], s[2])))[0]
            by_street.setdefault(street, []).append((centre, rings))
    names = {a["code"]: a for a in _read_csv(reference / "areas.csv")}
    result: list[dict[str, object]] = []
    new_areas: list[list[str]] = []
    for street in sorted(by_street):
        cells = by_street[street]
        points = [c for c, _ in cells]
        existing = sorted(code for code in block_centres if code.startswith(street))
        if existing:  # the street's new cells join its nearest hand-drawn community
            anchors = [
                [
                    (
                        sum(x for x, _ in block_centres[c]) / 20,
                        sum(y for _, y in block_centres[c]) / 20,
                    )
                ]
                + [(lon, lat) for area, lon, lat in places if area == c]
                for c in existing
            ]
            labels = [
                min(range(len(anchors)), key=lambda k: min(math.dist(p, a) for a in anchors[k]))
                for p in points
            ]
            communities = existing
        else:
            k = max(1, round(len(cells) / CELLS_PER_COMMUNITY))
            labels = _kmeans(points, k)
            communities = [f"{street}{n + 1:03d}" for n in range(k)]
            short = names[street]["aliases"].split("|")[0]
            english = names[street]["name_en"].removesuffix(" Subdistrict")
            for n, code in enumerate(communities):
                new_areas.append(
                    [
                        code,
                        "community",
                        street,
                        f"{short}第{_numeral(n + 1)}社区",
                        f"{english} No. {n + 1} Community",
                        "",
                    ]
                )
        for k, community in enumerate(communities):
            mine = sorted(
                (c for c, label in zip(cells, labels, strict=True) if label == k),
                key=lambda c: (-round(c[0][1], 6), c[0][0]),
            )
            first = 21 if existing else 1
            for n, (_, rings) in enumerate(mine):
                geometry: dict[str, object] = (
                    {"type": "Polygon", "coordinates": [rings[0]]}
                    if len(rings) == 1
                    else {"type": "MultiPolygon", "coordinates": [[r] for r in rings]}
                )
                result.append(
                    {
                        "type": "Feature",
                        "properties": {"code": f"{community}{first + n:03d}"},
                        "geometry": geometry,
                    }
                )
    return result, new_areas


def _write_communities(path: Path, rows: list[list[str]]) -> None:
    text = path.read_text(encoding="utf-8")
    head = text.split(GENERATED_MARK)[0].rstrip("\n") + "\n"
    lines = [GENERATED_MARK + "\n"]
    for row in rows:
        lines.append(",".join(row) + "\n")
    path.write_text(head + "".join(lines), encoding="utf-8")


# component class: the owning unit (the class rule's unit; a few owned otherwise, see below)
COMPONENT_OWNERS = {
    "0101": "bj.water_supply",
    "0102": "bj.drainage",
    "0103": "bj.drainage",
    "0105": "bj.power",
    "0106": "bj.lighting",
    "0107": "bj.telecom",
    "0203": "dongcheng.municipal",
    "0301": "dongcheng.sanitation",
    "0402": "dongcheng.greening",
}
COMPONENTS = {"110101": 3000, "110102": 2000}  # per district
DISTRICT_UNITS = {"110101": "dongcheng", "110102": "xicheng"}  # the district units' prefix


def write_components(districts: dict[str, list[dict[str, object]]], path: Path) -> None:
    """A few thousand generated components at random points of each district's cells."""
    lines = [
        "# Components (部件): 16-digit id = district (6) + class (4) + serial (6); the point lies",
        "# in the grid cell; owner_unit takes a case about the component before the class rule.",
        "# Generated by scripts/make_demo_grid.py (demo data: a real city loads its census).",
        "id,grid,lon,lat,owner_unit,status",
    ]
    for n, (district, cells) in enumerate(sorted(districts.items())):
        lines += _components(cells, district, COMPONENTS[district], random.Random(20 + n))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _components(
    cells: list[dict[str, object]], district: str, count: int, rng: random.Random
) -> list[str]:
    """Components at random points of ``cells``; every tenth storm drain cover is owned by
    the district's municipal works instead of the city's drainage company (the owner, not
    the class rule, takes the case)."""
    local = DISTRICT_UNITS[district]
    serials: dict[str, int] = {}
    lines: list[str] = []
    for _ in range(count):
        cell = rng.choice(cells)
        code = str(cell["properties"]["code"])  # type: ignore[index]
        geometry = cell["geometry"]
        shape = Polygon(geometry["coordinates"][0]) if geometry["type"] == "Polygon" else None  # type: ignore[index]
        if shape is None:
            continue
        minx, miny, maxx, maxy = shape.bounds
        while True:
            point = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if shape.contains(point):
                break
        klass = rng.choice(sorted(COMPONENT_OWNERS))
        serials[klass] = serials.get(klass, 0) + 1
        owner = COMPONENT_OWNERS[klass].replace("dongcheng.", f"{local}.")
        if klass == "0103" and serials[klass] % 10 == 0:
            owner = f"{local}.municipal"
        status = "damaged" if rng.random() < 0.03 else "in_use"
        lines.append(
            f"{code[:6]}{klass}{serials[klass]:06d},{code},{point.x:.7f},{point.y:.7f},"
            f"{owner},{status}"
        )
    return lines


def write(path: Path, scale: int = 1, district: bool = False) -> None:
    blocks = features(scale)
    cells = list(blocks)
    if district:
        reference = path.parent
        dongcheng, communities = district_features(blocks, reference)
        cells += dongcheng
        xicheng, more = district_features(blocks, reference, XICHENG_OUTLINE, XICHENG_SEEDS)
        assert not XICHENG_OUTLINE.intersection(OUTLINE).area, "the outlines overlap"
        _write_communities(reference / "areas.csv", communities + more)
        write_components({"110101": cells, "110102": xicheng}, reference / "components.csv")
        cells += xicheng
    lines = ['{"type": "FeatureCollection", "features": [']
    items = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in cells]
    lines.append(",\n".join(items))
    lines.append("]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default="data/reference/grid_cells.geojson")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--blocks-only", action="store_true")
    args = parser.parse_args()
    write(Path(args.out), args.scale, district=not args.blocks_only and args.scale == 1)
