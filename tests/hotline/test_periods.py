"""Periods in the city's time zone: parsing, bounds, the period before, running."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from hotline.periods import BadPeriod, current, parse_period

BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("text", "kind", "start", "previous"),
    [
        ("2026-12-02", "day", dt.datetime(2026, 12, 1, 16, tzinfo=dt.UTC), "2026-12-01"),
        ("2026-W01", "week", dt.datetime(2025, 12, 28, 16, tzinfo=dt.UTC), "2025-W52"),
        ("2026-01", "month", dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC), "2025-12"),
        ("2026-Q1", "quarter", dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC), "2025-Q4"),
        ("2026", "year", dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC), "2025"),
    ],
)
def test_periods(text: str, kind: str, start: dt.datetime, previous: str) -> None:
    period = parse_period(text, BEIJING)
    assert (period.kind, period.label, period.start) == (kind, text, start)
    assert period.previous().label == previous
    assert period.previous().end == period.start


def test_running_and_bad_periods() -> None:
    now = dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC)
    month = parse_period(None, BEIJING, now)
    assert month.label == "2026-12" and month.running(now) and month.cut(now) == now
    assert not month.previous().running(now)
    assert current("quarter", BEIJING, now).label == "2026-Q4"
    assert current("week", BEIJING, now).label == "2026-W49"
    for bad in ("2026-02-31", "2026-W60", "2026-13", "26"):
        with pytest.raises(BadPeriod):
            parse_period(bad, BEIJING)
