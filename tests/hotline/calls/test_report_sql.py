"""The calls report's SQL aggregates give the fold's figures, on both databases: 300 random
calls over three local days (answered, abandoned, callback requests, calls still waiting,
agents or none) in Beijing's time, and in a zone that changes its clock inside the period."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from hotline.calls import report_sql
from hotline.calls.reports import compute, load
from hotline.db import transaction
from hotline.models import Call

START = dt.datetime(2026, 3, 27, 16, tzinfo=dt.UTC)
END = START + dt.timedelta(days=3)


def calls(engine: Engine) -> None:
    pick = random.Random(7)
    with transaction(engine) as session:
        for n in range(300):
            joined = START + dt.timedelta(seconds=pick.randint(-3600, 3 * 86400 + 3600))
            fate = pick.random()
            wait = pick.uniform(1, 60)
            connected = joined + dt.timedelta(seconds=wait) if fate < 0.6 else None
            ended = None
            if fate < 0.55 or 0.6 <= fate < 0.85:
                ended = (connected or joined) + dt.timedelta(seconds=pick.uniform(5, 300))
            outcome = "callback_requested" if 0.85 <= fate < 0.92 else None
            session.add(
                Call(
                    uniqueid=f"c{n}",
                    linkedid=f"c{n}",
                    queue=pick.choice(("hotline-110101", "hotline-city")),
                    agent=pick.choice(("dc_agent", "city_agent")) if connected else None,
                    queue_joined_at=joined,
                    connected_at=connected,
                    ended_at=ended,
                    outcome=outcome,
                )
            )


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_sql_gives_the_fold_s_figures(loaded_engine: Engine, zone: str) -> None:
    calls(loaded_engine)
    local = ZoneInfo(zone)  # Berlin moves its clocks on 29 March 2026: SQLite folds
    for queues in (None, ["hotline-110101"]):
        folded = compute(load(loaded_engine, START, END, queues), local)
        summed = report_sql.figures(loaded_engine, START, END, queues, local)
        assert set(summed) == set(folded)
        for group in folded:
            assert summed[group] == folded[group], (zone, queues, group)
    assert sum(f.offered for f in folded["day"].values()) > 100
