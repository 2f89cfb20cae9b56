"""Points that enter the system: finite and inside the city's bounds."""

from __future__ import annotations

import pytest

from hotline.geo import Bounds, PointError, check_point, finite_or_none

BEIJING = Bounds(115.4, 39.4, 117.6, 41.1)


def test_points_in_the_city_and_none() -> None:
    check_point(116.4, 39.9, BEIJING)
    check_point(None, None, BEIJING)


@pytest.mark.parametrize(
    ("lon", "lat", "says"),
    [
        (float("inf"), 39.9, "finite"),
        (116.4, float("nan"), "finite"),
        (float("-inf"), float("inf"), "finite"),
        (121.47, 31.23, "outside the city"),
        (116.4, None, "both"),
        (None, 39.9, "both"),
        (True, 39.9, "number"),
    ],
)
def test_refused(lon: object, lat: object, says: str) -> None:
    with pytest.raises(PointError, match=says):
        check_point(lon, lat, BEIJING)  # type: ignore[arg-type]


def test_stored_non_finite_values_read_as_none() -> None:
    assert [finite_or_none(v) for v in (1.5, float("inf"), float("nan"), None)] == [
        1.5,
        None,
        None,
        None,
    ]
