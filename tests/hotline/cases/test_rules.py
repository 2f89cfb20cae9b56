from __future__ import annotations

import datetime as dt

import pytest

from hotline.cases.rules import AssignmentRule, DeadlineRule, assign_unit, deadline_for, due_at
from hotline.workcalendar import Window, WorkCalendar

RULES = [
    AssignmentRule("event", "01", "110101", "dongcheng.enforcement"),
    AssignmentRule("event", "0102", "110101", "dongcheng.sanitation"),
    AssignmentRule("event", "0105", None, "bj.water"),
    AssignmentRule("event", "05", "110101", "dongcheng.enforcement"),
    AssignmentRule("event", "0505", None, "bj.traffic_police"),
    AssignmentRule("component", "0101", None, "bj.water_supply"),
    AssignmentRule("component", "01", "110101", "dongcheng.municipal"),
]


@pytest.mark.parametrize(
    ("kind", "code", "district", "unit"),
    [
        ("event", "0102", "110101", "dongcheng.sanitation"),  # longest prefix
        ("event", "0199", "110101", "dongcheng.enforcement"),  # major class rule
        ("event", "0105", "110101", "bj.water"),  # city-wide, longer prefix wins
        ("event", "0505", "110101", "bj.traffic_police"),
        ("component", "0101", "110101", "bj.water_supply"),  # city-owned asset
        ("component", "0118", "110101", "dongcheng.municipal"),
        ("event", "0102", "110102", None),  # no rule for Xicheng here
        ("event", "0105", None, "bj.water"),  # district unknown: city-wide rules only
    ],
)
def test_assign(kind: str, code: str, district: str | None, unit: str | None) -> None:
    assert assign_unit(RULES, kind, code, district) == unit


def test_district_rule_beats_city_rule_at_equal_length() -> None:
    rules = [
        AssignmentRule("event", "0102", None, "city"),
        AssignmentRule("event", "0102", "110101", "district"),
    ]
    assert assign_unit(rules, "event", "0102", "110101") == "district"
    assert assign_unit(rules, "event", "0102", "110105") == "city"


def test_deadlines() -> None:
    rules = [
        DeadlineRule("event", "01", "normal", 3, "working_days"),
        DeadlineRule("event", "0102", "normal", 4, "working_hours"),
        DeadlineRule("event", "0102", "urgent", 2, "working_hours"),
    ]
    assert deadline_for(rules, "event", "0102", "normal") == rules[1]
    assert deadline_for(rules, "event", "0103", "normal") == rules[0]
    assert deadline_for(rules, "event", "0203", "normal") is None
    calendar = WorkCalendar(
        {
            d: [Window(dt.time(9), dt.time(12)), Window(dt.time(13, 30), dt.time(17))]
            for d in range(1, 6)
        }
    )
    friday = dt.datetime(2026, 11, 27, 16)
    assert due_at(calendar, rules[1], friday) == dt.datetime(2026, 11, 30, 12)  # over a weekend
    assert due_at(calendar, rules[0], friday) == dt.datetime(2026, 12, 2, 17)
