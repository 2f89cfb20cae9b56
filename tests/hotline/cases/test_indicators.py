"""Indicators from a scripted month of case histories (pure) and from a real database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from hotline.cases.indicators import Event, compute, load
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=dt.UTC)


def life(
    case: int,
    unit: str,
    steps: list[tuple[str, str, dt.datetime]],
    due: dt.datetime,
    **verify: object,
) -> list[Event]:
    events = []
    for action, state, when in steps:
        extra = verify if action == "verify" else {}
        events.append(
            Event(
                case,
                action,
                state,
                when,
                unit if action == "dispatch" else None,
                "110101",
                due,
                **extra,
            )
        )  # type: ignore[arg-type]
    return events


def test_month() -> None:
    events = [
        # 1: handled on time, verified solved, closed
        *life(
            1,
            "u1",
            [
                ("create", "registered", at(2)),
                ("dispatch", "dispatched", at(2)),
                ("accept", "in_progress", at(2, 11)),
                ("report_handled", "handled", at(2, 14)),
                ("verify", "verified", at(3)),
                ("close", "closed", at(3, 11)),
            ],
            due=at(2, 16),
            solved=True,
            satisfaction=5,
        ),
        # 2: handled late, then reworked
        *life(
            2,
            "u1",
            [
                ("create", "registered", at(5)),
                ("dispatch", "dispatched", at(5)),
                ("report_handled", "handled", at(7)),
                ("rework", "rework", at(8)),
            ],
            due=at(6),
        ),
        # 3: never handled, past its deadline at the end of the month
        *life(
            3,
            "u1",
            [("create", "registered", at(20)), ("dispatch", "dispatched", at(20))],
            due=at(21),
        ),
        # 4: another unit; verified but NOT solved, then closed: closed is not solved
        *life(
            4,
            "u2",
            [
                ("create", "registered", at(10)),
                ("dispatch", "dispatched", at(10)),
                ("report_handled", "handled", at(10, 12)),
                ("verify", "verified", at(11)),
                ("close", "closed", at(11, 11)),
            ],
            due=at(11),
            solved=False,
            satisfaction=2,
        ),
        # 5: dispatched in October: not this month's job
        *life(
            5,
            "u1",
            [
                ("create", "registered", at(1) - dt.timedelta(days=5)),
                ("dispatch", "dispatched", at(1) - dt.timedelta(days=5)),
            ],
            due=at(1),
        ),
    ]
    units, districts = compute(events, START, END)
    u1 = units["u1"]
    assert (u1.dispatched, u1.handled, u1.handled_on_time, u1.overdue_unhandled) == (3, 2, 1, 1)
    assert u1.handling_rate == round(2 / 3, 4) and u1.on_time_rate == round(1 / 3, 4)
    assert u1.rework_rate == 0.5  # 1 of the 2 that reached verification
    assert u1.average_handling_hours == round((4 + 48) / 2, 2)
    u2 = units["u2"]
    assert (u2.verified, u2.solved, u2.resolution_rate, u2.satisfaction) == (1, 0, 0.0, 2.0)
    district = districts["110101"]
    assert (district.registered, district.closed, district.closure_rate) == (4, 2, 0.5)
    assert district.solved == 1  # case 4 was closed but not solved


def test_from_the_database(loaded_engine: Engine) -> None:
    agent = Actor("dc_dispatcher", "dispatcher", "110101")
    unit = Actor("u", "unit", "110101", "dongcheng.sanitation")
    when = at(16, 2)
    with transaction(loaded_engine) as session:
        case, _ = create_case(
            session,
            agent,
            NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
            "k",
            now=when,
        )
        n = case.number
        transition(session, agent, n, "dispatch", 1, {"unit_code": "auto"}, now=when)
        transition(session, unit, n, "accept", 2, now=when)
        transition(
            session, unit, n, "report_handled", 3, {"note": "ok"}, now=when + dt.timedelta(hours=2)
        )
        transition(
            session,
            agent,
            n,
            "verify",
            4,
            {"solved": True, "satisfaction": 4},
            now=when + dt.timedelta(hours=5),
        )
    with transaction(loaded_engine) as session:
        units, districts = compute(load(session, END), START, END)
    sanitation = units["dongcheng.sanitation"]
    assert (sanitation.dispatched, sanitation.handled, sanitation.average_handling_hours) == (
        1,
        1,
        2.0,
    )
    assert (sanitation.resolution_rate, sanitation.satisfaction) == (1.0, 4.0)
    assert districts["110101"].registered == 1
