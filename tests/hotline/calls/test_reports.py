from __future__ import annotations

import datetime as dt

from hotline.calls.reports import CallRow, compute

UTC = dt.UTC
BEIJING = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def call(
    join_s: int,
    wait: float | None,
    talk: float | None,
    agent: str | None = "a1",
    abandon_after: float | None = None,
    queue: str = "q",
) -> CallRow:
    joined = T0 + dt.timedelta(seconds=join_s)
    if wait is None:
        return CallRow(
            queue,
            None,
            joined,
            None,
            joined + dt.timedelta(seconds=abandon_after or 0),
            "abandoned_queue",
        )
    connected = joined + dt.timedelta(seconds=wait)
    return CallRow(
        queue, agent, joined, connected, connected + dt.timedelta(seconds=talk or 0), "answered"
    )


def test_figures() -> None:
    rows = [
        call(0, 5, 100),
        call(10, 18, 200),
        call(20, 30, 60, agent="a2"),
        call(30, None, None, abandon_after=8),  # gave up early: not against the SL
        call(40, None, None, abandon_after=40),  # gave up late: against it
        call(3700, 2, 50, queue="r"),
    ]
    figures = compute(rows, BEIJING)
    q = figures["queue"]["q"]
    assert (q.offered, q.answered, q.abandoned) == (5, 3, 2)
    assert q.service_level_15 == round(1 / 4, 4)  # 1 within 15 s of (3 answered + 1 late)
    assert q.service_level_20 == round(2 / 4, 4)
    assert q.asa_seconds == round((5 + 18 + 30) / 3, 1)
    assert q.aht_seconds == round((100 + 200 + 60) / 3, 1)
    assert figures["agent"]["a2"].answered == 1
    assert set(figures["hour"]) == {"09", "10"}
    assert figures["queue"]["r"].service_level_20 == 1.0
