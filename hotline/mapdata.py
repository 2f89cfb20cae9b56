"""Map layers drawn from the grid: the outline of a district, street or community is the
union of its cells (the reference data holds no other boundaries), as GeoJSON."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

Level = Literal["district", "street", "community"]
PREFIX = {"district": 6, "street": 9, "community": 12}
SIMPLIFY_DEGREES = 0.00001  # about 1 m: drops the lattice's collinear vertices, not corners


def feature(code: str, geometry: BaseGeometry, **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"code": code, **properties},
        "geometry": mapping(geometry),
    }


def outlines(cells: Iterable[tuple[str, BaseGeometry]], level: Level) -> list[dict[str, Any]]:
    """One feature per area of ``level`` holding cells: the union of its cells."""
    width = PREFIX[level]
    groups: dict[str, list[BaseGeometry]] = {}
    for code, geometry in cells:
        groups.setdefault(code[:width], []).append(geometry)
    return [
        feature(code, unary_union(parts).simplify(SIMPLIFY_DEGREES, preserve_topology=True))
        for code, parts in sorted(groups.items())
    ]


def collection(features: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **extra}
