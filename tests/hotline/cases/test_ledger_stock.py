"""The ledger as a stock across three months, against a hand count, on both databases.

A: on 5 Sep, never resumed. B: on 10 Sep, resumed 3 Oct. C: on 8 Oct, resumed 20 Oct, on
again 2 Nov. D: on 10 Nov, resumed 15 Nov.

         opening  added  resolved  closing
Sep         0       2       0         2      (A, B)
Oct         2       1       2         1      (A)
Nov         1       2       1         2      (A, C)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from hotline.cases.ledger_stock import Stock, carried_over, carried_page, stock, trend
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.models import Case

AGENT = Actor("dc_dispatcher", "dispatcher", "110101")


def at(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 2, tzinfo=dt.UTC)


def month(number: int) -> tuple[dt.datetime, dt.datetime]:
    return at(number, 1) - dt.timedelta(hours=2), at(number + 1, 1) - dt.timedelta(hours=2)


def test_three_months(loaded_engine: Engine) -> None:
    steps = {
        "A": [("to_ledger", at(9, 5))],
        "B": [("to_ledger", at(9, 10)), ("resume", at(10, 3))],
        "C": [("to_ledger", at(10, 8)), ("resume", at(10, 20)), ("to_ledger", at(11, 2))],
        "D": [("to_ledger", at(11, 10)), ("resume", at(11, 15))],
    }
    numbers = {}
    with transaction(loaded_engine) as session:
        for name, actions in steps.items():
            first = actions[0][1] - dt.timedelta(days=1)
            case, _ = create_case(
                session,
                AGENT,
                NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
                name,
                now=first,
            )
            numbers[name] = case.number
            transition(session, AGENT, case.number, "dispatch", 1, {"unit_code": "auto"}, now=first)
            for action, when in actions:
                version = session.scalar(select(Case.version).where(Case.id == case.id))
                assert version is not None
                transition(
                    session,
                    AGENT,
                    case.number,
                    action,
                    version,
                    {"note": f"{name} {action}"},
                    now=when,
                )
    with transaction(loaded_engine) as session:
        by_month = [stock(session, "district", *month(m))["110101"] for m in (9, 10, 11)]
        assert by_month == [Stock(0, 2, 0, 2), Stock(2, 1, 2, 1), Stock(1, 2, 1, 2)]
        assert stock(session, "unit", *month(11)) == {"dongcheng.sanitation": Stock(1, 2, 1, 2)}
        assert stock(session, "class", *month(11)) == {"event:0102": Stock(1, 2, 1, 2)}
        assert stock(session, "district", *month(11), district="110102") == {}
        carried = list(carried_over(session, month(11)[1]))
        assert [(c.number, c.reason) for c in carried] == [
            (numbers["A"], "A to_ledger"),
            (numbers["C"], "C to_ledger"),
        ]
        assert [c.age_days for c in carried] == [86, 28]
        # at an earlier cut: B was on then (taken off since), C was not yet
        assert [c.number for c in carried_over(session, month(9)[1])] == [
            numbers["A"],
            numbers["B"],
        ]
        assert [c.number for c in carried_over(session, month(10)[1])] == [numbers["A"]]
        # the trend: the three months in one pass, as the month-by-month stock
        starts = [month(m)[0] for m in (9, 10, 11)]
        assert trend(session, starts, month(11)[1]) == by_month
        assert trend(session, starts[1:], month(11)[1], "110101") == by_month[1:]
        assert trend(session, starts, month(11)[1], "110102") == [Stock(0, 0, 0, 0)] * 3
        assert trend(session, starts[:1], month(9)[1] - dt.timedelta(days=20)) == [
            Stock(0, 2, 0, 2)  # a month cut short (running): to the cut
        ]
        # the carried-over list a page at a time, forward and back
        first = carried_page(session, month(11)[1], size=1)
        assert [c.number for c in first.rows] == [numbers["A"]] and first.previous is None
        assert first.next is not None
        second = carried_page(session, month(11)[1], after=first.next, size=1)
        assert [c.number for c in second.rows] == [numbers["C"]] and second.next is None
        assert second.previous is not None
        again = carried_page(session, month(11)[1], before=second.previous, size=1)
        assert again == first
        assert carried_page(session, month(11)[1], "110102").rows == []
