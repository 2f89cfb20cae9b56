#!/usr/bin/env python3
"""The platforms' case list (工作台) with a real city's history: PostgreSQL holding
1,000,000 cases over three years, the main views, the tab counts and searches, each timed
through the service the page calls (``hotline.cases.queries``), for a district's dispatcher,
the city's dispatcher and an agent.

Compared in the same run with the same queries on the schema before the list's indexes
(migration 0013, plus the search function so that the statements are the same), and a deep
page read with OFFSET against the keyset cursor. Exits non-zero if a main view or a search
misses the goal: p95 at most 150 ms (docs/benchmarks.md). Timings are wall time in the
client, one statement after another on one connection; tests never assert them.

    python bench/case_list.py [--cases 1000000] [--runs 30] [--baseline-runs 10] [--pg URL]
                              [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402
from stats import percentile  # noqa: E402

from hotline import migrate  # noqa: E402
from hotline.cases.queries import (  # noqa: E402
    MAX_PAGE,
    CaseFilter,
    conditions,
    list_cases,
    view_counts,
)
from hotline.cases.service import Actor  # noqa: E402
from hotline.db import make_engine, session_factory  # noqa: E402
from hotline.models import Area, Case, CatalogueClass, Unit  # noqa: E402
from hotline.refdata import load_reference_data  # noqa: E402
from hotline.testing import pg  # noqa: E402

GOAL_MS = 150.0
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DISTRICT = Actor("dc_dispatcher", "dispatcher", "110101")  # Dongcheng: a small district
CITY = Actor("city_dispatcher", "dispatcher", "110000")
AGENT = Actor("agent_110105_1", "agent", "110105")  # Chaoyang: the busiest
# Districts by their share of cases (Chaoyang and Haidian the largest, as in Beijing).
WEIGHTS = {
    "110101": 5, "110102": 6, "110105": 18, "110106": 10, "110107": 3, "110108": 15,
    "110109": 2, "110111": 5, "110112": 7, "110113": 5, "110114": 8, "110115": 7,
    "110116": 2, "110117": 2, "110118": 2, "110119": 2,
}  # fmt: skip
ROADS = [
    "王府井大街", "东四北大街", "朝阳门内大街", "建国门内大街", "西单北大街", "金融大街",
    "建国路", "朝阳北路", "中关村大街", "学院路", "南三环西路", "丰台路", "新华大街",
    "京通快速路", "回龙观东大街", "天通苑北一街", "亦庄文化园", "顺义府前街", "良乡大街",
]  # fmt: skip
PROBLEMS = [
    "垃圾堆放在路边无人清理", "井盖缺失存在安全隐患", "路灯不亮晚上很黑", "占道经营影响通行",
    "施工噪音扰民", "共享单车乱停放", "绿地被踩踏", "广告牌破损有坠落危险", "道路坑洼积水",
    "违章搭建", "油烟扰民", "小广告张贴", "树木倒伏", "下水道堵塞反味", "废弃车辆占用车位",
    "渣土车遗撒", "公厕无人保洁", "围挡破损", "雨水箅子缺失", "非法营运",
]  # fmt: skip
DETAILS = ["", "", "", "已多次反映", "请尽快处理", "附近有学校", "老人孩子出行不便", "夜间尤甚"]
SOURCES = ["phone"] * 70 + ["web"] * 10 + ["field"] * 10 + ["walk_in"] * 3 + ["api"] * 4
SOURCES += ["open311", "callback_request", "other"]
# Open cases (the last 30 days) by state, in per mille.
RECENT = {
    "received": 20, "registered": 80, "dispatched": 150, "in_progress": 250, "handled": 100,
    "verified": 50, "closed": 250, "returned": 30, "rework": 20, "escalated": 10,
    "ledger": 20, "invalid": 10, "duplicate": 10,
}  # fmt: skip
OLD = {"closed": 950, "invalid": 20, "duplicate": 20, "ledger": 10}
ACTIVE = ("dispatched", "in_progress", "rework")
COLUMNS = (
    "number", "source", "state", "kind", "class_code", "district_code", "grid_code", "address",
    "description", "urgency", "platform_level", "unit_code", "due_at", "citizen_name",
    "citizen_phone", "callback_consent", "overdue_at", "urge_count", "pending_extension_hours",
    "created_by", "created_at", "updated_at", "version",
)  # fmt: skip


def _weighted(table: dict[str, int]) -> list[str]:
    return [key for key, weight in table.items() for _ in range(weight)]


def generate(session: Session, count: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """``count`` plausible cases, oldest first, over the three years before NOW."""
    classes = session.execute(
        select(CatalogueClass.kind, CatalogueClass.code).where(CatalogueClass.minor.is_not(None))
    ).all()
    city_units = list(session.scalars(select(Unit.code).where(Unit.level == "city")))
    units: dict[str, list[str]] = {}
    for code, unit_district in session.execute(
        select(Unit.code, Unit.district_code).where(Unit.level == "district")
    ):
        units.setdefault(unit_district or "", []).append(code)
    streets: dict[str, list[str]] = {}
    for code, parent in session.execute(
        select(Area.code, Area.parent_code).where(Area.level == "street")
    ):
        streets.setdefault(parent or "", []).append(code[6:])
    districts = _weighted(WEIGHTS)
    recent, old = _weighted(RECENT), _weighted(OLD)
    span = dt.timedelta(days=3 * 365).total_seconds()
    start = NOW - dt.timedelta(seconds=span)
    moments = sorted(rng.random() * span for _ in range(count))
    day, serial = "", 0
    for offset in moments:
        created = start + dt.timedelta(seconds=offset)
        local_day = (created + dt.timedelta(hours=8)).strftime("%y%m%d")
        serial = serial + 1 if local_day == day else 1
        day = local_day
        district: str | None = rng.choice(districts) if rng.random() > 0.01 else None
        age = NOW - created
        state = rng.choice(recent if age < dt.timedelta(days=30) else old)
        kind, class_code = rng.choice(classes) if state != "received" else (None, None)
        street = rng.choice(streets.get(district or "", [])) if district in streets else None
        street = street or f"{rng.randint(1, 25):03d}"
        grid = f"{district}{street}{rng.randint(1, 8):03d}{rng.randint(1, 12):03d}"
        worked = state not in ("received", "registered", "invalid", "duplicate")
        unit = None
        if worked:
            local = units.get(district or "", [])
            unit = rng.choice(local) if local and rng.random() < 0.8 else rng.choice(city_units)
        due = created + dt.timedelta(hours=rng.uniform(4, 360)) if worked else None
        overdue = due if due is not None and state in ACTIVE and due < NOW else None
        pending = rng.choice((8, 16, 24)) if state in ACTIVE and rng.random() < 0.03 else None
        if rng.random() < 0.02:
            creator = CITY.username
        elif district == DISTRICT.scope_code and rng.random() < 0.05:
            creator = DISTRICT.username
        else:
            creator = f"agent_{district or '110000'}_{rng.randint(0, 11)}"
        description = rng.choice(PROBLEMS) + rng.choice(DETAILS)
        yield (
            f"{day}{serial:04d}",
            rng.choice(SOURCES),
            state,
            kind,
            class_code,
            district,
            grid if district else None,
            f"{rng.choice(ROADS)}{rng.randint(1, 400)}号",
            description,
            "urgent" if rng.random() < 0.05 else "normal",
            "city" if district is None or state == "escalated" else "district",
            unit,
            due,
            "",
            f"13{rng.randint(0, 999_999_999):09d}",
            False,
            overdue,
            0,
            pending,
            creator,
            created,
            created,
            1,
        )


def load(engine: Engine, count: int) -> float:
    """COPY ``count`` cases into the database; returns the seconds it took."""
    rng = random.Random(16)
    started = time.perf_counter()
    with session_factory(engine)() as session:
        rows = generate(session, count, rng)
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY cases ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for values in rows:
                    copy.write_row(values)
            cursor.execute(
                "INSERT INTO case_assists (case_id, unit_code, assigned_by, assigned_at, note) "
                "SELECT id, 'bj.roads', 'city_dispatcher', created_at, '' FROM cases "
                "WHERE state IN ('dispatched', 'in_progress', 'rework', 'closed') "
                "AND id % 97 = 0"
            )
            raw.commit()
        finally:
            raw.close()
    _maintain(engine, "VACUUM ANALYZE cases")
    return time.perf_counter() - started


def _maintain(engine: Engine, statement: str) -> None:
    """A statement that runs outside a transaction (VACUUM), on a connection of its own."""
    alone = create_engine(engine.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with alone.connect() as connection:
        connection.exec_driver_sql(statement)
    alone.dispose()


@dataclass(frozen=True)
class Scenario:
    name: str
    actor: Actor
    run: Callable[[Session], int]  # returns the rows it read
    main: bool = True  # held to the goal


def _page(actor: Actor, **fields: Any) -> Callable[[Session], int]:
    sort = fields.pop("sort", None)
    case_filter = CaseFilter(**fields)

    def run(session: Session) -> int:
        return len(list_cases(session, actor, case_filter, sort, now=NOW).rows)

    return run


def _counts(actor: Actor) -> Callable[[Session], int]:
    def run(session: Session) -> int:
        return sum(c.value for c in view_counts(session, actor, now=NOW).values())

    return run


# What each platform user runs: (name, the list's fields, held to the goal).
PLAN: list[tuple[str, dict[str, Any], bool]] = [
    ("to_dispatch", {"view": "to_dispatch"}, True),
    ("overdue", {"view": "overdue"}, True),
    ("to_verify", {"view": "to_verify"}, True),
    ("all", {"view": "all"}, True),
    ("mine", {"view": "mine"}, True),
    ("all, by deadline", {"sort": "due"}, False),
    ("overdue, oldest first", {"view": "overdue", "sort": "oldest"}, False),
    ("search 路灯 (2 characters)", {"search": "路灯"}, True),
    ("search 井盖缺失存在 (6)", {"search": "井盖缺失存在"}, True),
    ("search 中关村大街12号 (rare)", {"search": "中关村大街12号"}, True),
    ("street filter", {"street": "110101003"}, False),
    ("class filter 0118", {"kind": "component", "class_code": "0118"}, False),
]


def scenarios(session: Session) -> list[Scenario]:
    # A Dongcheng case from the middle of the history: both users may find it.
    middle = select(Case).where(Case.district_code == DISTRICT.scope_code).order_by(Case.id)
    total = session.scalar(select(func.count()).select_from(Case)) or 0
    case = session.scalars(middle.offset(total // 40).limit(1)).one()
    number, phone = case.number, case.citizen_phone
    plan = [
        *PLAN,
        ("search a case number", {"search": number}, True),
        ("search a day's numbers", {"search": number[:6]}, True),
        ("search the caller's number", {"search": phone}, True),
    ]
    found: list[Scenario] = []
    for actor in (DISTRICT, CITY):
        found += [
            Scenario(name, actor, _page(actor, **fields), main) for name, fields, main in plan
        ]
        found.append(Scenario("tab counts (10 views)", actor, _counts(actor), main=False))
    found.append(Scenario("mine (an agent)", AGENT, _page(AGENT, view="mine")))
    found.append(
        Scenario("search 路灯 (an agent)", AGENT, _page(AGENT, view="mine", search="路灯"))
    )
    return found


def measure(engine: Engine, scenario: Scenario, runs: int) -> tuple[float, float, int]:
    """(p50, p95 in ms, rows) over ``runs`` after two warm-up runs, one session."""
    times: list[float] = []
    rows = 0
    with session_factory(engine)() as session:
        for n in range(runs + 2):
            started = time.perf_counter()
            rows = scenario.run(session)
            elapsed = (time.perf_counter() - started) * 1000
            session.rollback()
            session.expunge_all()
            if n >= 2:
                times.append(elapsed)
    return percentile(times, 0.5), percentile(times, 0.95), rows


def deep_page(engine: Engine, actor: Actor, depth: int, runs: int) -> tuple[float, float]:
    """p95 of the page after ``depth`` rows of the city's "all": OFFSET against keyset."""
    with session_factory(engine)() as session:
        where = conditions(session, actor, CaseFilter(), NOW)
        order = (Case.created_at.desc(), Case.id.desc())
        cursor: str | None = None
        for _ in range(depth // MAX_PAGE):  # as a reader would get there, page by page
            cursor = list_cases(
                session, actor, CaseFilter(), "newest", after=cursor, limit=MAX_PAGE, now=NOW
            ).next_cursor
        session.expunge_all()
        offset_times, keyset_times = [], []
        for n in range(runs + 2):
            started = time.perf_counter()
            deep = select(Case).where(*where).order_by(*order).offset(depth).limit(51)
            session.scalars(deep).all()
            middle = time.perf_counter()
            list_cases(session, actor, CaseFilter(), "newest", after=cursor, now=NOW)
            ended = time.perf_counter()
            session.rollback()
            session.expunge_all()
            if n >= 2:
                offset_times.append((middle - started) * 1000)
                keyset_times.append((ended - middle) * 1000)
    return percentile(offset_times, 0.95), percentile(keyset_times, 0.95)


def machine(engine: Engine) -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SHOW server_version").scalar()
        buffers = connection.exec_driver_sql("SHOW shared_buffers").scalar()
        ctype = connection.exec_driver_sql("SHOW lc_ctype").scalar()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, "
        f"PostgreSQL {version} (shared_buffers {buffers}, lc_ctype {ctype})"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--baseline-runs", type=int, default=10)
    parser.add_argument("--pg", default=pg.DEFAULT_URL, help="an admin URL (CREATE DATABASE)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", help="a database an earlier --keep run loaded: no new load")
    args = parser.parse_args()
    if args.reuse:
        database = make_url(args.pg).set(database=args.reuse)
    else:
        database = pg.create_database(args.pg, prefix="hotline_bench_list")
    url = database.render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        print(machine(engine), flush=True)
        if args.reuse:
            migrate.downgrade(url, "0013")  # the schema before the list's indexes
            _maintain(engine, "ANALYZE cases")
        else:
            migrate.upgrade(url, "0013")
            load_reference_data(engine, ROOT / "data" / "reference")
        return run(args, url, engine)
    finally:
        engine.dispose()
        if args.keep or args.reuse:
            print(f"kept {database.database}")
        else:
            pg.drop_database(args.pg, str(database.database))


def _search_function() -> str:
    """Migration 0014's search function: the baseline runs the same statements."""
    import importlib.util

    path = ROOT / "hotline" / "migrations" / "versions" / "0014_case_list_indexes.py"
    spec = importlib.util.spec_from_file_location("m0014", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.SEARCH_FUNCTION)


def run(args: argparse.Namespace, url: str, engine: Engine) -> int:
    with engine.begin() as connection:
        connection.exec_driver_sql(_search_function())
    if not args.reuse:
        seconds = load(engine, args.cases)
        print(f"{args.cases:,} cases loaded in {seconds:.0f} s", flush=True)
    with engine.connect() as connection:
        size = connection.exec_driver_sql(
            "SELECT count(*), pg_size_pretty(pg_total_relation_size('cases')) FROM cases"
        ).one()
    print(f"{size[0]:,} cases; table and indexes before 0014: {size[1]}", flush=True)
    with session_factory(engine)() as session:
        plan = scenarios(session)
    baseline = {}
    for scenario in plan:
        baseline[(scenario.name, scenario.actor)] = measure(engine, scenario, args.baseline_runs)
        b50, b95, rows = baseline[(scenario.name, scenario.actor)]
        print(f"  before: {scenario.name} ({scenario.actor.username}): {b95:.1f} ms", flush=True)
    deep_before = deep_page(engine, CITY, 10_000, args.baseline_runs)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP FUNCTION hotline_search_grams(text, text)")
    started = time.perf_counter()
    migrate.upgrade(url)
    migration = time.perf_counter() - started
    _maintain(engine, "ANALYZE cases")
    with engine.connect() as connection:
        size = connection.exec_driver_sql(
            "SELECT pg_size_pretty(pg_total_relation_size('cases')), "
            "pg_size_pretty(pg_relation_size('ix_cases_search'))"
        ).one()
    print(
        f"migration 0014 took {migration:.0f} s; table and indexes: {size[0]} (search: {size[1]})"
    )
    print()
    print("| who | what | rows | p50 | p95 | p50 before | p95 before | goal |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    missed = []
    for scenario in plan:
        p50, p95, rows = measure(engine, scenario, args.runs)
        b50, b95, _ = baseline[(scenario.name, scenario.actor)]
        who = {DISTRICT: "district", CITY: "city", AGENT: "agent"}[scenario.actor]
        verdict = "—"
        if scenario.main:
            verdict = "met" if p95 <= GOAL_MS else "**missed**"
            if p95 > GOAL_MS:
                missed.append(f"{who}: {scenario.name}")
        print(
            f"| {who} | {scenario.name} | {rows} | {p50:.1f} ms | {p95:.1f} ms "
            f"| {b50:.1f} ms | {b95:.1f} ms | {verdict} |"
        )
    offset_p95, keyset_p95 = deep_page(engine, CITY, 10_000, args.runs)
    print()
    print(
        f"page after 10,000 rows (city, all): OFFSET p95 {offset_p95:.1f} ms, keyset p95 "
        f"{keyset_p95:.1f} ms (before the indexes: OFFSET {deep_before[0]:.1f} ms, keyset "
        f"{deep_before[1]:.1f} ms)"
    )
    if missed:
        print(f"goal (p95 ≤ {GOAL_MS:.0f} ms) missed: {'; '.join(missed)}")
        return 1
    print(f"goal (p95 ≤ {GOAL_MS:.0f} ms): met by every main view and search")
    return 0


if __name__ == "__main__":
    sys.exit(main())
