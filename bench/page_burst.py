#!/usr/bin/env python3
"""A shift start: N concurrent loads of each page 500 agents open at 08:00 (the agent desk,
the supervisor's wallboard, the reports), against one web instance (uvicorn in a process of
its own, loopback), on SQLite or PostgreSQL, with a day of calls in the database.

Compared in the same run with the same page loaded by one client at a time (what a user
sees on a quiet system). Exits non-zero if any load answered 5xx or failed: the goal is no
error at any concurrency, with the p99 written down (docs/benchmarks.md).

    python bench/page_burst.py [--concurrent 200] [--calls 5000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import multiprocessing
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from stats import percentile  # noqa: E402

from hotline import migrate  # noqa: E402
from hotline.db import make_engine  # noqa: E402
from hotline.demo import load_demo_users  # noqa: E402
from hotline.models import Call  # noqa: E402
from hotline.refdata import load_reference_data  # noqa: E402
from hotline.testing.pbx import free_port  # noqa: E402
from hotline.testing.web import sign_in  # noqa: E402

PAGES = [
    ("/", "dc_agent", "agent-demo-123", "agent desk"),
    ("/supervisor", "dc_super", "super-demo-123", "wallboard"),
    ("/reports", "city_super", "super-demo-123", "reports (today)"),
]
QUEUES = ["hotline-city", "hotline-110101", "hotline-110102"]


def _serve(url: str, port: int) -> None:
    import uvicorn

    from agent_ui.main import create_app
    from hotline.settings import Settings

    engine = make_engine(url)
    app = create_app(Settings(database_url=url), engine)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=2048)


def _a_day_of_calls(url: str, calls: int) -> None:
    engine = make_engine(url)
    start = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(7)
    rows = []
    for n in range(calls):
        joined = start + dt.timedelta(seconds=rng.uniform(0, 20 * 3600))
        answered = rng.random() < 0.9
        connected = joined + dt.timedelta(seconds=rng.uniform(2, 60)) if answered else None
        rows.append(
            {
                "uniqueid": f"bench-{n}",
                "linkedid": f"bench-{n}",
                "caller_number": f"138{n:08d}",
                "queue": rng.choice(QUEUES),
                "queue_joined_at": joined,
                "connected_at": connected,
                "ended_at": (connected or joined) + dt.timedelta(seconds=rng.uniform(30, 300)),
                "agent": "dc_agent" if answered else None,
                "outcome": "completed" if answered else "abandoned",
                "created_at": joined,
            }
        )
    with engine.begin() as connection:
        connection.execute(Call.__table__.insert(), rows)
    engine.dispose()


async def _loads(base: str, path: str, user: str, password: str, concurrent: int) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        await sign_in(client, user, password)
        cookies = dict(client.cookies)
        alone = []
        for _ in range(20):
            began = time.perf_counter()
            response = await client.get(path)
            alone.append(time.perf_counter() - began)
            assert response.status_code == 200, response.status_code
    limits = httpx.Limits(max_connections=concurrent)
    async with httpx.AsyncClient(
        base_url=base, timeout=120, cookies=cookies, limits=limits
    ) as burst:

        async def one() -> tuple[int, float]:
            began = time.perf_counter()
            try:
                status = (await burst.get(path)).status_code
            except httpx.HTTPError:
                status = 0
            return status, time.perf_counter() - began

        began = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(concurrent)))
        wall = time.perf_counter() - began
    times = [t for _, t in results]
    return {
        "alone_p50": percentile(alone, 0.5),
        "alone_p99": percentile(alone, 0.99),
        "p50": percentile(times, 0.5),
        "p99": percentile(times, 0.99),
        "max": max(times),
        "wall": wall,
        "statuses": collections.Counter(s for s, _ in results),
    }


async def main(url: str, concurrent: int) -> int:
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(url, port))
    server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as probe:
            for _ in range(200):
                try:
                    await probe.get("/healthz")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        failed = False
        print(
            f"| page | alone p50 | alone p99 | {concurrent} at once: p50 | p99 | max "
            "| all done in | answers |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for path, user, password, label in PAGES:
            found = await _loads(base, path, user, password, concurrent)
            statuses = dict(found["statuses"])
            failed |= any(s == 0 or s >= 500 for s in statuses)
            print(
                f"| {label} `{path}` | {found['alone_p50'] * 1000:.0f} ms "
                f"| {found['alone_p99'] * 1000:.0f} ms | {found['p50'] * 1000:.0f} ms "
                f"| {found['p99'] * 1000:.0f} ms | {found['max'] * 1000:.0f} ms "
                f"| {found['wall']:.2f} s | {statuses} |"
            )
        return 1 if failed else 0
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--calls", type=int, default=5000, help="calls today in the database")
    parser.add_argument("--database-url", help="an empty PostgreSQL database; default SQLite")
    args = parser.parse_args()
    database = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    migrate.upgrade(database)
    engine = make_engine(database)
    load_reference_data(engine, ROOT / "data" / "reference")
    load_demo_users(engine)
    engine.dispose()
    _a_day_of_calls(database, args.calls)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {database.split(':')[0]}"
    )
    sys.exit(asyncio.run(main(database, args.concurrent)))
