from __future__ import annotations

import datetime as dt

import pytest

from hotline.workcalendar import Window, WorkCalendar

DAY = [Window(dt.time(9), dt.time(12)), Window(dt.time(13, 30), dt.time(17))]


@pytest.fixture
def calendar() -> WorkCalendar:
    exceptions = {dt.date(2026, 10, 1): False, dt.date(2026, 10, 10): True}
    return WorkCalendar({d: DAY for d in range(1, 6)}, exceptions)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute)


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (at(23, 10), 1, at(23, 11)),  # Monday, inside a window
        (at(23, 11), 2, at(23, 14, 30)),  # across the lunch break
        (at(23, 18), 1, at(24, 10)),  # after hours → next morning
        (at(27, 16), 4, at(30, 12)),  # Friday afternoon → Monday across the weekend
        (at(28, 10), 1, at(30, 10)),  # Saturday → Monday
        (at(30, 8), 6.5, at(30, 17)),  # a whole working day
    ],
)
def test_add_working_hours(
    calendar: WorkCalendar, start: dt.datetime, hours: float, due: dt.datetime
) -> None:
    assert calendar.add_working_hours(start, hours) == due


def test_holiday_and_swapped_weekend(calendar: WorkCalendar) -> None:
    assert not calendar.is_workday(dt.date(2026, 10, 1))  # Thursday, National Day
    assert calendar.is_workday(dt.date(2026, 10, 10))  # Saturday worked in exchange
    assert calendar.add_working_hours(at(30, 16, month=9), 2) == at(2, 10, month=10)
    assert calendar.add_working_days(at(9, 10, month=10), 1) == at(10, 17, month=10)


def test_add_working_days(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(at(27, 10), 1) == at(30, 17)  # Friday → Monday's end
    assert calendar.add_working_days(at(23, 10), 5) == at(30, 17)


def test_empty_calendar_is_an_error() -> None:
    with pytest.raises(ValueError, match="calendar data"):
        WorkCalendar({}).add_working_hours(at(23, 10), 1)
