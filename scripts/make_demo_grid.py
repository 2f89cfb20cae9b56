#!/usr/bin/env python3
"""Write data/reference/grid_cells.geojson: demo unit-grid cells for two Dongcheng streets.

Each community is a block of 5 x 4 cells of about 100 m x 100 m (the "10,000 m² unit grid"),
numbered west→east, north→south as CJ/T 213 asks. Corners are computed from integer steps so
neighbouring cells share exactly equal edge coordinates. Usage:
    python scripts/make_demo_grid.py [OUT] [--scale N]   (--scale repeats blocks for benchmarks)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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


def write(path: Path, scale: int = 1) -> None:
    lines = ['{"type": "FeatureCollection", "features": [']
    items = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features(scale)]
    lines.append(",\n".join(items))
    lines.append("]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default="data/reference/grid_cells.geojson")
    parser.add_argument("--scale", type=int, default=1)
    args = parser.parse_args()
    write(Path(args.out), args.scale)
