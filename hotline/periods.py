"""Periods the figures are counted over, in the city's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def month_bounds(month: str | None, zone: ZoneInfo) -> tuple[str, dt.datetime, dt.datetime]:
    """("YYYY-MM", start, end) of ``month`` (the current month when None), in UTC."""
    today = dt.datetime.now(zone)
    year, number = (int(p) for p in month.split("-")) if month else (today.year, today.month)
    start = dt.datetime(year, number, 1, tzinfo=zone)
    end = dt.datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=zone)
    return f"{year:04d}-{number:02d}", start.astimezone(dt.UTC), end.astimezone(dt.UTC)
