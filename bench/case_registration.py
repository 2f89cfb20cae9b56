#!/usr/bin/env python3
"""Case registration on a real database: create (idempotency key, checks, number, history,
outbox) plus dispatch by the assignment rules with a deadline on the working calendar, one
transaction per case, from several threads. Compared in the same run with a bare INSERT of
a case row (no rules, no history) on the same database, and with the same work on SQLite.
Bounded: a fixed number of cases.

    python bench/case_registration.py [--cases 2000] [--threads 8] [--pg ADMIN_URL]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert  # noqa: E402

from hotline import migrate  # noqa: E402
from hotline.cases.calendar import load_calendar  # noqa: E402
from hotline.cases.service import Actor, NewCase, create_case, transition  # noqa: E402
from hotline.db import make_engine, transaction  # noqa: E402
from hotline.models import Case  # noqa: E402
from hotline.refdata import load_reference_data  # noqa: E402
from hotline.testing import pg  # noqa: E402

AGENT = Actor("bench", "agent", "110000")
CLASSES = ["0102", "0104", "0501", "0505", "0301", "0403"]


def register(engine: Engine, n: int, calendar: object) -> None:
    with transaction(engine) as session:
        case, _ = create_case(
            session,
            AGENT,
            NewCase(
                source="phone",
                kind="event",
                class_code=CLASSES[n % len(CLASSES)],
                district_code="110101",
                grid_code="110101001001001",
                address="王府井大街",
                description="基准测试",
                citizen_phone=f"139{n:08d}",
            ),
            f"bench-{n}",
        )
        transition(
            session, AGENT, case.number, "dispatch", 1, {"unit_code": "auto"}, calendar=calendar
        )  # type: ignore[arg-type]


def bare_insert(engine: Engine, n: int, calendar: object) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(Case).values(
                number=f"9{n:09d}",
                source="phone",
                state="registered",
                kind="event",
                class_code=CLASSES[n % len(CLASSES)],
                district_code="110101",
                version=1,
            )
        )


def run(
    engine: Engine,
    work: Callable[[Engine, int, object], None],
    cases: int,
    threads: int,
    offset: int,
) -> tuple[float, float, float]:
    with transaction(engine) as session:
        calendar = load_calendar(session)
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(offset, offset + cases))

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            started = time.perf_counter()
            work(engine, n, calendar)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    return cases / wall, p50, p99


def prepared(url: str, threads: int) -> Engine:
    migrate.upgrade(url)
    engine = make_engine(url, pool_size=threads, max_overflow=0)
    load_reference_data(engine, ROOT / "data" / "reference")
    return engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--pg", default=pg.DEFAULT_URL)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{args.cases} cases per run, {args.threads} threads")
    print(f"{'database':<12}{'work':<22}{'cases/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    database = pg.create_database(args.pg, prefix="hotline_bench")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            targets = [
                ("PostgreSQL", database.render_as_string(hide_password=False)),
                ("SQLite", f"sqlite:///{Path(scratch) / 'bench.db'}"),
            ]
            for name, url in targets:
                engine = prepared(url, args.threads)
                register(engine, 10_000_000, None)  # warm up
                for label, work, offset in (
                    ("registration+dispatch", register, 0),
                    ("bare INSERT", bare_insert, 0),
                ):
                    rate, p50, p99 = run(engine, work, args.cases, args.threads, offset)
                    print(f"{name:<12}{label:<22}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}")
                engine.dispose()
    finally:
        pg.drop_database(args.pg, str(database.database))


if __name__ == "__main__":
    main()
