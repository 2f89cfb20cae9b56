"""Indicators on a small hand-computed data set, on both databases, on a controlled clock.

November 2026 (UTC bounds for simple arithmetic), district 110101, unit dongcheng.sanitation:

1. registered and dispatched 2 Nov 10:00, due 16:00, reported 14:00 (4 h), verified solved
   (5) 3 Nov 10:00 (20 h after the report), closed 11:00;
2. dispatched 5 Nov, due 6 Nov, reported 7 Nov (48 h), reworked 8 Nov 11:00 (25 h later);
3. dispatched 20 Nov, extension approved, due 22 Nov, urged, never reported;
4. dispatched 10 Nov, due 11 Nov, returned by the unit the same day (not its job);
5. dispatched 12 Nov, returned, dispatched again 12:00, due 13 Nov 12:00, reported 10:00 (22 h);
6. received 25 Nov 10:00, registered 13:00 (3 h: late), never dispatched;
7. dispatched 1 Dec, due 30 Dec: December is running on 2 Dec, nothing is overdue yet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hotline.cases.calendar import load_calendar
from hotline.cases.indicators import compute
from hotline.cases.service import (
    Actor,
    NewCase,
    create_case,
    decide_extension,
    request_extension,
    transition,
)
from hotline.db import transaction
from hotline.models import Case

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
AGENT = Actor("dc_dispatcher", "dispatcher", "110101")
UNIT = Actor("u", "unit", "110101", "dongcheng.sanitation")
SANITATION = "dongcheng.sanitation"


def at(day: int, hour: int = 10, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


class Script:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.count = 0

    def new(self, when: dt.datetime, registered: bool = True) -> str:
        self.count += 1
        classed: dict[str, Any] = {"kind": "event", "class_code": "0102"} if registered else {}
        case, _ = create_case(
            self.session,
            AGENT,
            NewCase(source="phone", district_code="110101", **classed),
            f"k{self.count}",
            now=when,
        )
        return case.number

    def case(self, number: str) -> Case:
        case = self.session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        return case

    def do(self, actor: Actor, number: str, action: str, when: dt.datetime, **data: object) -> None:
        transition(self.session, actor, number, action, self.case(number).version, data, now=when)

    def dispatch(self, number: str, when: dt.datetime, due: dt.datetime) -> None:
        self.do(AGENT, number, "dispatch", when, unit_code=SANITATION)
        self.case(number).due_at = due  # a controlled deadline, whatever the calendar says
        self.session.flush()


def month(session: Session) -> None:
    s = Script(session)
    one = s.new(at(2))
    s.dispatch(one, at(2), at(2, 16))
    s.do(UNIT, one, "accept", at(2, 11))
    s.do(UNIT, one, "report_handled", at(2, 14), note="ok")
    s.do(AGENT, one, "verify", at(3), solved=True, satisfaction=5)
    s.do(AGENT, one, "close", at(3, 11))
    two = s.new(at(5))
    s.dispatch(two, at(5), at(6))
    s.do(UNIT, two, "accept", at(5, 11))
    s.do(UNIT, two, "report_handled", at(7), note="ok")
    s.do(AGENT, two, "rework", at(8, 11), note="not clean")
    three = s.new(at(20))
    s.dispatch(three, at(20), at(21))
    request_extension(
        session, UNIT, three, s.case(three).version, 8, "needs a crane", now=at(20, 11)
    )
    decide_extension(
        session, AGENT, three, s.case(three).version, True, load_calendar(session), now=at(20, 12)
    )
    s.case(three).due_at = at(22)
    s.do(AGENT, three, "urge", at(22, 12), note="hurry")
    four = s.new(at(10))
    s.dispatch(four, at(10), at(11))
    s.do(UNIT, four, "return", at(10, 12), note="not ours")
    five = s.new(at(12))
    s.dispatch(five, at(12), at(13))
    s.do(UNIT, five, "return", at(12, 11), note="not ours")
    s.dispatch(five, at(12, 12), at(13, 12))
    s.do(UNIT, five, "accept", at(12, 13))
    s.do(UNIT, five, "report_handled", at(13), note="ok")
    six = s.new(at(25), registered=False)
    s.do(AGENT, six, "register", at(25, 13), kind="event", class_code="0102")
    seven = s.new(at(1, month=12))
    s.dispatch(seven, at(1, month=12), at(30, month=12))


def test_every_indicator_on_a_hand_count(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        month(session)
    with transaction(loaded_engine) as session:
        (district,) = compute(session, "district", START, END).values()
        units = compute(session, "unit", START, END)
        city = compute(session, "city", START, END)["city"]
    assert district == city
    d = district
    assert (d.registered, d.registered_on_time, d.registration_on_time_rate) == (6, 5, 0.8333)
    assert (d.dispatched, d.returned, d.dispatch_accuracy) == (6, 2, 0.6667)
    assert (d.handled, d.average_handling_hours) == (3, round((4 + 48 + 22) / 3, 2))
    # due in November: 1, 2, 3, 5 (4 was returned: not the unit's job)
    assert (d.due, d.handled_on_time, d.overdue, d.overdue_open) == (4, 2, 2, 2)
    assert (d.handling_rate, d.on_time_rate, d.overdue_rate) == (0.5, 0.5, 0.5)
    assert (d.extended, d.extension_rate, d.urged) == (1, 0.25, 1)
    assert (d.verified, d.reworked, d.rework_rate, d.verification_on_time_rate) == (
        1,
        1,
        0.5,
        0.5,
    )
    assert (d.closed, d.closure_rate, d.closure_on_time_rate) == (1, round(1 / 6, 4), 1.0)
    assert (d.solved, d.resolution_rate, d.satisfaction) == (1, 1.0, 5.0)
    sanitation = units[SANITATION]
    assert (sanitation.dispatched, sanitation.due, sanitation.overdue) == (6, 4, 2)


def test_a_running_period_judges_only_what_is_due_so_far(loaded_engine: Engine) -> None:
    """On 2 December a job due on 30 December is not overdue (it was 100 % before)."""
    with transaction(loaded_engine) as session:
        month(session)
    with transaction(loaded_engine) as session:
        december = compute(session, "district", END, at(2, month=12))
        whole = compute(session, "district", END, at(1, month=1) + dt.timedelta(days=365))
    (d,) = december.values()
    assert (d.dispatched, d.due, d.overdue, d.overdue_rate) == (1, 0, 0, None)
    (w,) = whole.values()  # at the end of the month it is due, unhandled: overdue
    assert (w.due, w.overdue, w.overdue_rate) == (1, 1, 1.0)


def test_a_returned_job_is_not_the_units(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        s = Script(session)
        number = s.new(at(10))
        s.dispatch(number, at(10), at(11))
        s.do(UNIT, number, "return", at(10, 12), note="not ours")
    with transaction(loaded_engine) as session:
        units = compute(session, "unit", START, END)
        (district,) = compute(session, "district", START, END).values()
    sanitation = units[SANITATION]
    assert (sanitation.due, sanitation.overdue, sanitation.overdue_rate) == (0, 0, None)
    assert (district.dispatched, district.returned, district.dispatch_accuracy) == (1, 1, 0.0)


def test_scopes_and_least_privilege(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        month(session)
    with transaction(loaded_engine) as session:
        classes = compute(session, "class", START, END)
        assert list(classes) == ["event:0102"]
        assert compute(session, "street", START, END)["city"].registered == 6  # no grid cell
        assert compute(session, "district", START, END, district="110102") == {}
