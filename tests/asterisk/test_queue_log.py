"""Our reports against Asterisk's own queue_log for the same calls: offered, answered,
abandoned per queue, and each answered call's wait, must agree."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from sqlalchemy import select

from hotline.calls import reports
from hotline.calls.queue_log import parse, tally
from hotline.db import transaction
from hotline.models import Call
from hotline.testing.pbx import Pbx, Scene, district_menu_flow, keyed, play

NOON = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)
ANSWERED = ("13800000901", "13800000902")
ABANDONED = "13800000903"


def test_reports_agree_with_queue_log(pbx: Pbx) -> None:
    async def scenario(scene: Scene) -> None:
        await scene.add_agent("hotline-110101", "agent-q")
        for caller in ANSWERED:
            await scene.call(caller, answers=keyed("01"), hold=10)
            await scene.wait_for(
                lambda e, c=caller: e.event == "AgentComplete" and e.get("CallerIDNum") == c
            )
        await scene.call(ABANDONED, answers=keyed("05"), hold=6)  # Chaoyang: nobody answers
        await scene.wait_for(
            lambda e: e.event == "QueueCallerAbandon" and e.get("CallerIDNum") == ABANDONED
        )
        await scene.wait_for(
            lambda e: (
                e.event == "Hangup"
                and e.get("CallerIDNum") == ANSWERED[-1]
                and "@hotline" in e.get("Channel")
            )
        )
        await scene.tracker.drained()

    play(pbx, scenario, flow=district_menu_flow(), clock=lambda: NOON)
    with transaction(pbx.engine) as session:
        uniqueids = set(
            session.scalars(
                select(Call.uniqueid).where(Call.caller_number.in_((*ANSWERED, ABANDONED)))
            )
        )
    now, day = dt.datetime.now(dt.UTC), dt.timedelta(days=1)  # the calls' times are real
    rows = reports.load(pbx.engine, now - day, now + day, uniqueids=uniqueids)
    ours = reports.compute(rows, zoneinfo.ZoneInfo("Asia/Shanghai"))["queue"]
    theirs = tally(parse(pbx.log("queue_log").splitlines()), uniqueids)
    assert set(ours) == set(theirs) and "hotline-110101" in ours
    assert sum(f.abandoned for f in ours.values()) == 1
    for queue, figures in ours.items():
        log = theirs[queue]
        assert (figures.offered, figures.answered, figures.abandoned) == (
            log.offered,
            log.answered,
            log.abandoned,
        ), queue
    waits = sorted(
        (r.connected - r.joined).total_seconds() for r in rows if r.connected is not None
    )
    holds = sorted(theirs["hotline-110101"].holds)
    assert len(waits) == len(holds) == 2
    assert all(abs(w - h) <= 1.0 for w, h in zip(waits, holds, strict=True)), (waits, holds)
