"""The city's live view of the districts: calls waiting and answered per platform queue."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from hotline.db import transaction
from hotline.models import Call
from hotline.oversight import CITY, overview

NOW = dt.datetime(2026, 12, 2, 4, tzinfo=dt.UTC)  # 12:00 in Beijing
MIDNIGHT = dt.datetime(2026, 12, 1, 16, tzinfo=dt.UTC)


def call(name: str, queue: str, joined: dt.datetime, connected: bool, ended: bool) -> Call:
    return Call(
        uniqueid=name,
        linkedid=name,
        queue=queue,
        queue_joined_at=joined,
        connected_at=joined + dt.timedelta(seconds=20) if connected else None,
        ended_at=joined + dt.timedelta(minutes=3) if ended else None,
    )


def test_calls_per_platform(loaded_engine: Engine) -> None:
    minutes = dt.timedelta(minutes=1)
    with transaction(loaded_engine) as session:
        session.add_all(
            [
                call("a", "hotline-110101", NOW - 30 * minutes, True, True),
                call("b", "hotline-110101", NOW - 2 * minutes, False, False),  # waiting
                call("c", "hotline-110101", NOW - 50 * minutes, False, True),  # abandoned
                call("d", "hotline-110101", MIDNIGHT - 60 * minutes, True, True),  # yesterday
                call("e", "hotline-city", NOW - 1 * minutes, False, False),  # waiting
                call("f", "hotline-110102", NOW - 300 * minutes, False, False),  # stale
            ]
        )
    with transaction(loaded_engine) as session:
        state = overview(session, NOW, MIDNIGHT)
    dongcheng = state["110101"]
    assert (dongcheng.waiting, dongcheng.offered, dongcheng.answered) == (1, 3, 1)
    assert (state[CITY].waiting, state[CITY].offered) == (1, 1)
    assert (state["110102"].waiting, state["110102"].offered) == (0, 1)
