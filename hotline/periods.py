"""Periods the figures are counted over, in the city's time zone.

A period is a day (``2026-12-02``), an ISO week (``2026-W49``), a month (``2026-12``), a
quarter (``2026-Q4``) or a year (``2026``, the seed's year-end assessment). Bounds are
returned in UTC; ``previous`` gives the period of the same kind before it, for comparison.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

KINDS = ("day", "week", "month", "quarter", "year")
PATTERN = r"^(19|20)\d{2}(-(\d{2}(-\d{2})?|W\d{2}|Q[1-4]))?$"  # checked further by parse_period
_FORMS = {
    "day": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
    "year": re.compile(r"^(\d{4})$"),
}


class BadPeriod(ValueError):
    """The text names no period (a 31 February, a week 53 of a year without one)."""


@dataclass(frozen=True)
class Period:
    kind: str
    first: dt.date  # the first local day
    zone: ZoneInfo

    @property
    def after(self) -> dt.date:
        """The first local day after the period."""
        if self.kind == "day":
            return self.first + dt.timedelta(days=1)
        if self.kind == "week":
            return self.first + dt.timedelta(days=7)
        months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
        index = self.first.year * 12 + self.first.month - 1 + months
        return dt.date(index // 12, index % 12 + 1, 1)

    @property
    def start(self) -> dt.datetime:
        return _utc(self.first, self.zone)

    @property
    def end(self) -> dt.datetime:
        return _utc(self.after, self.zone)

    @property
    def label(self) -> str:
        first = self.first
        if self.kind == "day":
            return first.isoformat()
        if self.kind == "week":
            year, week, _ = first.isocalendar()
            return f"{year:04d}-W{week:02d}"
        if self.kind == "month":
            return f"{first.year:04d}-{first.month:02d}"
        if self.kind == "quarter":
            return f"{first.year:04d}-Q{(first.month - 1) // 3 + 1}"
        return f"{first.year:04d}"

    def previous(self) -> Period:
        if self.kind == "day":
            return Period("day", self.first - dt.timedelta(days=1), self.zone)
        if self.kind == "week":
            return Period("week", self.first - dt.timedelta(days=7), self.zone)
        months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
        index = self.first.year * 12 + self.first.month - 1 - months
        return Period(self.kind, dt.date(index // 12, index % 12 + 1, 1), self.zone)

    def running(self, now: dt.datetime) -> bool:
        """Whether ``now`` lies inside the period (its figures are to date, not final)."""
        return self.start <= now < self.end

    def cut(self, now: dt.datetime) -> dt.datetime:
        """Where the period's figures stop: its end, or now while it runs."""
        return min(self.end, max(now, self.start))


def parse_period(text: str | None, zone: ZoneInfo, now: dt.datetime | None = None) -> Period:
    """The period ``text`` names; the current month when None or empty."""
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    if not text:
        return Period("month", today.replace(day=1), zone)
    for kind, form in _FORMS.items():
        match = form.match(text)
        if match is None:
            continue
        numbers = [int(g) for g in match.groups()]
        try:
            if kind == "day":
                return Period(kind, dt.date(*numbers), zone)
            if kind == "week":
                return Period(kind, dt.date.fromisocalendar(numbers[0], numbers[1], 1), zone)
            if kind == "month":
                return Period(kind, dt.date(numbers[0], numbers[1], 1), zone)
            if kind == "quarter":
                return Period(kind, dt.date(numbers[0], numbers[1] * 3 - 2, 1), zone)
            return Period(kind, dt.date(numbers[0], 1, 1), zone)
        except ValueError as exc:
            raise BadPeriod(f"no such period: {text}") from exc
    raise BadPeriod(f"not a period: {text} (2026-12-02, 2026-W49, 2026-12, 2026-Q4, 2026)")


def current(kind: str, zone: ZoneInfo, now: dt.datetime | None = None) -> Period:
    """The period of ``kind`` that holds ``now``."""
    if kind not in KINDS:
        raise BadPeriod(f"not a kind of period: {kind}")
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    if kind == "day":
        first = today
    elif kind == "week":
        first = today - dt.timedelta(days=today.weekday())
    elif kind == "month":
        first = today.replace(day=1)
    elif kind == "quarter":
        first = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    else:
        first = dt.date(today.year, 1, 1)
    return Period(kind, first, zone)


def month_bounds(month: str | None, zone: ZoneInfo) -> tuple[str, dt.datetime, dt.datetime]:
    """("YYYY-MM", start, end) of ``month`` (the current month when None), in UTC."""
    period = parse_period(month, zone)
    return period.label, period.start, period.end


def _utc(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)
