"""The call timeline folded from a real Asterisk 22 event stream (byte-exact transcript)."""

from __future__ import annotations

import datetime as dt

from agi.ami_protocol import Message
from hotline.calls.timeline import CallView, OpenCall, advance, apply_event, missed_end
from hotline.testing.transcripts import ami_events

UNIQUEID = "lab-ivr-queue-agent-1795847304-2"
LINKEDID = "lab-ivr-queue-agent-1795847304"


def events() -> list[Message]:
    return ami_events("ami-ivr-queue-agent.txt")


def fold(view: CallView) -> tuple[CallView, list[str], dict[str, object]]:
    kinds: list[str] = []
    columns: dict[str, object] = {}
    for event in events():
        change = apply_event(view, event)
        if change is None:
            continue
        kinds.append(change.kind)
        columns |= change.updates
        view = advance(view, change)
    return view, kinds, columns


def test_answered_call() -> None:
    _, kinds, columns = fold(CallView(UNIQUEID, LINKEDID))
    order = [
        kinds.index(k) for k in ("QueueCallerJoin", "AgentCalled", "AgentConnect", "AgentComplete")
    ]
    assert order == sorted(order)
    assert kinds.count("Hangup") >= 2  # every leg is on the timeline
    assert columns["queue"] == "test-queue"
    assert columns["agent"] == "Agent One"
    assert columns["outcome"] == "answered"
    assert columns["queue_joined_at"] <= columns["connected_at"] <= columns["ended_at"]


def test_other_calls_are_ignored() -> None:
    _, kinds, columns = fold(CallView("someone-else", "another-call"))
    assert kinds == [] and columns == {}


def test_outcome_already_set_is_kept() -> None:
    view, _, columns = fold(CallView(UNIQUEID, LINKEDID, outcome="transferred"))
    assert "outcome" not in columns and view.outcome == "transferred"


def test_what_a_broken_peer_sends_is_stored_as_a_column_can_hold_it() -> None:
    """A time no clock can show, a NUL byte, a name longer than its column: the event is
    kept (its time is now), not lost with every event stored beside it."""
    join = next(e for e in events() if e.event == "QueueCallerJoin")
    before = dt.datetime.now(dt.UTC)
    for stamp in ("x", "nan", "inf", "-1e20", "1e400", "99999999999999"):
        broken = Message(
            tuple(
                (k, {"Timestamp": stamp, "Queue": "q\0" + "x" * 100}.get(k, v))
                for k, v in join.headers
            )
        )
        change = apply_event(CallView(UNIQUEID, LINKEDID), broken)
        assert change is not None and change.at is not None and change.at >= before, stamp
        assert change.updates["queue"] == "q" + "x" * 63
        assert "\0" not in change.detail["Queue"]


def test_a_call_ended_unseen_is_closed_with_what_the_record_knows() -> None:
    now = dt.datetime(2026, 12, 3, 6, 30, tzinfo=dt.UTC)
    assert missed_end(OpenCall(1, "u1", queued=True, connected=True), now) == {
        "ended_at": now,
        "outcome": "answered",
    }
    assert missed_end(OpenCall(2, "u2", queued=True, connected=False), now)["outcome"] == (
        "abandoned_queue"
    )
    assert missed_end(OpenCall(3, "u3", queued=False, connected=False), now)["outcome"] == "ended"
