"""Point → grid cell lookup over an R-tree (shapely STRtree).

A point on an edge shared by two cells lies in both closed polygons; the lookup then returns
the lowest cell code so the answer never depends on load order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import shapely
from shapely.geometry import Point, box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

METRES_PER_DEGREE = 111_320.0


def polygon_from_geojson(geometry: Mapping[str, Any]) -> BaseGeometry:
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("geometry must be a Polygon or MultiPolygon")
    return shape(geometry)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Metres between two points a city apart (an equirectangular approximation)."""
    dx = (lon2 - lon1) * METRES_PER_DEGREE * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, (lat2 - lat1) * METRES_PER_DEGREE)


class GridIndex:
    def __init__(self, cells: Iterable[tuple[str, BaseGeometry]]) -> None:
        pairs = sorted(cells, key=lambda pair: pair[0])
        self._codes = [code for code, _ in pairs]
        self._geometries = [geometry for _, geometry in pairs]
        self._tree = shapely.STRtree(self._geometries)
        self._by_code = dict(zip(self._codes, self._geometries, strict=True))

    def __len__(self) -> int:
        return len(self._codes)

    def locate(self, lon: float, lat: float) -> str | None:
        """Code of the cell covering (lon, lat), or None outside every cell."""
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        return self._codes[int(min(hits))]  # codes are sorted: lowest index = lowest code

    def covering(self, lon: float, lat: float) -> list[str]:
        """Codes of every cell covering (lon, lat): two or more on a shared edge."""
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        return [self._codes[int(i)] for i in sorted(hits.tolist())]

    def shape(self, code: str) -> BaseGeometry | None:
        """The polygon of the cell ``code``, or None for no such (active) cell."""
        return self._by_code.get(code)

    def cells(self) -> list[tuple[str, BaseGeometry]]:
        """Every cell, by code."""
        return list(zip(self._codes, self._geometries, strict=True))

    def within(
        self, west: float, south: float, east: float, north: float
    ) -> list[tuple[str, BaseGeometry]]:
        """The cells meeting the box, by code."""
        hits = self._tree.query(box(west, south, east, north), predicate="intersects")
        return [(self._codes[int(i)], self._geometries[int(i)]) for i in sorted(hits.tolist())]

    def nearest(self, lon: float, lat: float) -> tuple[str, float, float, float] | None:
        """The cell nearest to (lon, lat): its code, the distance in metres (roughly) and the
        point of the cell nearest to (lon, lat); None on an empty grid."""
        if not self._codes:
            return None
        point = Point(lon, lat)
        index = int(self._tree.nearest(point))
        _, near = nearest_points(point, self._geometries[index])
        return self._codes[index], distance_m(lon, lat, near.x, near.y), near.x, near.y

    def overlapping_pairs(self, tolerance_m2: float = 1.0) -> list[tuple[str, str]]:
        """Pairs of cells whose interiors overlap by more than ``tolerance_m2`` (roughly)."""
        left, right = self._tree.query(self._geometries, predicate="overlaps")
        degree2 = tolerance_m2 / (111_000.0 * 85_000.0)  # m² → deg² near Beijing
        pairs = []
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            if i < j and self._geometries[i].intersection(self._geometries[j]).area > degree2:
                pairs.append((self._codes[i], self._codes[j]))
        return pairs

    @classmethod
    def from_geojson_rows(cls, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> GridIndex:
        return cls((code, polygon_from_geojson(geometry)) for code, geometry in rows)
