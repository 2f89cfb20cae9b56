"""The call tracker on a real database: a real Asterisk 22 event stream (byte-exact
transcript) stored in order, in shared transactions, with the notices its subscribers
hear; an event that cannot be stored fails alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from agi.ami_protocol import Message
from hotline.calls import records as records_module
from hotline.calls.records import CallRecords
from hotline.calls.timeline import TRACKED, CallView, advance, apply_event
from hotline.calls.tracker import CallCompleted, CallConnected, CallNotice, CallTracker
from hotline.db import transaction
from hotline.models import Call, CallEvent
from hotline.testing.transcripts import ami_events

UNIQUEID = "lab-ivr-queue-agent-1795847304-2"  # the caller's channel in the transcript
LINKEDID = "lab-ivr-queue-agent-1795847304"


def events() -> list[Message]:
    return ami_events("ami-ivr-queue-agent.txt")


class Wire:
    """Stands in for the AMI client: the tracker registers its handlers here."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def on(self, name: str, handler: Any) -> None:
        self.handlers[name] = handler

    async def deliver(self, messages: list[Message]) -> None:
        for message in messages:
            if message.event in self.handlers:
                await self.handlers[message.event](message)


def track(
    engine: Engine, messages: list[Message], before_events: int = 0
) -> tuple[int, list[CallNotice], int]:
    """The call's record, then every event while the database thread is held, so that they
    queue up as a burst's would. Returns the call's id, the notices and the commits."""
    records = CallRecords(engine)
    tracker = CallTracker(engine, records=records)
    wire = Wire()
    tracker.attach(wire)  # type: ignore[arg-type]
    heard: list[CallNotice] = []
    tracker.subscribe(heard.append)
    commits: list[int] = []

    async def main() -> int:
        call_id, _ = await records.start_call(UNIQUEID, LINKEDID, "13800000009", "65120001", 90)
        event.listen(engine, "commit", lambda _conn: commits.append(1))
        gate = threading.Event()
        held = records._work.submit(lambda connection: gate.wait(5))
        tracker.start()
        await wire.deliver(messages)
        await asyncio.sleep(0.1)
        gate.set()
        await held
        async with asyncio.timeout(10):
            await tracker.drained()
        await tracker.stop()
        return call_id

    call_id = asyncio.run(main())
    records.close()
    return call_id, heard, len(commits)


def test_a_burst_of_events_is_stored_in_order(loaded_engine: Engine) -> None:
    stream = events()
    call_id, heard, commits = track(loaded_engine, stream)
    expected = []  # what the pure fold keeps, event by event
    view = CallView(UNIQUEID, LINKEDID)
    for message in stream:
        change = apply_event(view, message)
        if change is not None:
            expected.append(change.kind)
            view = advance(view, change)
    with transaction(loaded_engine) as session:
        call = session.get(Call, call_id)
        kinds = session.scalars(
            select(CallEvent.kind).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
        ).all()
        assert call is not None
        assert (call.queue, call.agent, call.outcome) == ("test-queue", "Agent One", "answered")
        assert call.queue_joined_at and call.connected_at and call.ended_at
        assert call.queue_joined_at <= call.connected_at <= call.ended_at
    assert kinds == ["IvrStart", *expected]
    assert len(expected) >= 6 and commits <= 3  # the held step, then the events together
    assert heard == [
        CallConnected(call_id, "Agent One"),
        CallCompleted(call_id, "Agent One", "test-queue", "Local/agent1@agents/n"),
    ]


def test_an_event_that_fails_fails_alone(
    loaded_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_on_agent_called(view: CallView, message: Message) -> Any:
        if message.event == "AgentCalled":
            raise RuntimeError("cannot fold")
        return apply_event(view, message)

    monkeypatch.setattr(records_module, "apply_event", failing_on_agent_called)
    stream = [m for m in events() if m.event in TRACKED]
    call_id, heard, _ = track(loaded_engine, stream)
    with transaction(loaded_engine) as session:
        kinds = session.scalars(
            select(CallEvent.kind).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
        ).all()
        call = session.get(Call, call_id)
        assert call is not None and call.outcome == "answered"
    assert "AgentCalled" not in kinds and "AgentConnect" in kinds and "Hangup" in kinds
    assert [type(n) for n in heard] == [CallConnected, CallCompleted]


def test_a_flood_of_events_that_fail_is_one_log_line(
    loaded_engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing_on_agent_called(view: CallView, message: Message) -> Any:
        if message.event == "AgentCalled":
            raise RuntimeError("cannot fold")
        return apply_event(view, message)

    monkeypatch.setattr(records_module, "apply_event", failing_on_agent_called)
    stream = [m for m in events() if m.event in TRACKED]
    called = next(m for m in stream if m.event == "AgentCalled")
    with caplog.at_level(logging.WARNING, "hotline.tracker"):
        _, heard, _ = track(loaded_engine, [called] * 50 + stream)
    assert [type(n) for n in heard] == [CallConnected, CallCompleted]  # the rest went on
    failures = [r for r in caplog.records if "could not store AgentCalled" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None


def _for_call(message: Message, uniqueid: str, linkedid: str, **changes: str) -> Message:
    """A transcript event moved onto another call (its ids and any header changed)."""
    moved = {"Uniqueid": uniqueid, "Linkedid": linkedid, **changes}
    return Message(tuple((k, moved.get(k, v)) for k, v in message.headers))


def test_several_calls_in_one_group(loaded_engine: Engine) -> None:
    """One group, three calls with different columns to change: each call gets its own
    values and its timeline rows in the events' order, times and details as sent."""
    first = {m.event: m for m in reversed(events())}  # each kind's first event
    join, connect, hangup = first["QueueCallerJoin"], first["AgentConnect"], first["Hangup"]
    calls = [(f"group-{n}.2", f"group-{n}.1") for n in range(3)]
    stream = [
        _for_call(join, *calls[0], Queue="q-a", Timestamp="1795847300.000001"),
        _for_call(join, *calls[1], Queue="q-b"),
        _for_call(connect, *calls[1], MemberName="坐席 乙"),
        _for_call(hangup, calls[2][1], calls[2][1]),  # another leg of call 2: timeline only
        _for_call(hangup, *calls[0], Timestamp="1795847301.500000"),
        _for_call(hangup, *calls[1]),
        _for_call(hangup, "not-ours.2", "not-ours.1"),
    ]
    records = CallRecords(loaded_engine)

    async def main() -> tuple[list[int], list[Any]]:
        ids = [
            (await records.start_call(u, linked, f"1380000070{n}", "65120001", 90))[0]
            for n, (u, linked) in enumerate(calls)
        ]
        return ids, await records.track(stream)

    ids, results = asyncio.run(main())
    records.close()
    assert [r.call_id if r else None for r in results] == [
        *ids[:2],
        ids[1],
        ids[2],
        ids[0],
        ids[1],
        None,
    ]
    with transaction(loaded_engine) as session:
        a, b, c = (session.get(Call, i) for i in ids)
        assert a is not None and b is not None and c is not None
        assert (a.queue, a.outcome, b.queue, b.agent, b.outcome) == (
            "q-a",
            "abandoned_queue",
            "q-b",
            "坐席 乙",
            "answered",
        )
        assert a.queue_joined_at is not None and a.ended_at is not None
        assert a.ended_at.replace(tzinfo=dt.UTC) - a.queue_joined_at.replace(
            tzinfo=dt.UTC
        ) == dt.timedelta(seconds=1.499999)
        assert c.ended_at is None and c.outcome is None  # only another leg hung up
        rows = session.execute(
            select(CallEvent.call_id, CallEvent.kind, CallEvent.detail)
            .where(CallEvent.kind != "IvrStart")
            .where(CallEvent.call_id.in_(ids))
            .order_by(CallEvent.id)
        ).all()
    assert [(r.call_id, r.kind) for r in rows] == [
        (ids[0], "QueueCallerJoin"),
        (ids[1], "QueueCallerJoin"),
        (ids[1], "AgentConnect"),
        (ids[2], "Hangup"),
        (ids[0], "Hangup"),
        (ids[1], "Hangup"),
    ]
    assert rows[0].detail["Queue"] == "q-a" and rows[2].detail["MemberName"] == "坐席 乙"
