"""Where a point may lie: finite coordinates inside the city's bounds (a setting).

One request with ``lat=inf`` once stored a point no JSON encoder can write, and every later
read of the public feed failed; so every point that enters (Open311, the REST API, the field
form, the desk) passes :func:`check_point` first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class PointError(ValueError):
    """The point is not a place in the city; the message says why, in plain words."""


@dataclass(frozen=True)
class Bounds:
    """A longitude/latitude box (WGS 84 degrees)."""

    west: float
    south: float
    east: float
    north: float

    def contains(self, lon: float, lat: float) -> bool:
        return self.west <= lon <= self.east and self.south <= lat <= self.north


WORLD = Bounds(-180.0, -90.0, 180.0, 90.0)


def check_point(lon: float | None, lat: float | None, bounds: Bounds = WORLD) -> None:
    """Refuse half a point, a coordinate that is not a finite number, or a point outside
    ``bounds``. No point at all (both None) is fine."""
    if lon is None and lat is None:
        return
    if lon is None or lat is None:
        raise PointError("give both longitude and latitude, or neither")
    for name, value in (("longitude", lon), ("latitude", lat)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PointError(f"{name} must be a number")
        if not math.isfinite(value):
            raise PointError(f"{name} must be a finite number")
    if not bounds.contains(lon, lat):
        raise PointError(
            f"the point ({lon}, {lat}) lies outside the city "
            f"(longitude {bounds.west} to {bounds.east}, latitude {bounds.south} to {bounds.north})"
        )


def finite_or_none(value: float | None) -> float | None:
    """A stored coordinate fit to publish: a non-finite value written before the check
    existed reads as no coordinate instead of breaking the reader."""
    return value if value is not None and math.isfinite(value) else None
