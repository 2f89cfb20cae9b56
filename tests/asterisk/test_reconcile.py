"""A call whose FastAGI app dies mid-call still gets its end on record: from Asterisk's own
events while a tracker runs, and by reconciliation against Asterisk's channels when no
tracker saw the end (a killed instance, a lease in between)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from hotline.db import transaction
from hotline.models import Call
from hotline.testing.pbx import Pbx, Scene, hung_up, joined, last_call, play


async def kill_the_app_during_the_greeting(scene: Scene, caller: str) -> None:
    """The IVR is stopped dead (its call task cancelled: no abandon, no route, as when the
    process is killed); the dialplan's fallback takes the caller to the city queue."""
    await scene.call(caller, "silent", HOLD="60")
    await scene.wait_for(
        lambda e: (
            e.event == "AGIExecStart"
            and e.get("CallerIDNum") == caller
            and e.get("Command").startswith("GET DATA hotline/zh/greeting")
        ),
        timeout=60,
    )
    assert scene.agi is not None
    await scene.agi.stop(grace=0)
    await scene.wait_for(joined(caller), timeout=60)


def test_a_killed_apps_call_is_closed_from_asterisks_events(pbx: Pbx) -> None:
    caller = "13800000901"

    async def scenario(scene: Scene) -> None:
        await kill_the_app_during_the_greeting(scene, caller)
        leg = next(e.get("Channel") for e in scene.seen(joined(caller)))
        await scene.ami.action("Hangup", Channel=leg)
        await scene.wait_for(hung_up(caller), timeout=60)
        await scene.tracker.drained()

    play(pbx, scenario)
    call = last_call(pbx, caller)
    assert call.ivr_ended_at is None and call.route_target is None  # the IVR never finished
    assert (call.queue, call.outcome) == ("hotline-city", "abandoned_queue")
    assert call.ended_at is not None


def test_reconciliation_closes_what_no_tracker_saw(pbx: Pbx) -> None:
    """No tracker while the killed app's caller hangs up; then an instance takes the lease
    and reconciles: that call is closed, a call still on the line is left open."""
    gone, alive = "13800000902", "13800000903"
    closed: list[int] = []
    minute_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)

    async def scenario(scene: Scene) -> None:
        scene.tracker.active = False  # nobody tracks
        await kill_the_app_during_the_greeting(scene, gone)
        leg = next(e.get("Channel") for e in scene.seen(joined(gone)))
        await scene.ami.action("Hangup", Channel=leg)
        await scene.wait_for(hung_up(gone), timeout=60)
        await scene.tracker.drained()
        # A call on the line, with a record as old (the app is down: no IVR, its record
        # is written here).
        await scene.call(alive, "silent", HOLD="60")
        await scene.wait_for(joined(alive), timeout=60)
        live = next(e.get("Uniqueid") for e in scene.seen(joined(alive)))
        with transaction(pbx.engine) as session:
            session.add(Call(uniqueid=live, linkedid=live, caller_number=alive))
            session.flush()
            session.execute(
                update(Call)
                .where(Call.caller_number.in_((gone, alive)))
                .values(created_at=minute_ago)
            )
        assert last_call(pbx, gone).ended_at is None  # nobody saw it end
        scene.tracker.active = True
        closed.append(await scene.tracker.reconcile([scene.ami]))
        assert last_call(pbx, alive).ended_at is None  # still on the line: left open

    play(pbx, scenario)
    # At least this one (other tests' leftovers in the session's database are closed too).
    assert closed and closed[0] >= 1
    call = last_call(pbx, gone)
    assert (call.outcome, call.ended_at is not None) == ("ended", True)
