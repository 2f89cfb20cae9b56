"""Point → grid cell lookup over an R-tree (shapely STRtree).

A point on an edge shared by two cells lies in both closed polygons; the lookup then returns
the lowest cell code so the answer never depends on load order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry


def polygon_from_geojson(geometry: Mapping[str, Any]) -> BaseGeometry:
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("geometry must be a Polygon or MultiPolygon")
    return shape(geometry)


class GridIndex:
    def __init__(self, cells: Iterable[tuple[str, BaseGeometry]]) -> None:
        pairs = sorted(cells, key=lambda pair: pair[0])
        self._codes = [code for code, _ in pairs]
        self._geometries = [geometry for _, geometry in pairs]
        self._tree = shapely.STRtree(self._geometries)

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
