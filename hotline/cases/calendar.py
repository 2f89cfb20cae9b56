"""The working calendar from the database (calendar_days, working_hours)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models import CalendarDay, WorkingHours
from hotline.workcalendar import Window, WorkCalendar


def load_calendar(session: Session) -> WorkCalendar:
    windows: dict[int, list[Window]] = {}
    for row in session.scalars(select(WorkingHours)).all():
        windows.setdefault(row.weekday, []).append(Window(row.start, row.end))
    exceptions = {row.day: row.is_workday for row in session.scalars(select(CalendarDay)).all()}
    return WorkCalendar(windows, exceptions)
