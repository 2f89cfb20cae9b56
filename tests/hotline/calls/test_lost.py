"""A node gone for good: its open call records are closed as lost, by the tracker after
``node_lost_seconds`` or by hand (``hotline calls close-node``); the other nodes' records
and the records already closed are left alone. The real nodes: tests/asterisk/test_two_nodes.py."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, select

from hotline.calls.lost import close_node_calls
from hotline.calls.tracker import CallLost, CallNotice, CallTracker, track_while_leader
from hotline.db import transaction
from hotline.models import Call, CallEvent, utcnow

T0 = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)


def _calls(engine: Engine) -> dict[str, int]:
    """node-a: one connected to an agent, one waiting in the queue, one ended; node-b: one
    open. Returns their ids by uniqueid."""
    rows = [
        Call(uniqueid="a-talk", linkedid="a-talk", node="node-a", agent="city_agent",
             queue="hotline-city", queue_joined_at=T0, connected_at=T0 + dt.timedelta(seconds=5)),
        Call(uniqueid="a-wait", linkedid="a-wait", node="node-a", queue="hotline-city",
             queue_joined_at=T0),
        Call(uniqueid="a-done", linkedid="a-done", node="node-a", ended_at=T0, outcome="answered"),
        Call(uniqueid="b-talk", linkedid="b-talk", node="node-b", agent="other"),
    ]  # fmt: skip
    with transaction(engine) as session:
        for call in rows:
            call.created_at = T0
            session.add(call)
        session.flush()
        talk = rows[0].id
        # the talking call's last event came after the node was given up for lost
        session.add(CallEvent(call_id=talk, at=T0 + dt.timedelta(minutes=3), kind="AgentConnect"))
        return {c.uniqueid: c.id for c in rows}


def _state(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with transaction(engine) as session:
        calls = session.scalars(select(Call)).all()
        events = session.scalars(select(CallEvent).where(CallEvent.kind == "NodeLost")).all()
        lost = {e.call_id: e.detail for e in events}
        return {c.uniqueid: (c.outcome, _utc(c.ended_at), lost.get(c.id)) for c in calls}


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.replace(tzinfo=dt.UTC) if moment and not moment.tzinfo else moment


def test_an_operator_closes_a_lost_nodes_open_records(engine: Engine) -> None:
    _calls(engine)
    lost_at = T0 + dt.timedelta(minutes=1)
    with engine.begin() as connection:
        closed = close_node_calls(connection, "node-a", lost_at, "operator")
    assert sorted(c.uniqueid for c in closed) == ["a-talk", "a-wait"]
    state = _state(engine)
    assert state["a-wait"] == (
        "node_lost",
        lost_at,
        {"node": "node-a", "lost_at": lost_at.isoformat(), "by": "operator", "outcome": None},
    )
    # ended at its own last event, which came later than the time given
    assert state["a-talk"][:2] == ("node_lost", T0 + dt.timedelta(minutes=3))
    assert state["a-done"] == ("answered", T0, None)
    assert state["b-talk"] == (None, None, None)
    with engine.begin() as connection:  # again: nothing left to close
        assert close_node_calls(connection, "node-a", lost_at, "operator") == []


def _node(name: str, up: bool, down_since: dt.datetime | None = None) -> Any:
    connected = asyncio.Event()
    if up:
        connected.set()
    return SimpleNamespace(name=name, connected=connected, down_since=down_since)


def test_the_tracker_closes_them_once_the_node_is_gone_longer_than_the_grace(
    engine: Engine,
) -> None:
    ids = _calls(engine)
    heard: list[CallNotice] = []

    async def main() -> None:
        tracker = CallTracker(engine)
        tracker.subscribe(heard.append)
        gone = utcnow()
        clients = [_node("node-a", up=False, down_since=gone), _node("node-b", up=True)]
        leading = asyncio.create_task(
            track_while_leader(tracker, engine, "a", interval=0.05, clients=clients, node_lost=1.5)
        )
        try:
            await asyncio.sleep(0.3)
            seen = _state(engine)["a-wait"][0]
            if utcnow() - gone < dt.timedelta(seconds=1.4):  # a busy machine may sleep longer
                assert seen is None  # within the grace: still open
            for _ in range(200):  # the records closed, then the agent's page told
                if _state(engine)["a-wait"][0] == "node_lost" and heard:
                    break
                await asyncio.sleep(0.05)
            state = _state(engine)
            assert state["a-wait"][0] == "node_lost"
            assert state["a-wait"][2]["by"] == "app"
            assert state["a-wait"][2]["lost_at"] == gone.isoformat()
            assert state["b-talk"][0] is None  # node-b is up
        finally:
            leading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leading
            await tracker.stop()

    asyncio.run(main())
    assert heard == [CallLost(ids["a-talk"], "city_agent")]  # the agent's page hears it ended


def test_no_grace_no_closing(engine: Engine) -> None:
    _calls(engine)

    async def main() -> None:
        tracker = CallTracker(engine)
        clients = [_node("node-a", up=False, down_since=T0), _node("node-b", up=True)]
        leading = asyncio.create_task(
            track_while_leader(tracker, engine, "a", interval=0.05, clients=clients)
        )
        await asyncio.sleep(0.4)
        leading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leading
        await tracker.stop()

    asyncio.run(main())
    assert _state(engine)["a-wait"][0] is None
