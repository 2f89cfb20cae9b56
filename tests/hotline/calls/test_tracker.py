"""The call tracker on a real database: a real Asterisk 22 event stream (byte-exact
transcript) stored in order, in shared transactions, with the notices its subscribers
hear; an event that cannot be stored fails alone."""

from __future__ import annotations

import asyncio
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
