"""Case reports on a small hand-counted data set, on both databases.

November 2026 in the city's time zone (Asia/Shanghai: 31 Oct 16:00 UTC to 30 Nov 16:00 UTC);
every step at 10:00 local unless said. D = Dongcheng (110101), X = Xicheng (110102); streets
东华门 (110101001) and 景山 (110101002) from the case's grid cell.

1. phone, D 东华门, event 0102: received, registered and dispatched 2 Nov, due 3 Nov, reported
   2 Nov 14:00, verified solved and closed 3 Nov;
2. walk-in, D 景山, event 0102: dispatched 5 Nov, due 6 Nov, reported 7 Nov (late), verified
   not solved and closed 8 Nov;
3. field, D 东华门, component 0101: dispatched 10 Nov to sanitation, returned, dispatched again
   the same day to municipal works (one dispatched case; one for each unit), due 12 Nov, never
   reported (overdue);
4. Open311, D, no place: received 20 Nov unclassified, registered 21 Nov;
5. callback request, D: received 25 Nov, never registered (no class);
6. phone, X, event 0102: dispatched 15 Nov, due 30 Dec (not due in November);
7. phone, D: received 1 Dec 04:00 local (30 Nov 20:00 UTC): December, not November;
8. phone, D 东华门, event 0102: received and dispatched 28 Oct, due 2 Nov, reported 1 Nov.

November, whole city: received 6 (1–6), registered 5 (1, 2, 3, 4, 6), dispatched 4 (1, 2, 3,
6), handled 3 (1, 2, 8), closed 2 (1, 2), solved 1 (1), due 4 (1, 2, 3, 8), overdue 2 (2, 3).

Per unit (a dispatch for the unit it went to, the rest for the case's unit now): Dongcheng
sanitation received 2 (1, 2), registered 2, dispatched 3 (1, 2, 3), handled 3 (1, 2, 8), closed
2, solved 1, due 3 (1, 2, 8), overdue 1 (2); municipal works received, registered, dispatched,
due and overdue 1 (3); no unit received 2 (4, 5), registered 1 (4); Xicheng enforcement
received, registered and dispatched 1 (6).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hotline.cases.callback import request_callback
from hotline.cases.case_reports import NONE, CaseFigures, buckets, figures, report, total, trend
from hotline.cases.indicators import CITY
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.models import Case
from hotline.periods import parse_period

ZONE = ZoneInfo("Asia/Shanghai")
NOVEMBER = parse_period("2026-11", ZONE)
DC = Actor("dc_dispatcher", "dispatcher", "110101")
XC = Actor("xc_dispatcher", "dispatcher", "110102")
DC_UNIT = Actor("u", "unit", "110101", "dongcheng.sanitation")
DONGHUAMEN, JINGSHAN = "110101001001001", "110101002001001"


def at(day: int, hour: int = 10, month: int = 11) -> dt.datetime:
    """A local time, in UTC."""
    return dt.datetime(2026, month, day, hour, tzinfo=ZONE).astimezone(dt.UTC)


class Script:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.count = 0

    def new(
        self,
        when: dt.datetime,
        source: str = "phone",
        grid: str | None = None,
        klass: tuple[str, str] | None = ("event", "0102"),
        actor: Actor = DC,
    ) -> str:
        self.count += 1
        classed = {"kind": klass[0], "class_code": klass[1]} if klass else {}
        case, _ = create_case(
            self.session,
            actor,
            NewCase(source=source, district_code=actor.scope_code, grid_code=grid, **classed),
            f"r{self.count}",
            now=when,
        )
        return case.number

    def do(self, actor: Actor, number: str, action: str, when: dt.datetime, **data: object) -> None:
        version = self.session.scalar(select(Case.version).where(Case.number == number))
        assert version is not None
        transition(self.session, actor, number, action, version, data, now=when)

    def dispatch(
        self,
        number: str,
        when: dt.datetime,
        due: dt.datetime,
        actor: Actor = DC,
        unit: str = "dongcheng.sanitation",
    ) -> None:
        self.do(actor, number, "dispatch", when, unit_code=unit)
        case = self.session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        case.due_at = due  # a controlled deadline, whatever the calendar says
        self.session.flush()

    def handle(self, number: str, accepted: dt.datetime, reported: dt.datetime) -> None:
        self.do(DC_UNIT, number, "accept", accepted)
        self.do(DC_UNIT, number, "report_handled", reported, note="ok")


def november(session: Session) -> None:
    s = Script(session)
    one = s.new(at(2), grid=DONGHUAMEN)
    s.dispatch(one, at(2), at(3))
    s.handle(one, at(2, 11), at(2, 14))
    s.do(DC, one, "verify", at(3), solved=True, satisfaction=5)
    s.do(DC, one, "close", at(3, 11))
    two = s.new(at(5), source="walk_in", grid=JINGSHAN)
    s.dispatch(two, at(5), at(6))
    s.handle(two, at(5, 11), at(7))
    s.do(DC, two, "verify", at(8), solved=False, satisfaction=2)
    s.do(DC, two, "close", at(8, 11))
    three = s.new(at(10), source="field", grid=DONGHUAMEN, klass=("component", "0101"))
    s.dispatch(three, at(10), at(11))
    s.do(DC_UNIT, three, "return", at(10, 11), note="not ours")
    s.dispatch(three, at(10, 12), at(12), unit="dongcheng.municipal")
    four = s.new(at(20), source="open311", klass=None)
    s.do(DC, four, "register", at(21), kind="event", class_code="0102")
    s.new(at(25), source="callback_request", klass=None)
    six = s.new(at(15), actor=XC)
    s.dispatch(six, at(15), at(30, month=12), actor=XC, unit="xicheng.enforcement")
    s.new(at(1, 4, month=12))
    eight = s.new(at(28, month=10), grid=DONGHUAMEN)
    s.dispatch(eight, at(28, month=10), at(2))
    s.handle(eight, at(28, 11, month=10), at(1))


CITY_NOVEMBER = CaseFigures(
    received=6, registered=5, dispatched=4, handled=3, closed=2, solved=1, due=4, overdue=2
)
DONGCHENG = CaseFigures(
    received=5, registered=4, dispatched=3, handled=3, closed=2, solved=1, due=4, overdue=2
)


def test_every_figure_per_group_on_a_hand_count(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        november(session)
    start, end = NOVEMBER.start, NOVEMBER.end
    with transaction(loaded_engine) as session:
        assert figures(session, "city", start, end) == {CITY: CITY_NOVEMBER}
        assert total(session, start, end).overdue_rate == 0.5
        assert total(session, start, end).solved_rate == 0.5
        assert figures(session, "district", start, end) == {
            "110101": DONGCHENG,
            "110102": CaseFigures(received=1, registered=1, dispatched=1),
        }
        assert figures(session, "street", start, end) == {
            NONE: CaseFigures(received=3, registered=2, dispatched=1),
            "110101001": CaseFigures(2, 2, 2, 2, 1, 1, due=3, overdue=1),
            "110101002": CaseFigures(1, 1, 1, 1, 1, 0, due=1, overdue=1),
        }
        assert figures(session, "unit", start, end) == {
            NONE: CaseFigures(received=2, registered=1),
            "dongcheng.municipal": CaseFigures(1, 1, 1, due=1, overdue=1),
            "dongcheng.sanitation": CaseFigures(2, 2, 3, 3, 2, 1, due=3, overdue=1),
            "xicheng.enforcement": CaseFigures(received=1, registered=1, dispatched=1),
        }
        assert figures(session, "class", start, end) == {
            NONE: CaseFigures(received=1),
            "component:0101": CaseFigures(1, 1, 1, due=1, overdue=1),
            "event:0102": CaseFigures(4, 4, 3, 3, 2, 1, due=3, overdue=1),
        }
        assert figures(session, "source", start, end) == {
            "callback_request": CaseFigures(received=1),
            "field": CaseFigures(1, 1, 1, due=1, overdue=1),
            "open311": CaseFigures(received=1, registered=1),
            "phone": CaseFigures(2, 2, 2, 2, 1, 1, due=2, overdue=0),
            "walk_in": CaseFigures(1, 1, 1, 1, 1, 0, due=1, overdue=1),
        }


def test_a_callback_request_the_ivr_made_is_received(loaded_engine: Engine) -> None:
    """The IVR's request makes its case with a step of its own, not ``create``."""
    with transaction(loaded_engine) as session:
        request_callback(
            session,
            call_id=None,
            caller="13800000001",
            queue="hotline-city",
            uniqueid="1700000000.1",
            zone=ZONE,
            now=at(25),
        )
    with transaction(loaded_engine) as session:
        assert figures(session, "source", NOVEMBER.start, NOVEMBER.end) == {
            "callback_request": CaseFigures(received=1)
        }
        assert total(session, NOVEMBER.start, NOVEMBER.end) == CaseFigures(received=1)


def test_a_district_sees_its_own_cases_only(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        november(session)
    start, end = NOVEMBER.start, NOVEMBER.end
    with transaction(loaded_engine) as session:
        assert total(session, start, end, "110101") == DONGCHENG
        assert set(figures(session, "district", start, end, "110101")) == {"110101"}
        assert figures(session, "source", start, end, "110102") == {
            "phone": CaseFigures(received=1, registered=1, dispatched=1)
        }


def test_trend_over_the_local_days(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        november(session)
    with transaction(loaded_engine) as session:
        days = trend(session, NOVEMBER, NOVEMBER.end)
        assert len(days) == 30 == len(buckets(NOVEMBER))
        received = {i + 1: d.received for i, d in enumerate(days) if d.received}
        assert received == {2: 1, 5: 1, 10: 1, 15: 1, 20: 1, 25: 1}
        overdue = {i + 1: d.overdue for i, d in enumerate(days) if d.overdue}
        assert overdue == {6: 1, 12: 1}  # by deadline: case 2 due 6 Nov, case 3 due 12 Nov
        assert days[0].handled == 1 and days[1].due == 1  # case 8 reported 1 Nov, due 2 Nov
        assert sum(d.received for d in days) == CITY_NOVEMBER.received
        # The year by month: November holds the same counts; December the late case 7 and
        # case 6, due on 30 Dec and never reported: overdue once the year is over.
        year = parse_period("2026", ZONE)
        months = trend(session, year, year.end)
        assert len(months) == 12 and months[10] == CITY_NOVEMBER
        assert months[11] == CaseFigures(received=1, registered=1, due=1, overdue=1)
        assert months[9] == CaseFigures(received=1, registered=1, dispatched=1)
        # While November runs (on 12 Nov 11:00), the job due on 12 Nov 10:00 is overdue and
        # nothing later is judged yet.
        cut = at(12, 11)
        running = total(session, NOVEMBER.start, cut)
        assert (running.due, running.overdue, running.received) == (4, 2, 3)
        early = total(session, NOVEMBER.start, at(4))
        assert (early.due, early.overdue) == (2, 0)  # cases 8 and 1, both handled in time


def test_the_whole_report(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        november(session)
    after = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    with transaction(loaded_engine) as session:
        whole = report(session, NOVEMBER, after, None)
        assert whole.total == CITY_NOVEMBER  # the district grouping's sum
        assert whole.previous == CaseFigures(received=1, registered=1, dispatched=1)  # case 8
        assert whole.groups["district"]["110101"] == DONGCHENG and len(whole.trend) == 30
        assert report(session, NOVEMBER, after, "110101").total == DONGCHENG
