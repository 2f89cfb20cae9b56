"""Working calendar: deadlines counted in working hours or working days.

A day is a working day by its weekday (it has working-hour windows) unless the calendar data
says otherwise: public holidays are off, swapped weekend days (调休) are on and use Monday's
windows. Times are naive local times (the city's zone); callers convert at the edges.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_MAX_SEARCH_DAYS = 3660  # a deadline further than ten years out is a data error


@dataclass(frozen=True)
class Window:
    start: dt.time
    end: dt.time


class WorkCalendar:
    def __init__(
        self,
        windows: Mapping[int, Iterable[Window]],
        exceptions: Mapping[dt.date, bool] | None = None,
    ) -> None:
        self._windows = {day: sorted(ws, key=lambda w: w.start) for day, ws in windows.items()}
        self._exceptions = dict(exceptions or {})

    def is_workday(self, day: dt.date) -> bool:
        if day in self._exceptions:
            return self._exceptions[day]
        return bool(self._windows.get(day.isoweekday()))

    def windows_on(self, day: dt.date) -> list[Window]:
        if not self.is_workday(day):
            return []
        return self._windows.get(day.isoweekday()) or self._windows.get(1, [])

    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The moment ``hours`` of working time after ``start``."""
        remaining = dt.timedelta(hours=hours)
        day = start.date()
        for _ in range(_MAX_SEARCH_DAYS):
            for window in self.windows_on(day):
                begin = dt.datetime.combine(day, window.start)
                end = dt.datetime.combine(day, window.end)
                begin = max(begin, start)
                if begin >= end:
                    continue
                if end - begin >= remaining:
                    return begin + remaining
                remaining -= end - begin
            day += dt.timedelta(days=1)
        raise ValueError("no working time found within ten years: check the calendar data")

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """End of the ``days``-th working day after the day of ``start``."""
        day = start.date()
        counted = 0
        for _ in range(_MAX_SEARCH_DAYS):
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                counted += 1
                if counted == days:
                    return dt.datetime.combine(day, self.windows_on(day)[-1].end)
        raise ValueError("no working day found within ten years: check the calendar data")
