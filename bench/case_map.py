#!/usr/bin/env python3
"""The map's case layer at a big city's size: PostgreSQL holding 50,000 grid cells and
100,000 open cases, the layer asked for through the app as the pages ask for it (a signed-in
supervisor of the city, over HTTP in-process): counts per street (the whole city, zoomed
out), per community, per cell in a zoomed-in box, and the points in that box. The first
request builds the grid index and the outlines (once per loaded grid) and is reported apart.
Exits non-zero if a warm request's p95 exceeds 1 s (docs/benchmarks.md).

    python bench/case_map.py [--cells 50000] [--cases 100000] [--runs 10] [--pg URL] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, delete, insert  # noqa: E402
from stats import percentile  # noqa: E402

from agent_ui.main import create_app  # noqa: E402
from agent_ui.pages.map_layers import warm  # noqa: E402
from hotline import migrate  # noqa: E402
from hotline.db import make_engine, transaction  # noqa: E402
from hotline.demo import load_demo_users  # noqa: E402
from hotline.models import Area, GridCell  # noqa: E402
from hotline.refdata import load_reference_data  # noqa: E402
from hotline.settings import Settings  # noqa: E402
from hotline.testing import pg  # noqa: E402

GOAL_S = 1.0
DLON, DLAT = 0.00117, 0.0009  # a 100 m cell, as the demo grid
WEST, NORTH = 116.30, 39.86  # south-west of the demo grid: no overlap with it
BLOCK = 50  # a street is 50 x 50 cells: 25 communities of 10 x 10
OPEN = ("registered", "dispatched", "in_progress", "rework", "handled")
COLUMNS = (
    "number", "source", "state", "kind", "class_code", "district_code", "grid_code", "lon",
    "lat", "address", "description", "urgency", "platform_level", "due_at", "citizen_name",
    "citizen_phone", "callback_consent", "urge_count", "created_by", "created_at",
    "updated_at", "version",
)  # fmt: skip


def lattice(cells: int) -> list[tuple[str, int, int]]:
    """(code, column, row) of ``cells`` cells on 200 columns, streets 110101101 onwards."""
    found = []
    for n in range(cells):
        row, col = divmod(n, 200)
        street = 101 + (row // BLOCK) * 4 + col // BLOCK
        community = 1 + ((row % BLOCK) // 10) * 5 + (col % BLOCK) // 10
        number = 1 + (row % 10) * 10 + col % 10
        found.append((f"110101{street:03d}{community:03d}{number:03d}", col, row))
    return found


def load_grid(engine: Engine, cells: list[tuple[str, int, int]]) -> None:
    with transaction(engine) as session:
        session.execute(delete(GridCell))  # the demo grid gives way to the big one
        areas = sorted({code[:9] for code, _, _ in cells} | {code[:12] for code, _, _ in cells})
        session.execute(
            insert(Area),
            [
                {
                    "code": code,
                    "level": "street" if len(code) == 9 else "community",
                    "parent_code": "110101" if len(code) == 9 else code[:9],
                    "name_zh": code,
                    "name_en": code,
                }
                for code in areas
            ],
        )
        rows = []
        for code, col, row in cells:
            w, n = round(WEST + col * DLON, 7), round(NORTH - row * DLAT, 7)
            e, s = round(w + DLON, 7), round(n - DLAT, 7)
            ring = [[w, n], [e, n], [e, s], [w, s], [w, n]]
            rows.append(
                {
                    "code": code,
                    "community_code": code[:12],
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "centroid_lon": (w + e) / 2,
                    "centroid_lat": (n + s) / 2,
                    "active": True,
                }
            )
        session.execute(insert(GridCell), rows)


def load_cases(engine: Engine, cells: list[tuple[str, int, int]], count: int) -> None:
    rng = random.Random(20)
    now = dt.datetime.now(dt.UTC)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY cases ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for n in range(count):
                code, col, row = rng.choice(cells)
                lon = WEST + (col + rng.random()) * DLON
                lat = NORTH - (row + rng.random()) * DLAT
                created = now - dt.timedelta(hours=rng.uniform(1, 24 * 60))
                state = rng.choice(OPEN)
                due = created + dt.timedelta(hours=rng.uniform(4, 360))
                copy.write_row(
                    (
                        f"9{n:09d}",
                        "phone",
                        state,
                        "event",
                        "0102",
                        "110101",
                        code,
                        lon,
                        lat,
                        "",
                        "",
                        "normal",
                        "district",
                        due,
                        "",
                        "",
                        False,
                        0,
                        "bench",
                        created,
                        created,
                        1,
                    )
                )
        raw.commit()
    finally:
        raw.close()
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE cases"
        )


def sign_in(client: TestClient) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post(
        "/login",
        data={"username": "city_super", "password": "super-demo-123", "csrf_token": token[1]},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:200]


def timed(client: TestClient, url: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    response = client.get(url)
    seconds = time.perf_counter() - started
    assert response.status_code == 200, (url, response.text[:200])
    return seconds, len(json.loads(response.content)["features"]), len(response.content)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=50_000)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pg", default=pg.DEFAULT_URL, help="an admin URL (CREATE DATABASE)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    database = pg.create_database(args.pg, prefix="hotline_bench_map")
    url = database.render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        load_reference_data(engine, ROOT / "data" / "reference")
        load_demo_users(engine)
        cells = lattice(args.cells)
        started = time.perf_counter()
        load_grid(engine, cells)
        load_cases(engine, cells, args.cases)
        print(f"{args.cells:,} cells, {args.cases:,} open cases loaded in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        box = ",".join(  # what a 1366 x 400 map shows at zoom 16: about 1.8 km x 0.6 km
            f"{v:.5f}" for v in (WEST + 0.05, NORTH - 0.106, WEST + 0.0735, NORTH - 0.1)
        )
        view = "/cases/map.geojson?view=all" + "".join(f"&state={s}" for s in OPEN)
        asks = {
            "streets (zoomed out)": f"{view}&by=street",
            "communities": f"{view}&by=community",
            "cells in the box": f"{view}&by=cell&bbox={box}",
            "points in the box": f"{view}&bbox={box}",
        }
        app = create_app(Settings(database_url=url), engine)
        failed = False
        with TestClient(app) as client:
            sign_in(client)
            started = time.perf_counter()
            warm(app.state)  # what `hotline serve` does off the event loop at start-up
            print(f"start-up warm-up (index and outlines): {time.perf_counter() - started:.2f} s")
            first, n, size = timed(client, asks["streets (zoomed out)"])
            print(f"first request after the warm-up: {first * 1000:.0f} ms", flush=True)
            for name, ask in asks.items():
                cold, _, _ = timed(client, ask)  # outlines of a new level are built once
                times = []
                for _ in range(args.runs):
                    seconds, n, size = timed(client, ask)
                    times.append(seconds)
                p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
                failed |= p95 > GOAL_S
                print(f"  {name}: first {cold * 1000:.0f} ms, p50 {p50 * 1000:.0f} ms, "
                      f"p95 {p95 * 1000:.0f} ms, "
                      f"{n:,} features, {size / 1024:.0f} KiB", flush=True)  # fmt: skip
        return 1 if failed else 0
    finally:
        engine.dispose()
        if args.keep:
            print(f"kept {database.database}")
        else:
            pg.drop_database(args.pg, str(database.database))


if __name__ == "__main__":
    sys.exit(main())
