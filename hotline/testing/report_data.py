"""A few months of cases and two days of calls for the report pages' browser tests: enough
variety (two districts, streets, classes, sources, units on time and late) that every chart
has something to draw. Made through the case services, as a platform and units would;
deterministic (a seeded random)."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import Engine

from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.models import Call

DISPATCHERS = {
    "110101": Actor("dc_dispatcher", "dispatcher", "110101"),
    "110102": Actor("xc_dispatcher", "dispatcher", "110102"),
}
UNITS = {
    "110101": ("dongcheng.sanitation", "dongcheng.greening", "dongcheng.municipal"),
    "110102": ("xicheng.sanitation", "xicheng.enforcement"),
}
CLASSES = (("event", "0102"), ("event", "0101"), ("component", "0101"), ("component", "0201"))
SOURCES = ("phone", "phone", "phone", "walk_in", "web", "field", "open311")
GRIDS = ("110101001001001", "110101002001001", "110101003001001", None)


def report_months(engine: Engine, year: int = 2026, months: tuple[int, ...] = (9, 10, 11)) -> None:
    """About 15 cases a month: registered, dispatched, then on time, late, returned or open."""
    pick = random.Random(19)
    count = 0
    with transaction(engine) as session:
        for month in months:
            for _ in range(15):
                count += 1
                district = pick.choice(("110101", "110101", "110102"))
                actor = DISPATCHERS[district]
                kind, code = pick.choice(CLASSES)
                when = dt.datetime(
                    year, month, pick.randint(1, 25), pick.randint(0, 9), tzinfo=dt.UTC
                )
                case, _ = create_case(
                    session,
                    actor,
                    NewCase(
                        source=pick.choice(SOURCES),
                        kind=kind,
                        class_code=code,
                        district_code=district,
                        grid_code=pick.choice(GRIDS) if district == "110101" else None,
                    ),
                    f"report-{count}",
                    now=when,
                )
                if pick.random() < 0.15:
                    continue  # registered, not dispatched yet
                unit_code = pick.choice(UNITS[district])
                case = transition(
                    session,
                    actor,
                    case.number,
                    "dispatch",
                    case.version,
                    {"unit_code": unit_code},
                    now=when,
                )
                case.due_at = when + dt.timedelta(days=2)
                session.flush()
                unit = Actor("u", "unit", district, unit_code)
                fate = pick.random()
                if fate < 0.2:
                    continue  # never handled: overdue
                case = transition(session, unit, case.number, "accept", case.version, now=when)
                late = unit_code.endswith("greening") or fate > 0.85
                done = when + dt.timedelta(days=3 if late else 1)
                case = transition(
                    session,
                    unit,
                    case.number,
                    "report_handled",
                    case.version,
                    {"note": "ok"},
                    now=done,
                )
                if fate < 0.6:
                    later = done + dt.timedelta(hours=4)
                    data = {"solved": fate < 0.5, "satisfaction": 4}
                    case = transition(
                        session, actor, case.number, "verify", case.version, data, now=later
                    )
                    transition(session, actor, case.number, "close", case.version, now=later)


def report_calls(engine: Engine, first: dt.date, days: int = 2) -> None:
    """Calls in Dongcheng's and the city's queues, 08:00 to 18:00 local (UTC+8)."""
    pick = random.Random(20)
    agents = {"hotline-110101": ("dc_agent",), "hotline-city": ("city_agent", "dc_agent")}
    with transaction(engine) as session:
        for day in range(days):
            for n in range(40):
                queue = pick.choice(tuple(agents))
                joined = dt.datetime.combine(
                    first + dt.timedelta(days=day),
                    dt.time(pick.randint(0, 9), pick.randint(0, 59)),
                    dt.UTC,
                )
                wait = pick.randint(3, 90)
                answered = wait < 60
                connected = joined + dt.timedelta(seconds=wait) if answered else None
                session.add(
                    Call(
                        uniqueid=f"report-{day}-{n}",
                        linkedid=f"report-{day}-{n}",
                        queue=queue,
                        agent=pick.choice(agents[queue]) if answered else None,
                        queue_joined_at=joined,
                        connected_at=connected,
                        ended_at=(connected or joined)
                        + dt.timedelta(seconds=pick.randint(30, 400)),
                        outcome="answered" if answered else "abandoned_queue",
                    )
                )
