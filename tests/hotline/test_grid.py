"""Point → cell lookup: inside, on a shared edge, on a shared corner, outside."""

from __future__ import annotations

import pytest
from shapely.geometry import box
from shapely.ops import unary_union

from hotline.grid import GridIndex

# Two cells side by side sharing the edge lon = 116.41, and a third below the first.
CELLS = [
    ("110101001001002", box(116.41, 39.91, 116.42, 39.92)),
    ("110101001001001", box(116.40, 39.91, 116.41, 39.92)),
    ("110101001001006", box(116.40, 39.90, 116.41, 39.91)),
]


@pytest.fixture
def index() -> GridIndex:
    return GridIndex(CELLS)


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (116.405, 39.915, "110101001001001"),  # inside
        (116.415, 39.915, "110101001001002"),  # inside the neighbour
        (116.41, 39.915, "110101001001001"),  # on the shared edge: lowest code
        (116.405, 39.91, "110101001001001"),  # on the edge shared with the cell below
        (116.41, 39.91, "110101001001001"),  # corner shared by three cells
        (116.40, 39.905, "110101001001006"),  # on an outer edge: still inside (closed)
        (116.43, 39.915, None),  # east of everything
        (116.415, 39.905, None),  # in the notch where no cell is
    ],
)
def test_locate(index: GridIndex, lon: float, lat: float, expected: str | None) -> None:
    assert index.locate(lon, lat) == expected


def test_no_overlaps_between_neighbours(index: GridIndex) -> None:
    assert index.overlapping_pairs() == []


def test_overlap_is_found() -> None:
    index = GridIndex([*CELLS, ("110101001001009", box(116.405, 39.915, 116.415, 39.925))])
    pairs = index.overlapping_pairs()
    assert ("110101001001001", "110101001001009") in pairs
    assert ("110101001001002", "110101001001009") in pairs


def test_shipped_grid_lookup() -> None:
    from pathlib import Path

    from hotline.refdata import read_reference_data

    data = read_reference_data(Path(__file__).parents[2] / "data" / "reference")
    index = GridIndex((c.code, c.shape) for c in data.grid)
    assert len(index) == 11701  # Dongcheng and Xicheng
    # A point inside every cell is found in that cell.
    for cell in data.grid:
        inside = cell.shape.representative_point()
        assert index.locate(inside.x, inside.y) == cell.code
    assert index.locate(116.3, 39.8) is None
    # The demo grid covers Dongcheng: its places, and a field report from 东四 or 天坛.
    dongcheng = [p for p in data.gazetteer if p.area.startswith("110101") and p.lon and p.lat]
    assert dongcheng and all(index.locate(p.lon, p.lat) for p in dongcheng if p.lon and p.lat)
    assert (index.locate(116.4172, 39.9300) or "")[:9] == "110101006"
    assert (index.locate(116.4107, 39.8822) or "")[:9] == "110101016"
    # And Xicheng: 北海公园, 西单, 月坛, 广安门外, 陶然亭 each in its own street.
    xicheng = [p for p in data.gazetteer if p.area.startswith("110102") and p.lon and p.lat]
    assert xicheng and all(index.locate(p.lon, p.lat) for p in xicheng if p.lon and p.lat)
    for lon, lat, street in [
        (116.3890, 39.9260, "110102012"),
        (116.3740, 39.9110, "110102001"),
        (116.3450, 39.9120, "110102007"),
        (116.3300, 39.8900, "110102020"),
        (116.3780, 39.8700, "110102016"),
    ]:
        assert (index.locate(lon, lat) or "")[:9] == street, (lon, lat)
    # Any point of the two districts lands in a cell: their cells make one area, no holes.
    both = unary_union([c.shape for c in data.grid if c.code[:6] in ("110101", "110102")])
    assert both.geom_type == "Polygon" and not list(both.interiors)


def test_covering_names_every_cell_on_an_edge(index: GridIndex) -> None:
    assert index.covering(116.405, 39.915) == ["110101001001001"]
    assert index.covering(116.41, 39.915) == ["110101001001001", "110101001001002"]
    assert index.covering(116.41, 39.91) == [
        "110101001001001",
        "110101001001002",
        "110101001001006",
    ]
    assert index.covering(116.43, 39.915) == []
